/**
 * The Telegram alerts on the whole site (`syspark up`, issue 17): the cloud, the gateway, the
 * simulated lanes (real firmware on socat ptys) and the live site page, as `syspark up` starts
 * them, with the alerts configured the way an operator configures them — from the environment —
 * pointed at the fake Telegram Bot API (test/doubles/fake-telegram.ts, a labelled test double:
 * Telegram cannot be reached here). Nothing is injected into the cloud: the alarm is the
 * executor's own ALARM frame, the outage is the broker's last will of a killed gateway.
 *
 * (a) An obstruction: an operator opens lane L1 from the console's API, a car passes, and the
 *     boom is obstructed (the live page's "Obstruct boom") while it closes; the executor reverses
 *     and raises OBSTRUCTION → one 🚨 message. Cleared, the boom closes on a clear lane → one
 *     "resolved" message.
 * (b) A gateway outage: the gateway is killed (no graceful `offline`: its MQTT connection to the
 *     cloud drops, and the cloud broker publishes its last will) → after ALERT_GATEWAY_OFFLINE_MIN
 *     one "gateway offline" message. Started again on the same configuration and data directory
 *     (the boards keep running, as on a site) → one "resolved" message.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SiteSnapshot } from "../../cloud/flows/console-views";
import { startGateway, type Gateway } from "../../gateway/runtime";
import { requireToolOrSkip } from "../../host/tools";
import { startSitePage } from "../../sim/site/page";
import { startSite, type Site } from "../../sim/site/site";
import { startFakeTelegram, type FakeTelegram } from "../doubles/fake-telegram";
import { waitFor } from "../gateway/helpers";

const TOKEN = "123456789:AAsite-alerts_token_0123456789abcdef";
const CHAT = "-1009876543210";
const SITE = "paris-centre";
/** The alert settings under test: evaluated every 0.5 s, a gateway offline for 3 s is alerted. */
const ENV: Record<string, string> = {
  TELEGRAM_BOT_TOKEN: TOKEN,
  TELEGRAM_CHAT_ID: CHAT,
  ALERT_PERIOD_MS: "500",
  ALERT_GATEWAY_OFFLINE_MIN: "0.05",
  // One access-list key for the gateway `syspark up` starts and the one this test starts again.
  SYSPARK_ACL_HMAC_KEY: "site-alerts-test-acl-key-0123456789",
};
/** A few alert rounds: long enough for a duplicate message to have gone out, were there one. */
const QUIET_MS = 2500;

