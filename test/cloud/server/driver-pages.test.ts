/**
 * No page a driver sees is ever raw JSON (issue 13 item 2): every error on the pay link, "Pay by
 * card" and the return page is an HTML page in the page's language with a way to retry; JSON
 * only for API clients (/api/… or Accept: application/json).
 */
import { expect } from "chai";
import { findActiveSession } from "../../../cloud/db/index";
import { startCloud, type CloudHandle } from "../../../cloud/server/index";
import { silentLogger } from "../../../host/log";
import { requireToolOrSkip } from "../../../host/tools";
import { Phone } from "./driver";
import { freePort, spawnEmulator, type EmulatorProcess } from "./emulator-process";
import { LOW_SCRYPT, SiteClient, TEMPLATE_DIR, eventId, until } from "./helpers";

const KEY = "sk_test_driver_pages_test";
const WHSEC = "whsec_test_driver_pages_test_secret";

describe("the drivers' pages answer errors in HTML, in their language, with a way to retry", function () {
  this.timeout(90_000);
  let emu: EmulatorProcess | undefined;
  let cloud: CloudHandle;
  let site: SiteClient;
  let payUrl: string;

  before(async function () {
    this.timeout(120_000);
    const cloudPort = await freePort();
    emu = await spawnEmulator(["--port", "0", "--api-key", KEY, "--webhook-secret", WHSEC, "--webhook-url", `http://127.0.0.1:${cloudPort}/webhooks/stripe`]);
    cloud = await startCloud({
      port: cloudPort,
      mqttPort: 0,
      pgliteTemplateDir: TEMPLATE_DIR,
      stripe: { apiBase: emu.url, secretKey: KEY, webhookSecret: WHSEC },
      logger: silentLogger,
      scryptCost: LOW_SCRYPT,
      instanceId: "t-driver-pages",
      relayPollMs: 50,
      seedDemo: true,
      createFirstAdmin: false,
    });
    site = await SiteClient.connect(cloud.mqttUrl, "paris-centre");
    const plate = `P${Math.random().toString(36).slice(2, 8).toUpperCase()}`;
    await site.publish("entry", { ts: Date.now() - 2 * 3600_000, src: "test-gateway", event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    const session = await until(() => findActiveSession(cloud.db.sql, "paris-centre", { method: "plate", value: plate }), 15_000, "the entry session");
    await site.publish("exitReq", { ts: Date.now(), src: "test-gateway", event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    payUrl = String((await site.waitFor("paymentReq", (p) => p.session_id === session.sessionId)).payload.pay_url);
    // The payment provider is out of reach from now on (no emulator at that address any more).
    await emu.stop();
  });
  after(async () => {
    await site?.close();
    await cloud?.close();
    await emu?.stop();
  });

  const startUrl = (lang: "fr" | "en") => {
    const u = new URL(payUrl);
    u.pathname += "/start";
    u.searchParams.set("lang", lang);
    return u.toString();
  };

  it("'Pay by card' with the provider out of reach: an HTML page (fr), nothing charged, a retry link to the same pay link — not JSON", async () => {
    const phone = new Phone("fr-FR");
    const page = await phone.go(payUrl);
    expect(page.status).to.equal(200);
    const r = await phone.go(startUrl("fr"), { form: {} });
    expect(r.status).to.equal(503);
    expect(r.contentType).to.match(/^text\/html/);
    expect(r.body).to.contain('<html lang="fr">');
    // Issue 16 item 7: the page says payment is unavailable and points to the help button at the lane.
    expect(r.body).to.contain("Paiement indisponible pour le moment");
    expect(r.body).to.contain('data-result="provider_unavailable"');
    expect(r.body).to.contain("bouton d&#39;aide");
    expect(r.body).to.contain("Rien n'a été débité".replace("'", "&#39;"));
    const retry = /id="retry" href="([^"]+)"/.exec(r.body)?.[1].replace(/&amp;/g, "&");
    expect(retry).to.be.a("string");
    const back = new URL(retry as string, payUrl);
    const orig = new URL(payUrl);
    expect(back.pathname).to.equal(orig.pathname);
    expect(back.searchParams.get("t")).to.equal(orig.searchParams.get("t"));
    expect(r.body).not.to.match(/"error"\s*:/);
  });

  it("the same in English when the page is in English", async () => {
    const r = await new Phone("en-GB").go(startUrl("en"), { form: {} });
    expect(r.status).to.equal(503);
    expect(r.contentType).to.match(/^text\/html/);
    expect(r.body).to.contain('<html lang="en">');
    expect(r.body).to.contain("Payment unavailable right now");
    expect(r.body).to.contain("help (call) button");
    expect(r.body).to.contain('id="retry"');
  });

  it("an API client asking for JSON still gets JSON (with the reason), and /api/… stays JSON", async () => {
    const r = await fetch(startUrl("fr"), { method: "POST", headers: { Accept: "application/json" }, redirect: "manual" });
    expect(r.status).to.equal(503);
    expect(r.headers.get("content-type")).to.match(/^application\/json/);
    expect(((await r.json()) as { code: string }).code).to.equal("provider_unavailable");
    const u = new URL(payUrl);
    const api = await fetch(`${u.origin}/api/pay${u.pathname.slice(4)}/intent${u.search}`, { method: "POST" });
    expect(api.status).to.equal(503);
    expect(api.headers.get("content-type")).to.match(/^application\/json/);
  });

  it("in a real browser (Chromium, a phone): 'Pay by card' shows the message page, and 'Try again' leads back to the pay page", async function () {
    requireToolOrSkip(this, "chromium");
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
    try {
      const ctx = await browser.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 } });
      const page = await ctx.newPage();
      await page.goto(payUrl);
      const [answer] = await Promise.all([page.waitForResponse((r) => r.url().includes("/start")), page.click("#pay")]);
      expect(answer.status()).to.equal(503);
      expect(answer.headers()["content-type"]).to.match(/^text\/html/);
      await page.waitForSelector('#result[data-result="provider_unavailable"]');
      expect(await page.locator("h1").innerText()).to.equal("Paiement indisponible pour le moment");
      expect(await page.locator("body").innerText()).not.to.match(/"error"|internal error/);
      await page.click("#retry");
      await page.waitForSelector("#amount");
      expect(new URL(page.url()).pathname).to.equal(new URL(payUrl).pathname);
    } finally {
      await browser.close();
    }
  });

  it("an unknown page under /pay/, a bad token and an oversized form are HTML too (404, 404, 413), never a 5xx", async () => {
    const u = new URL(payUrl);
    const phone = new Phone("fr-FR");
    const unknown = await phone.go(`${u.origin}${u.pathname}/nope${u.search}`);
    expect([unknown.status, unknown.contentType.split(";")[0]]).to.deep.equal([404, "text/html"]);
    expect(unknown.body).to.contain("Lien de paiement invalide");
    const badToken = await phone.go(`${u.origin}${u.pathname}?t=not-the-token-at-all`);
    expect([badToken.status, badToken.contentType.split(";")[0]]).to.deep.equal([404, "text/html"]);
    const big = await phone.go(startUrl("en"), { form: { x: "y".repeat(10_000) } });
    expect([big.status, big.contentType.split(";")[0]]).to.deep.equal([413, "text/html"]);
    expect(big.body).to.contain("Invalid request");
    expect(big.body).to.contain('id="retry"');
  });
});
