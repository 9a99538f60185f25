/** Assertions shared by scenario files (not a scenario file: the runner loads *.scenario.ts only). */
import { expect } from "chai";
import { findAuditEntries, getPermit } from "../../cloud/db/index";
import { DEMO_SITE } from "../../cloud/server/seed";
import type { LaneSet } from "../harness/env";

/** Barrier up, car through, boom down, session closed: the common tail of every paid exit. */
export async function assertExitCompletes(h: LaneSet, lane: string, sessionId: string): Promise<void> {
  const l = h.lane(lane);
  // Read from the recorded streams, not the current state: at --speed 10 the boom can be up and
  // down again while the harness is still busy (a payment page round trip) — no race.
  const open = await l.barrierDut.expect(/^rx \d+ OPEN\b/, 10_000);
  await l.barrierDut.expect(/^tx \d+ BARRIER state="open"/, 15_000, l.barrierDut.lines.indexOf(open));
  const plant = () => l.field.observe();
  if (plant()) await h.waitUntil(() => h.timeline.lanes[lane].some((s) => s.barrierPct >= 95), 5000, "the boom at the top (plant)");
  await h.vehiclePasses(lane, 15_000);
  await h.waitBarrier(lane, "closed", 20_000);
  const down = plant();
  if (down) expect(down.boomPct, "the boom is down (plant)").to.be.at.most(3);
  await h.waitUntil(() => h.seen("exit/done", lane).some((m) => m.session_id === sessionId), 10_000, "parking/exit/done");
  const done = h.seen("exit/done", lane).find((m) => m.session_id === sessionId)!;
  expect(done.barrier_result).to.equal("opened");
  await h.waitUntil(async () => (await h.sessionStatus(sessionId)) === "closed", 10_000, `session ${sessionId} closed in the cloud`);
  expect(await h.auditKinds(sessionId), "the closing is in the cloud's audit").to.include("session.closed");
  expect(h.timeline.lanes[lane].some((s) => s.motorUp), "the motor drove the boom up").to.equal(true);
}

/**
 * The cloud's parking/payment/success for this vehicle's own session. Not simply the first one
 * seen on the lane: a gateway that starts sends parking/sync/req, and the cloud says again the
 * successes of the site's paid sessions not yet closed — an earlier scenario's car among them.
 */
export async function successFor(h: LaneSet, lane: string, identity: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await h.waitUntil(async () => {
    const session = await h.sessionOf(identity);
    found = h.seen("payment/success", lane).find((m) => m.session_id === session);
    return found !== undefined;
  }, timeoutMs, `parking/payment/success for ${identity} on ${lane}`);
  return found!;
}

/** The cloud's audit rows (chained, or still queued for chaining) about these site events. */
export async function auditedEvents(h: LaneSet, eventIds: string[]): Promise<{ kind: string; event_id: string }[]> {
  return (await findAuditEntries(h.cloud.db.sql, { eventIds })).map((r) => ({ kind: r.kind, event_id: String(r.eventId) }));
}

/** The lane raised `code` on parking/sensor_gate/error, and the cloud audited that very event. */
export async function assertAlarmAudited(h: LaneSet, lane: string, code: string): Promise<void> {
  const alarms = () => h.seen("sensor_gate/error", lane).filter((m) => m.code === code).map((m) => String(m.event_id));
  await h.waitUntil(() => alarms().length > 0, 10_000, `parking/sensor_gate/error ${code} on ${lane}`);
  await h.waitUntil(async () => (await auditedEvents(h, alarms())).some((r) => r.kind === "alarm.sensor_gate"), 10_000, `the ${code} alarm in the cloud's audit`);
}

const postForm = (url: string, fields: Record<string, string>) => fetch(url, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });

/** A monthly permit bought on the cloud's page (Stripe Checkout on the emulator) for a badge and/or a plate; waits until the gateway trusts the badge. */
export async function buyPermit(h: LaneSet, holder: { badge: string; plate?: string }): Promise<string> {
  h.step(`holder buys a monthly permit for badge ${holder.badge}${holder.plate ? ` and plate ${holder.plate}` : ""}`);
  const buy = await postForm(`${h.cloud.url}/permits/${DEMO_SITE.siteId}/buy?lang=fr`, { plan: `${DEMO_SITE.siteId}-monthly`, email: "holder@example.test", badge: holder.badge, ...(holder.plate ? { plate: holder.plate } : {}) });
  expect(buy.status, await buy.clone().text()).to.equal(303);
  const paid = await postForm(String(buy.headers.get("location")), { card_number: "4242424242424242", exp: "12/40", cvc: "123" });
  expect(paid.status).to.equal(303);
  const permitId = new URL(String(paid.headers.get("location"))).searchParams.get("permit") as string;
  await h.waitUntil(async () => (await getPermit(h.cloud.db.sql, permitId)).status === "active", 15_000, "the permit active");
  await h.waitUntil(() => h.gateway.acl.trustedBadge(holder.badge, Date.now()) !== undefined, 15_000, "the permit's badge in the gateway's access list");
  return permitId;
}

/** The driver's phone on the Stripe emulator's card page a form sent it to: pays with 4242…, follows the page back. */
export async function payOnCardPage(cardPage: string): Promise<Response> {
  const body = new URLSearchParams({ card_number: "4242424242424242", exp: "12/34", cvc: "123", locale: "en" });
  const returnUrl = new URL(cardPage).searchParams.get("return_url");
  if (returnUrl) body.set("return_url", returnUrl);
  const paid = await fetch(cardPage, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
  expect(paid.ok, `card page answered ${paid.status}`).to.equal(true);
  return paid;
}
