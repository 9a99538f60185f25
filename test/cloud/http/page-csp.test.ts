/**
 * The CSP every HTML page gets (cloud/http/middleware.ts pageCsp): the page's own inline
 * scripts and styles carry the response's nonce, a fresh one per response; JSON and pages with
 * their own policy are left alone.
 */
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import express from "express";
import { pageCsp } from "../../../cloud/http/middleware";

describe("pageCsp: a Content-Security-Policy with a nonce on every HTML page", () => {
  let base = "";
  let close: () => void;
  before(async () => {
    const app = express();
    app.use(pageCsp);
    app.get("/page", (_req, res) => void res.type("html").send(`<!doctype html><style>b{}</style><script>1</script><p>text</p><script src="/a.js" nonce="given"></script>`));
    app.get("/bare", (_req, res) => void res.send("<!doctype html><script>2</script>"));
    app.get("/json", (_req, res) => void res.json({ a: "<script>" }));
    app.get("/own", (_req, res) => void res.setHeader("Content-Security-Policy", "default-src 'none'").type("html").send("<script>3</script>"));
    const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(() => close());

  it("nonces the page's own inline script and style, a fresh nonce per response", async () => {
    const r = await fetch(`${base}/page`);
    const csp = r.headers.get("content-security-policy") ?? "";
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).to.be.a("string");
    expect(csp).to.contain("script-src 'self'").and.to.contain("frame-ancestors 'none'").and.not.to.contain("unsafe-inline");
    const html = await r.text();
    expect(html).to.contain(`<style nonce="${nonce}">`).and.to.contain(`<script nonce="${nonce}">1</script>`);
    expect(html).to.contain('nonce="given"'); // a tag that has one keeps it
    const again = await fetch(`${base}/page`);
    expect(/'nonce-([^']+)'/.exec(again.headers.get("content-security-policy") ?? "")?.[1]).to.not.equal(nonce);
  });

  it("covers a page sent without a type, leaves JSON and a page's own policy alone", async () => {
    expect((await fetch(`${base}/bare`)).headers.get("content-security-policy")).to.match(/nonce-/);
    expect((await fetch(`${base}/json`)).headers.get("content-security-policy")).to.equal(null);
    expect((await fetch(`${base}/own`)).headers.get("content-security-policy")).to.equal("default-src 'none'");
  });
});
