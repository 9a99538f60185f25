/**
 * Entry lanes and every way out (issue 18), on the simulated site: an entry lane (the lane
 * controller in its entry role, its printer and scanner, a barrier) beside an exit lane, the
 * gateway deciding with the cloud, and every scenario checking the cloud's rows and audit too.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { findAuditEntries, getSession } from "../../cloud/db/index";
import { DEMO_SITE } from "../../cloud/server/seed";
import { ticketQr } from "../../contracts/ticket";
import { scenario } from "../harness/context";
import { PACE } from "../harness/env";
import { assertExitCompletes, buyPermit } from "./lib";
import { bookReservation, merchantCode, occupied, sessionOfEntry, setSpaces, ticketEntry } from "./entry-lib";
import { siteOccupancy } from "../../cloud/db/site-status";

const LANES = { lanes: ["E1", "L1"], entryLanes: ["E1"], timeoutMs: 120_000 };
const newBadge = () => randomBytes(5).toString("hex").toUpperCase();

describe("entry lanes", () => {
  scenario("ticket entry → paid exit: the ticket printed at the entry is scanned at the pay station", LANES, async (h) => {
    const before = await occupied(h);
    const { ticket, sessionId } = await ticketEntry(h, "E1");
    expect((await getSession(h.cloud.db.sql, sessionId)).identityMethod).to.equal("ticket");
    expect(await h.auditKinds(sessionId)).to.include("session.entry");
    await h.waitUntil(async () => (await occupied(h)) === before + 1, 10_000, "the car counted in the occupancy");

    await h.sleep(20 * 60_000); // twenty minutes of lane time (past the 15-minute grace period)
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.scan("L1", ticketQr(ticket.ticketId));
    const req = await h.paymentRequest("L1");
    expect(req.session_id).to.equal(sessionId);
    expect(req.amount as number).to.be.greaterThan(0);
    const card = await h.payWithCard("L1");
    expect(card.ok, `payment page: ${card.status}`).to.equal(true);
    await assertExitCompletes(h, "L1", sessionId);
    await h.waitUntil(async () => (await occupied(h)) === before, 10_000, "the car counted out");
  });

  scenario("plate entry → badge exit: a permit's plate enters without a ticket, its badge lets it out", LANES, async (h) => {
    const badge = newBadge(), plate = `PB-${randomBytes(2).toString("hex").toUpperCase()}`;
    await buyPermit(h, { badge, plate });
    const decisions = h.seen("entry/decision", "E1").length;
    await h.carAtEntry("E1", { plate });
    const decision = await h.entryDecision("E1", decisions);
    expect(decision).to.include({ decision: "admit", pool: "permit" });
    expect(h.printed("E1").length, "no ticket for a permit's plate").to.equal(0);
    const entry = await h.carEntered("E1");
    const sessionId = await sessionOfEntry(h, entry);

    await h.sleep(PACE.nextCarMs);
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.presentBadge("L1", badge);
    await h.waitUntil(() => h.seen("payment/success", "L1").some((m) => m.session_id === sessionId), 10_000, "payment/success for the plate's session");
    await assertExitCompletes(h, "L1", sessionId);
  });

  scenario("entry while the cloud is down → exit after reconnection, counts reconciled", { ...LANES, offlineAfterS: 2 }, async (h) => {
    const before = await occupied(h);
    await h.cloudBrokerDown();
    await h.waitUntil(() => !h.gateway.services.bridge.connected, 10_000, "the gateway to see the cloud gone");
    await h.sleep(3000);
    const plate = await h.carAtEntry("E1", { readPlate: false });
    await h.waitEntryPhase("E1", ["identifying", "awaiting_cloud"]);
    const printedBefore = h.printed("E1").length;
    h.pressTicket("E1");
    const ticket = await h.ticketPrinted("E1", printedBefore);
    const entry = await h.carEntered("E1");
    expect(entry).to.include({ decided_by: "offline_ticket" });
    expect(entry).to.not.have.property("session_id");

    await h.sleep(20 * 60_000); // past the grace period: the exit has something to pay
    await h.cloudBrokerUp();
    const sessionId = await sessionOfEntry(h, entry);
    expect((await getSession(h.cloud.db.sql, sessionId)).status).to.equal("active");
    await h.waitUntil(async () => (await occupied(h)) === before + 1, 15_000, "the offline entry counted once the outbox drained");

    h.step(`the driver types the ticket's code at the pay station (${plate})`);
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    await h.enterPin("L1", `${ticket.code}#`);
    const req = await h.paymentRequest("L1");
    expect(req.session_id).to.equal(sessionId);
    const card = await h.payWithCard("L1");
    expect(card.ok).to.equal(true);
    await assertExitCompletes(h, "L1", sessionId);
    await h.waitUntil(async () => (await occupied(h)) === before, 10_000, "the counts back where they were");
  });

  scenario("online PIN exit: a staff car types its exit PIN while the cloud is reachable and leaves at no charge", LANES, async (h) => {
    const { entryId } = await h.grantAccess({ kind: "pin", pin: "8642", label: "Staff (HIL)" });
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    await h.enterPin("L1", "8642#");
    let success: Record<string, unknown> | undefined;
    await h.waitUntil(() => (success = h.seen("payment/success", "L1").find((m) => m.provider_ref === "no_charge")) !== undefined, 10_000, "payment/success for the PIN");
    const sessionId = String(success!.session_id);
    expect(await getSession(h.cloud.db.sql, sessionId)).to.include({ identityMethod: "pin", identityValue: entryId, amount: 0 });
    expect(await h.auditKinds(sessionId)).to.include("exit.pin_authorised");
    await assertExitCompletes(h, "L1", sessionId);
  });

  scenario("lost ticket without a plate match: the pay station's key asks for the fixed fee", LANES, async (h) => {
    await ticketEntry(h, "E1");
    await h.sleep(20 * 60_000);
    h.step("the driver has lost the ticket; the exit camera cannot read the plate");
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.pressLost("L1");
    const req = await h.paymentRequest("L1");
    expect(req).to.include({ amount: 4000, duration: 0 });
    const sessionId = String(req.session_id);
    const [declared] = await findAuditEntries(h.cloud.db.sql, { sessionId, kind: "ticket.lost_declared" });
    expect(declared?.payload, "the lost ticket in the audit, priced as such").to.deep.include({ matched_session: false, pricing: "fixed_lost_ticket_fee" });
    expect((await h.payWithCard("L1")).ok).to.equal(true);
    await assertExitCompletes(h, "L1", sessionId);
  });

  scenario("lost ticket with a plate match: the operator declares it with the plate, priced from that car's entry", LANES, async (h) => {
    const plate = `LT-${randomBytes(2).toString("hex").toUpperCase()}`;
    await h.carAtEntry("E1", { plate });
    const entry = await h.carEntered("E1");
    const sessionId = await sessionOfEntry(h, entry);
    await h.sleep(20 * 60_000);
    h.step("at the exit the camera misses the plate; the driver has no ticket and calls the operator");
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    const r = await h.operatorApi("POST", `/api/console/sites/${DEMO_SITE.siteId}/lost-ticket`, { lane: "L1", plate, reason: "driver lost the ticket, plate read on the camera" });
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    const req = await h.paymentRequest("L1");
    expect(req.session_id, "the plate's own session").to.equal(sessionId);
    expect(req.amount).to.equal(4000);
    expect(req.duration as number, "priced from the car's entry").to.be.at.least(20 * 60);
    const [declared] = await findAuditEntries(h.cloud.db.sql, { sessionId, kind: "ticket.lost_declared" });
    expect(declared?.payload).to.deep.include({ matched_session: true, pricing: "from_entry_with_lost_ticket_rule" });
    expect((await h.payWithCard("L1")).ok).to.equal(true);
    await assertExitCompletes(h, "L1", sessionId);
  });

  scenario("merchant validation halves the fee: the shop's code scanned at the pay station", LANES, async (h) => {
    const { ticket, sessionId } = await ticketEntry(h, "E1");
    await h.sleep(20 * 60_000);
    await h.vehicleArrives("L1", { entry: false, readPlate: false });
    await h.waitPhase("L1", "identifying");
    h.scan("L1", ticketQr(ticket.ticketId));
    const full = await h.paymentRequest("L1");
    expect(full.session_id).to.equal(sessionId);
    const before = h.seen("payment/req", "L1").length;
    const code = await merchantCode(h);
    h.scan("L1", `SPV1.${code}`);
    await h.waitUntil(() => h.seen("payment/req", "L1").length > before, 10_000, "a new payment/req after the validation");
    const half = h.seen("payment/req", "L1")[before];
    expect(half.session_id).to.equal(sessionId);
    expect(half.amount).to.equal(Math.round((full.amount as number) / 2));
    expect(await h.auditKinds(sessionId)).to.include("validation.applied");
    expect((await h.payWithCard("L1")).ok).to.equal(true);
    await assertExitCompletes(h, "L1", sessionId);
  });

  scenario("anti-passback: a permit badge already inside is refused at the entry; the operator clears it and it enters", LANES, async (h) => {
    const badge = newBadge(), plate = `AP-${randomBytes(2).toString("hex").toUpperCase()}`;
    await buyPermit(h, { badge, plate });
    await h.carAtEntry("E1", { readPlate: false });
    await h.waitEntryPhase("E1", ["identifying", "awaiting_cloud"]);
    h.presentBadge("E1", badge);
    const first = await sessionOfEntry(h, await h.carEntered("E1"));

    await h.sleep(PACE.nextCarMs);
    h.step("the badge is passed back to a second car");
    const decisions = h.seen("entry/decision", "E1").length;
    await h.carAtEntry("E1", { readPlate: false });
    await h.waitEntryPhase("E1", ["identifying", "awaiting_cloud"]);
    h.presentBadge("E1", badge);
    const refused = await h.entryDecision("E1", decisions);
    expect(refused).to.include({ decision: "refuse", reason: "passback" });
    await h.waitUntil(() => (h.lane("E1").field.display?.() ?? []).some((l) => /deja|already|passback/i.test(l)), 5000, "the refusal on the entry display");
    const [audited] = (await findAuditEntries(h.cloud.db.sql, { kind: "entry.refused" })).filter((r) => (r.payload as { event_id?: string }).event_id === refused.event_id);
    expect(audited?.payload, "the refusal audited").to.include({ reason: "passback" });
    expect(h.lane("E1").barrierDut.lines.filter((l) => l.dir === "rx" && l.type === "OPEN"), "the barrier stayed shut").to.have.length(1);

    const r = await h.operatorApi("POST", `/api/console/sites/${DEMO_SITE.siteId}/passback`, { method: "badge", value: badge, reason: "the holder's car left while the barrier was up" });
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect((await getSession(h.cloud.db.sql, first)).status, "the first stay flagged, not silently closed").to.equal("flagged");
    await h.sleep(PACE.hesitateMs);
    const again = h.seen("entry/decision", "E1").length;
    h.presentBadge("E1", badge);
    expect(await h.entryDecision("E1", again)).to.include({ decision: "admit", pool: "permit" });
    await h.carEntered("E1");
  });

  scenario("site full: a ticket is refused, a permit and a reservation are admitted to the spaces held for them", { ...LANES, timeoutMs: 180_000 }, async (h) => {
    const badge = newBadge(), permitPlate = `FP-${randomBytes(2).toString("hex").toUpperCase()}`, resaPlate = `FR${randomBytes(2).toString("hex").toUpperCase()}`;
    await buyPermit(h, { badge, plate: permitPlate });
    const booked = await bookReservation(h, resaPlate, Date.now() + 60_000, Date.now() + 2 * 3600_000);
    const site = await siteOccupancy(h.cloud.db.sql, DEMO_SITE.siteId);
    if (!site || site.capacity === null) throw new Error("the demo site has no capacity");
    const capacity = site.capacity;
    await setSpaces(h, { capacity, permit_spots: 1, reservation_spots: 1 });
    // Every space for tickets taken: an operator's count adjust stands for the cars.
    const fill = capacity - 2 - site.pools.transient;
    const adjust = (delta: number, reason: string) => h.operatorApi("POST", `/api/console/sites/${DEMO_SITE.siteId}/occupancy`, { pool: "transient", delta, reason });
    if (fill !== 0) expect((await adjust(fill, "HIL: the car park fills up")).status).to.equal(200);
    try {
      await h.waitUntil(() => h.seen("site/state").some((m) => m.state === "full"), 10_000, "parking/site/state full on the site broker");
      await h.waitUntil(() => (h.lane("E1").field.display?.() ?? []).some((l) => /COMPLET/.test(l)), 10_000, "COMPLET on the entry terminal");

      h.step("a visitor presses the ticket key: refused, no ticket printed");
      const printed = h.printed("E1").length;
      let decisions = h.seen("entry/decision", "E1").length;
      await h.carAtEntry("E1", { readPlate: false });
      await h.waitEntryPhase("E1", ["identifying", "awaiting_cloud"]);
      h.pressTicket("E1");
      expect(await h.entryDecision("E1", decisions)).to.include({ decision: "refuse", reason: "full" });
      expect(h.printed("E1").length).to.equal(printed);
      h.vehicleLeaves("E1");
      await h.sleep(PACE.nextCarMs);

      h.step("the permit holder's badge: admitted to the permit spaces");
      decisions = h.seen("entry/decision", "E1").length;
      await h.carAtEntry("E1", { readPlate: false });
      await h.waitEntryPhase("E1", ["identifying", "awaiting_cloud"]);
      h.presentBadge("E1", badge);
      expect(await h.entryDecision("E1", decisions)).to.include({ decision: "admit", pool: "permit" });
      const permitSession = await sessionOfEntry(h, await h.carEntered("E1"));
      expect((await getSession(h.cloud.db.sql, permitSession)).pool).to.equal("permit");
      await h.sleep(PACE.nextCarMs);

      h.step("the reservation's plate: admitted to the reserved spaces");
      decisions = h.seen("entry/decision", "E1").length;
      await h.carAtEntry("E1", { plate: resaPlate });
      expect(await h.entryDecision("E1", decisions)).to.include({ decision: "admit", pool: "reservation" });
      const resaSession = await sessionOfEntry(h, await h.carEntered("E1"));
      await h.sleep(20 * 60_000);

      h.step("the reservation leaves within its window: nothing to pay");
      await h.vehicleArrives("L1", { entry: false, readPlate: false });
      await h.waitPhase("L1", "identifying");
      h.scan("L1", `SPR1.${booked.code}`);
      await h.waitUntil(() => h.seen("payment/success", "L1").some((m) => m.session_id === resaSession), 10_000, "payment/success for the reservation");
      await assertExitCompletes(h, "L1", resaSession);
    } finally {
      if (fill !== 0) await adjust(-fill, "HIL: the scenario's stand-in cars leave");
      await setSpaces(h, { capacity, permit_spots: 0, reservation_spots: 0 });
    }
  });

  scenario("gateway dies while the entry barrier opens for a ticket: the restarted gateway reports the entry once", LANES, async (h) => {
    const before = await occupied(h);
    await h.carAtEntry("E1", { readPlate: false });
    await h.waitEntryPhase("E1", ["identifying", "awaiting_cloud"]);
    const printed = h.printed("E1").length;
    h.pressTicket("E1");
    const ticket = await h.ticketPrinted("E1", printed);
    await h.lane("E1").barrierDut.expect(/^rx \d+ OPEN\b/, 10_000);
    await h.restartGateway();
    await h.vehiclePasses("E1", 20_000);
    await h.waitUntil(() => h.seen("entry", "E1").length > 0, 15_000, "parking/entry from the restarted gateway");
    const entry = h.seen("entry", "E1")[0];
    expect(entry.identity).to.deep.equal({ method: "ticket", value: ticket.ticketId });
    const sessionId = await sessionOfEntry(h, entry);
    await h.waitUntil(async () => (await occupied(h)) === before + 1, 10_000, "the car counted once");
    await h.sleep(PACE.nextCarMs);
    expect(h.seen("entry", "E1"), "reported once").to.have.length(1);
    expect((await getSession(h.cloud.db.sql, sessionId)).status).to.equal("active");
  });
});