describe("the whole site (syspark up): Telegram alerts for an obstruction and a gateway outage", function () {
  this.timeout(120_000);
  let telegram: FakeTelegram | undefined;
  let site: Site | undefined;
  let page: Awaited<ReturnType<typeof startSitePage>> | undefined;
  let restarted: Gateway | undefined;
  let dir = "";
  let token = "";
  const saved: Record<string, string | undefined> = {};

  before(async function () {
    requireToolOrSkip(this, "socat"); // the gateway restarts on the boards' pty devices
    telegram = await startFakeTelegram({ token: TOKEN, chatId: CHAT });
    for (const [k, v] of Object.entries({ ...ENV, TELEGRAM_API_BASE: telegram.url })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    dir = mkdtempSync(join(tmpdir(), "syspark-site-alerts-"));
    site = await startSite({ lanes: 1, dataDir: dir, memoryDb: true, links: "pty", cloudPort: 0, cloudMqttPort: 0, siteBrokerPort: 0 });
    page = await startSitePage(site, { port: 0 });
    const admin = site.cloud.firstAdmin;
    if (!admin) throw new Error("the site's first start created no admin");
    const login = await fetch(`${site.cloud.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
    expect(login.status, "login").to.equal(200);
    token = ((await login.json()) as { token: string }).token;
  });

  after(async () => {
    await restarted?.close(false);
    await page?.close();
    await site?.close();
    await telegram?.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.error("Telegram messages so far:", JSON.stringify(telegram?.messages.map((m) => m.text), null, 1));
  });

  const snapshot = async (): Promise<SiteSnapshot> => {
    const r = await fetch(`${site!.cloud.url}/api/console/sites/${SITE}`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status, "GET /api/console/sites/:site").to.equal(200);
    return (await r.json()) as SiteSnapshot;
  };
  const consoleLane = async () => (await snapshot()).lanes.find((l) => l.name === "L1");
  const texts = (re: RegExp) => telegram!.messages.map((m) => m.text).filter((t) => re.test(t));
  const livePage = async (action: string, body: object) => {
    const r = await fetch(new URL(`/api/lanes/L1/${action}`, page!.url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(r.status, `live page ${action}`).to.equal(200);
  };

  it("(a) an obstruction under the closing boom: one alert, and one 'resolved' once the boom closes on a clear lane", async () => {
    const barrier = site!.lanes.get("L1")!.barrier;
    await waitFor(async () => (await consoleLane())?.barrierState === "closed", 30_000, "the console to show lane L1 closed");
    expect(texts(/OBSTRUCTION/), "no alert before the obstruction").to.deep.equal([]);

    // A car drives onto the exit loop (the live page's "Car arrives"); an operator lets it out
    // from the console; it drives under the boom and away.
    await livePage("arrive", { minutes: 30 });
    await waitFor(() => site!.gateway.lanes.get("L1")!.snapshot().present === true, 30_000, "the gateway to see the car on the loop");
    const open = await fetch(`${site!.cloud.url}/api/console/sites/${SITE}/lanes/L1/commands`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ action: "open", reason: "site alerts test: let a car out" }),
    });
    expect(open.status, "open command").to.equal(202);
    await waitFor(() => barrier.barrierState === "open", 30_000, "the barrier to open");
    await waitFor(() => site!.lanes.get("L1")!.vehicle.phase === "gone", 30_000, "the car to drive through");
    // The boom starts closing behind it (auto-close): obstructed now, it reverses.
    await waitFor(() => barrier.coreState === "CLOSING", 30_000, "the boom to start closing");
    await livePage("obstruct", { on: true });

    await waitFor(() => texts(/OBSTRUCTION/).length >= 1, 30_000, "the Telegram alert for the obstruction");
    const [raised] = texts(/OBSTRUCTION/);
    expect(raised).to.match(/^🚨 paris-centre \/ L1: safety alarm \/ alarme sécurité OBSTRUCTION/);
    const alarms = (await snapshot()).alarms.filter((a) => a.code === "OBSTRUCTION");
    expect(alarms.map((a) => [a.laneName, a.severity]), "the console lists the alarm").to.deep.equal([["L1", "alarm"]]);

    // The car backs off; the boom closes on a clear lane.
    await livePage("obstruct", { on: false });
    await waitFor(() => barrier.barrierState === "closed", 30_000, "the boom to close");
    await waitFor(() => texts(/OBSTRUCTION/).length >= 2, 30_000, "the 'resolved' message for the obstruction");
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const all = texts(/OBSTRUCTION/);
    expect(all, "exactly one alert and one 'resolved' message").to.have.length(2);
    expect(all[1]).to.match(/^✅ paris-centre \/ L1: safety alarm \/ alarme sécurité OBSTRUCTION.* — resolved after .* \/ résolu après /);
    expect((await snapshot()).alarms.filter((a) => a.code === "OBSTRUCTION"), "cleared on the console").to.deep.equal([]);
  });

  it("(b) the gateway killed: its last will → one 'gateway offline' alert; started again → one 'resolved'", async () => {
    await waitFor(async () => (await snapshot()).gateway?.status === "online", 30_000, "the console to show the gateway online");
    const config = site!.gateway.services.config;
    const before = telegram!.messages.length;
    // Killed: no `offline` of its own, no DISCONNECT — the cloud broker publishes the last will.
    await site!.gateway.close(false);
    await waitFor(async () => (await snapshot()).gateway?.status === "offline", 15_000, "the console to show the gateway offline (last will)");
    await waitFor(() => texts(/gateway offline/).length >= 1, 30_000, "the Telegram alert for the gateway outage");
    expect(texts(/gateway offline/)[0]).to.match(/^⚠️ paris-centre: gateway offline \/ passerelle hors ligne since \d\d:\d\d \(Europe\/Paris\), \d+ min$/);

    // Started again on the same configuration, data directory and pty devices.
    restarted = await startGateway(config, { siteBrokerPort: 0, env: { ...process.env } });
    await waitFor(async () => (await snapshot()).gateway?.status === "online", 30_000, "the console to show the gateway online again");
    await waitFor(() => texts(/gateway offline/).length >= 2, 30_000, "the 'resolved' message for the gateway outage");
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const all = texts(/gateway offline/);
    expect(all, "exactly one alert and one 'resolved' message").to.have.length(2);
    expect(all[1]).to.match(/^✅ paris-centre: gateway offline .* — resolved after .* \/ résolu après /);
    expect(telegram!.messages.length - before, "nothing else was sent meanwhile").to.equal(2);
    // Every message went to the configured chat through the configured bot.
    expect(telegram!.requests.every((r) => r.status === 200 && r.path === `/bot${TOKEN}/sendMessage`)).to.equal(true);
  });
});
