/**
 * The live site screen driven as an operator would (issue 17 "Must show"): log in, open the site,
 * watch lane states and presences arrive (event → screen measured over 20 events), a car enter,
 * pay and leave, and a fault reset with its reason, its cmd_id and the lane's acknowledgement.
 */
import { expect } from "chai";
import type { Page } from "playwright-core";
import { findActiveSession, getSession } from "../../cloud/db/index";
import { toCloudTopic } from "../../contracts/mqtt-topics";
import { Phone } from "../cloud/server/driver";
import { until } from "../cloud/server/helpers";
import { SITE, eventId, parisTime, percentile, shoot, type ConsoleWorld } from "./fixture";

/** The car of scenario 2, for the later scenarios (search, session page, revenue). */
export interface PaidCar {
  plate: string;
  sessionId: string;
  amount: number;
}

type Shown = { type: string; ts: number; shownAt: number };
const field = (page: Page, lane: string, name: string) => page.locator(`#lane-${lane} [data-f="${name}"]`);

export function liveScenarios(w: () => ConsoleWorld, paid: (car: PaidCar) => void): void {
  let page: Page;
  let lastTs = 0;
  const nextTs = () => (lastTs = Math.max(Date.now(), lastTs + 1));

  it("1. live: an operator logs in through /login, opens the site, sees lane state and presence; event → screen over 20 events", async () => {
    ({ page } = await w().login("operator"));
    expect(await page.locator("#operator").innerText()).to.contain(w().users.operator.username);
    await page.click(`#site-${SITE}`);
    await page.waitForURL((u) => u.pathname === `/console/sites/${SITE}`);
    await page.waitForSelector('#live-status[data-state="live"]');

    const stateTs = nextTs();
    await w().publish("laneState", { ts: stateTs, lane_id: "L1", exit_state: "identifying", barrier_state: "closed", barrier_pos: 0, display: ["BONJOUR", "LECTURE PLAQUE"] }, "L1");
    // The states are worded in the page's language (cloud/http/console/state-words.ts): French here.
    await field(page, "l1", "exit_state").filter({ hasText: /^identification$/ }).waitFor();
    expect(await field(page, "l1", "display").innerText()).to.equal("BONJOUR\nLECTURE PLAQUE");
    expect(await field(page, "l1", "barrier_state").innerText()).to.equal("fermée");
    expect(await field(page, "l1", "fault").isHidden(), "no fault: no (empty) fault pill").to.equal(true);
    // The site's zone (Europe/Paris), not the browser's (UTC) nor the server's.
    expect(await field(page, "l1", "state_ts").innerText()).to.equal(parisTime(stateTs));
    await w().publish("present", { ts: nextTs(), event_id: eventId(), lane_id: "L1", present: true });
    await page.waitForSelector('#lane-l1 [data-f="present"][data-present="true"]');
    expect(await field(page, "l1", "present").innerText()).to.equal("véhicule présent");

    // Event → screen: the instant the gateway's message leaves for the broker, to the instant the page shows it.
    await page.evaluate(() => {
      const g = globalThis as unknown as { __shown: Shown[]; document: { addEventListener(type: string, fn: (e: { detail: { type: string; shownAt: number; data: { ts: number } } }) => void): void } };
      g.__shown = [];
      g.document.addEventListener("syspark:shown", (e) => g.__shown.push({ type: e.detail.type, ts: e.detail.data.ts, shownAt: e.detail.shownAt }));
    });
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const ts = nextTs();
      const type = i % 2 === 0 ? "lane" : "presence";
      const publishedAt = Date.now();
      if (type === "lane") await w().publish("laneState", { ts, lane_id: "L1", exit_state: i % 4 === 0 ? "identifying" : "idle", barrier_state: "closed", barrier_pos: i }, "L1");
      else await w().publish("present", { ts, event_id: eventId(), lane_id: "L1", present: i % 4 === 1 });
      // A function, not a string: the console's CSP forbids eval, and a string predicate is eval'd.
      const shown = await page.waitForFunction((want) => (globalThis as unknown as { __shown: Shown[] }).__shown.find((s) => s.type === want.type && s.ts === want.ts), { type, ts }, { timeout: 10_000 });
      const { shownAt } = (await shown.jsonValue()) as { shownAt: number };
      latencies.push(shownAt - publishedAt);
    }
    expect(latencies).to.have.length(20); // every event was shown (each wait above would have failed otherwise)
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`      event → screen over ${sorted.length} events (MQTT publish → page shows it): p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted[sorted.length - 1]} ms`);
    await shoot(page, "1-live-site");
  });

  it("2. a car enters and leaves live: entry, exit request, payment on the emulator, exit done — feed rows and the lane card follow", async () => {
    const world = w();
    const plate = `CT${Math.random().toString(36).slice(2, 7).toUpperCase()}`;
    await world.publish("entry", { ts: Date.now() - 95 * 60_000, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    await page.locator('#feed tr[data-category="entry"]', { hasText: plate }).waitFor();
    const entered = await until(() => findActiveSession(world.t.cloud.db.sql, SITE, { method: "plate", value: plate }), 15_000, "the entry session");

    await world.publish("present", { ts: nextTs(), event_id: eventId(), lane_id: "L1", present: true });
    await world.publish("exitReq", { ts: Date.now(), event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    const req = await world.site.waitFor("paymentReq", (p) => p.session_id === entered.sessionId);
    await world.publish("laneState", { ts: nextTs(), lane_id: "L1", exit_state: "awaiting_payment", barrier_state: "closed", barrier_pos: 0, display: ["A PAYER", "SCANNEZ LE QR"], session_id: entered.sessionId }, "L1");
    await page.locator(`#lane-l1 [data-f="session_id"] a[href="/console/sessions/${entered.sessionId}"]`).waitFor();
    expect(await field(page, "l1", "exit_state").innerText()).to.equal("attente du paiement");
    await shoot(page, "2a-car-awaiting-payment");

    // The driver pays on a phone (the cloud's pay page, the emulator's card page).
    const phone = new Phone("fr-FR");
    await phone.payOnCardPage(await phone.openCardPage(String(req.payload.pay_url)));
    await world.site.waitFor("paymentSuccess", (p) => p.session_id === entered.sessionId);
    await page.locator('#feed tr[data-category="payment"]', { hasText: "Paiement validé" }).first().waitFor();

    await world.publish("laneState", { ts: nextTs(), lane_id: "L1", exit_state: "open", barrier_state: "open", barrier_pos: 100, display: ["MERCI", "BONNE ROUTE"], session_id: entered.sessionId }, "L1");
    await field(page, "l1", "barrier_state").filter({ hasText: /^ouverte$/ }).waitFor();
    await world.publish("exitDone", { ts: Date.now(), event_id: eventId(), lane_id: "L1", session_id: entered.sessionId, barrier_result: "opened", passed: true, decided_by: "cloud" });
    await world.publish("present", { ts: nextTs(), event_id: eventId(), lane_id: "L1", present: false });
    await world.publish("laneState", { ts: nextTs(), lane_id: "L1", exit_state: "idle", barrier_state: "closed", barrier_pos: 0, display: ["BIENVENUE"] }, "L1");
    await page.locator('#feed tr[data-category="exit"]').first().waitFor();
    await field(page, "l1", "exit_state").filter({ hasText: /^au repos$/ }).waitFor();
    await page.waitForSelector('#lane-l1 [data-f="present"][data-present="false"]');
    expect(await field(page, "l1", "session_id").innerText()).to.equal("—");
    const exitRow = page.locator('#feed tr[data-category="exit"]').first();
    expect(await exitRow.locator(`a[href="/console/sessions/${entered.sessionId}"]`).count(), "the exit row links to the session").to.equal(1);
    const closed = await until(async () => {
      const s = await getSession(world.t.cloud.db.sql, entered.sessionId);
      return s.status === "closed" ? s : undefined;
    }, 15_000, "the session closed");
    paid({ plate, sessionId: entered.sessionId, amount: Number(closed.amount) });
    await shoot(page, "2b-car-left");
  });

  it("3. reset a fault: the lane reports a fault, the operator resets it with a reason; the cmd_id goes out and the lane's acknowledgement is shown", async () => {
    const world = w();
    await world.publish("laneState", { ts: nextTs(), lane_id: "L1", exit_state: "fault", barrier_state: "stopped", barrier_pos: 40, display: ["HORS SERVICE"], fault: "MOTOR_STALL" }, "L1");
    await world.publish("sensorError", { ts: Date.now(), event_id: eventId(), lane_id: "L1", code: "MOTOR_STALL", severity: "fault", detail: "the motor stalled at 40 %" });
    await field(page, "l1", "fault").filter({ hasText: "MOTOR_STALL" }).waitFor();
    await page.locator("#alarms li", { hasText: "MOTOR_STALL" }).waitFor();
    expect(await page.locator("#no-alarm").isHidden()).to.equal(true);
    // Rendered by the server this time (a reload): the page must still clear it live when the lane does.
    await page.reload();
    await page.waitForSelector('#live-status[data-state="live"]');
    expect(await page.locator('#alarms li[data-severity="fault"]', { hasText: "MOTOR_STALL" }).count()).to.equal(1);

    await page.click('#lane-l1 [data-action="reset"]');
    await page.waitForSelector("#action-dialog[open]");
    expect(await page.locator("#action-title").innerText()).to.equal("L1 — Réarmer le défaut");
    await page.fill("#action-reason", "moteur vérifié sur place par le technicien");
    await shoot(page, "3a-reset-dialog");
    await page.click("#action-confirm");
    const sent = page.locator('#lane-l1 [data-f="command"][data-result="sent"]');
    await sent.waitFor();
    const cmdId = (await sent.getAttribute("data-cmd")) as string;
    expect(cmdId).to.match(/^web_/);
    const rows = await world.t.cloud.db.sql<{ payload: { cmd: string; cmd_id: string; operator: string; reason: string; lane_id: string } }[]>`
      SELECT payload FROM outbox WHERE topic = ${toCloudTopic(SITE, "parking/barriere/cmd")} AND payload->>'cmd_id' = ${cmdId}`;
    expect(rows, "one barrier command in the outbox with the page's cmd_id").to.have.length(1);
    expect(rows[0].payload).to.include({ cmd: "reset", operator: world.users.operator.username, reason: "moteur vérifié sur place par le technicien" });
    const cmd = await world.site.waitFor("barrierCmd", (p) => p.cmd_id === cmdId);
    expect(cmd.payload.lane_id).to.equal("L1");

    await world.publish("barrierAck", { ts: Date.now(), cmd_id: cmdId, lane_id: "L1", result: "done" });
    await page.locator(`#lane-l1 [data-f="command"][data-result="done"][data-cmd="${cmdId}"]`).waitFor();
    expect(await field(page, "l1", "command").innerText()).to.contain("Exécutée par la voie");
    await world.publish("laneState", { ts: nextTs(), lane_id: "L1", exit_state: "idle", barrier_state: "closed", barrier_pos: 0, display: ["BIENVENUE"] }, "L1");
    await page.locator("#alarms li", { hasText: "MOTOR_STALL" }).waitFor({ state: "detached" });
    await page.locator('#feed tr[data-category="override"]', { hasText: "Réarmement" }).first().waitFor();
    await shoot(page, "3b-reset-acknowledged");
  });

  it("6. a viewer: the site page shows no action, and a forged request from the viewer's page is refused by the server (403)", async () => {
    const world = w();
    const { page: v } = await world.login("viewer");
    await v.goto(`${world.base}/console/sites/${SITE}`);
    await v.waitForSelector('#live-status[data-state="live"]');
    expect(await v.locator("[data-action], [data-site-action], #action-dialog").count()).to.equal(0);
    expect(await v.locator("#site").getAttribute("data-can-act")).to.equal("false");
    const [{ n: before }] = await world.t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM operator_commands`;
    // The viewer's own session cookie, from the viewer's own page: only the server can refuse.
    const forged: [string, Record<string, unknown>][] = [
      [`/api/console/sites/${SITE}/lanes/L1/commands`, { action: "open", reason: "forged from the page" }],
      [`/api/console/sites/${SITE}/lanes/L1/commands`, { action: "reset", reason: "forged from the page" }],
      [`/api/console/sites/${SITE}/entries`, { closed: true, reason: "forged from the page" }],
    ];
    const answers = await v.evaluate(
      (list) => Promise.all(list.map(([url, body]) => fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error: string } })))),
      forged,
    );
    for (const a of answers) {
      expect(a.status).to.equal(403);
      expect(a.body.error).to.match(/viewer/);
    }
    const [{ n: after }] = await world.t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM operator_commands`;
    expect(after, "nothing was written").to.equal(before);
    await shoot(v, "6-viewer-site");
    // The admin screens are refused to a viewer too (a 403 page, not the form).
    const admin = await v.goto(`${world.base}/console/admin/sites/${SITE}/tariffs`);
    expect(admin?.status()).to.equal(403);
  });
}
