/**
 * The whole site in one process (what `npm start` runs), driven in headless Chromium like a
 * person would: drive a car to the exit on the live site page, open the pay link its QR code
 * shows, pay with a test card on the cloud's payment page, and watch the barrier open, the car
 * pass and the boom close again. Everything real but Stripe (the local test emulator).
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { siteView, startSitePage } from "../../sim/site/page";
import { startSite, type Site } from "../../sim/site/site";
import { requireToolOrSkip } from "../../host/tools";

describe("the whole site (syspark up) in a real browser", function () {
  this.timeout(120_000);
  let site: Site | undefined;
  let page: Awaited<ReturnType<typeof startSitePage>> | undefined;
  let browser: Browser | undefined;
  let dir: string;
  let keep = false;

  before(async function () {
    requireToolOrSkip(this, "socat");
    requireToolOrSkip(this, "chromium");
    dir = mkdtempSync(join(tmpdir(), "syspark-site-"));
    site = await startSite({ lanes: 2, dataDir: dir, memoryDb: true, cloudPort: 0, cloudMqttPort: 0, siteBrokerPort: 0 });
    page = await startSitePage(site, { port: 0 });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });

  after(async () => {
    await browser?.close();
    await page?.close();
    await site?.close();
    if (dir && !keep) rmSync(dir, { recursive: true, force: true });
  });

  const lane = (p: Page, id: string) => p.locator(`section[data-lane="${id}"]`);

  afterEach(async function () {
    if (this.currentTest?.state === "failed" && site) {
      const view = (await siteView(site)).map(({ qr_svg: _qr, ...rest }) => rest);
      console.error("site state at the failure:", JSON.stringify(view, null, 1), "\nscreenshots kept in", dir);
      keep = true;
    }
  });

  it("drive a car to the exit, pay on the page the QR code opens, watch the barrier open and close", async () => {
    const ctx = await browser!.newContext({ viewport: { width: 1200, height: 900 } });
    const live = await ctx.newPage();
    await live.goto(page!.url);
    expect(await live.locator("header a").getAttribute("href")).to.equal(site!.cloud.publicBaseUrl);
    expect(await live.locator("header").innerText()).to.not.contain("__CLOUD__");
    await lane(live, "L1").getByTestId("arrive").click();
    const payLink = lane(live, "L1").getByTestId("pay-link");
    await payLink.waitFor({ timeout: 30_000 });
    expect(await lane(live, "L1").getByTestId("display").innerText()).to.match(/A payer \/ To pay\s+\d+,\d\d EUR/);
    expect(await lane(live, "L1").locator("svg").count(), "QR code drawn").to.be.greaterThan(0);
    await live.screenshot({ path: join(dir, "1-awaiting-payment.png") });

    // The driver scans the QR code with a phone.
    const phone = await browser!.newContext({ locale: "fr-FR", viewport: { width: 390, height: 844 } });
    const pay = await phone.newPage();
    await pay.goto((await payLink.getAttribute("href"))!);
    await pay.click("#pay");
    await pay.waitForSelector("#card_number");
    await pay.fill("#card_number", "4242 4242 4242 4242");
    await pay.fill("#exp", "12/34");
    await pay.fill("#cvc", "123");
    await pay.click("#pay");
    await pay.waitForSelector('#result[data-result="paid"]', { timeout: 30_000 });
    await phone.close();

    // Back at the lane: the barrier opens, the car drives through, the boom closes behind it.
    await lane(live, "L1").getByTestId("barrier-state").filter({ hasText: /^open$/ }).waitFor({ timeout: 30_000 });
    await live.screenshot({ path: join(dir, "2-open.png") });
    await lane(live, "L1").getByTestId("vehicle").filter({ hasText: /^gone/ }).waitFor({ timeout: 30_000 });
    await lane(live, "L1").getByTestId("barrier-state").filter({ hasText: /^closed$/ }).waitFor({ timeout: 30_000 });
    // stopped by the closed limit switch, which trips within the last couple of percent of travel
    expect(parseInt(await lane(live, "L1").getByTestId("boom").innerText(), 10)).to.be.at.most(2);
    expect(await lane(live, "L2").getByTestId("barrier-state").innerText(), "the other lane never moved").to.equal("closed");
    await ctx.close();

    // The cloud closed the session with the barrier result.
    const sessions = await site!.cloud.db.sql<{ status: string; barrierResult: string | null }[]>`select status, barrier_result from sessions where status = 'closed'`;
    expect(sessions.map((s) => [s.status, s.barrierResult])).to.deep.include(["closed", "opened"]);
  });

  it("the entry card: a car without a plate read takes a ticket, drives in, and leaves by L1 with it", async () => {
    const ctx = await browser!.newContext({ viewport: { width: 1200, height: 900 } });
    const live = await ctx.newPage();
    await live.goto(page!.url);
    const entry = lane(live, "E1");
    expect(await entry.locator("h2").innerText()).to.equal("Entrée E1");
    await entry.getByTestId("site-state").filter({ hasText: /^open · \d+ free$/ }).waitFor({ timeout: 10_000 });
    await entry.getByTestId("entry-arrive-unread").click();
    await entry.getByTestId("lane-phase").filter({ hasText: /^identifying/ }).waitFor({ timeout: 10_000 });
    await entry.getByTestId("take-ticket").click();
    // The printed ticket on the card: its short code and its QR, drawn.
    const ticket = entry.getByTestId("ticket");
    await ticket.waitFor({ timeout: 15_000 });
    expect(await ticket.innerText()).to.match(/last ticket \d{4} \d{4}\s+T/);
    expect(await ticket.locator("svg").count()).to.equal(1);
    await entry.getByTestId("last-in").filter({ hasText: / · ticket \d{4} \d{4}$/ }).waitFor({ timeout: 20_000 });
    await live.screenshot({ path: join(dir, "3-entered.png") });
    const plate = site!.entry.lastIn!.plate;
    await lane(live, "L1").getByTestId("from-entry").click();
    // Its plate not read at L1 either: the pay station scans the ticket; a few seconds in, nothing to pay.
    await lane(live, "L1").getByTestId("vehicle").filter({ hasText: new RegExp(`^gone ${plate}$`) }).waitFor({ timeout: 30_000 });
    expect(await entry.getByTestId("last-in").count(), "the car left the entry's memory").to.equal(0);
    await ctx.close();
  });

  it("refuses bad requests on the live page's API with a precise message", async () => {
    const r = await fetch(new URL("/api/lanes/L1/arrive", page!.url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ minutes: -5 }) });
    expect(r.status).to.equal(400);
    expect(((await r.json()) as { error: string }).error).to.match(/minutes/);
    const unknown = await fetch(new URL("/api/lanes/L9/arrive", page!.url), { method: "POST", body: "{}" });
    expect(unknown.status).to.equal(404);
  });
});
