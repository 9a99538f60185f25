/**
 * The entry lanes' cloud flows on a real database (run on PGlite and on the PostgreSQL server):
 * the entry decision matrix (open / full / closed × ticket / plate / permit / reservation), anti-
 * passback refused and cleared by an operator, duplicates acting once, offline entries with a
 * valid and a forged ticket, a superseded session counted off once, exits by any linked identity
 * (permit plate in → badge out, ticket in → out by code and by id, the exit camera's plate
 * linked), an online PIN exit, an unknown identity raising an operator task. After every test the
 * counters equal their ledger's sums.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { issueTicket } from "../../../contracts/ticket";
import type { Payload } from "../../../contracts/mqtt-topics";
import { findAuditEntries, getSession, identitiesOf, insertTariff, ledgerSums, linkIdentity, occupancyOf, upsertAccessEntry, upsertSite, type Database, type Json } from "../../../cloud/db/index";
import { siteEventHandler, type FlowContext } from "../../../cloud/flows/site-events";
import { adjustOccupancy, clearPassback } from "../../../cloud/flows/occupancy-actions";
import type { AuditMode } from "../../../cloud/server/audit-chain";
import { parisCentreDocument } from "../../../cloud/tariffs/examples/paris-centre";
import { silentLogger } from "../../../host/log";

const KEY = "test-acl-key-entry-suite-0123456789";
const SRC = "gw-test";
const rnd = () => randomBytes(4).toString("hex");
const ev = () => `ev-${rnd()}${rnd()}`;
const plate = () => `AB${rnd().toUpperCase()}`;
const badge = () => rnd().toUpperCase();
const OP = { operatorId: 0, username: "op-entry", role: "operator" };

export function entrySuite(title: string, opts: { open(ctx: Mocha.Context): Promise<Database>; close(db: Database): Promise<void>; auditMode: AuditMode }): void {
  describe(title, function () {
    this.timeout(60_000);
    let db: Database;
    let ctx: FlowContext;
    let handle: ReturnType<typeof siteEventHandler>;
    const sites: string[] = [];

    before(async function () {
      this.timeout(120_000);
      db = await opts.open(this);
      ctx = { db, logger: silentLogger, src: "cloud-test", publicBaseUrl: "http://localhost", wake: () => undefined, auditMode: opts.auditMode, aclHmacKey: KEY };
      handle = siteEventHandler(ctx);
      const [op] = await db.sql<{ operatorId: string }[]>`INSERT INTO operators (username, password_hash, role) VALUES (${`op-${rnd()}`}, 'scrypt$16384$8$1$c2FsdA$aGFzaA', 'operator') RETURNING operator_id`;
      OP.operatorId = Number(op.operatorId);
    });
    afterEach(async () => {
      // The invariant, whatever the test did: every counter equals its ledger's sum.
      for (const s of sites.splice(0)) {
        const o = await occupancyOf(db.sql, s);
        expect(o?.pools, `site ${s}`).to.deep.equal(await ledgerSums(db.sql, s));
      }
    });
    after(async () => {
      if (db) await opts.close(db);
    });

    async function newSite(o: { capacity?: number; permitSpots?: number; reservationSpots?: number } = {}): Promise<string> {
      const siteId = `e-${rnd()}`;
      await upsertSite(db.sql, { siteId, name: `Entry ${siteId}`, timeZone: "Europe/Paris", currency: "EUR" });
      await db.sql`UPDATE sites SET capacity = ${o.capacity ?? null}, permit_spots = ${o.permitSpots ?? 0}, reservation_spots = ${o.reservationSpots ?? 0} WHERE site_id = ${siteId}`;
      await insertTariff(db.sql, { siteId, version: 1, effectiveFrom: new Date(parisCentreDocument.effective_from), document: parisCentreDocument as unknown as Json });
      sites.push(siteId);
      return siteId;
    }

    async function addPermit(siteId: string, p: { badge?: string; plate?: string }): Promise<void> {
      const planId = `plan-${rnd()}`;
      await db.sql`INSERT INTO permit_plans (plan_id, site_id, name, period, amount, currency, benefit, max_permits) VALUES (${planId}, ${siteId}, 'Monthly', 'month', 9000, 'EUR', 'free', 10)`;
      await db.sql`INSERT INTO permits (permit_id, plan_id, site_id, holder_email, badge_uid, plate, status, manage_token)
                   VALUES (${`pmt_${rnd()}${rnd()}`}, ${planId}, ${siteId}, 'holder@example.com', ${p.badge ?? null}, ${p.plate ?? null}, 'active', ${`tok${rnd()}${rnd()}${rnd()}`})`;
      if (p.badge) await db.tx((tx) => upsertAccessEntry(tx, { siteId, entryId: `b-${p.badge}`, badgeUid: p.badge, label: "permit", subscriber: true }));
    }

    const base = (lane = "E1") => ({ ts: Date.now(), src: SRC, lane_id: lane });
    const request = (siteId: string, p: Omit<Payload<"entryReq">, "ts" | "src" | "lane_id"> & { lane_id?: string }) => handle(siteId, "entryReq", { ...base(p.lane_id), ...p });
    const entry = (siteId: string, p: Omit<Payload<"entry">, "ts" | "src" | "lane_id"> & { lane_id?: string }) => handle(siteId, "entry", { ...base(p.lane_id), ...p });
    const exitReq = (siteId: string, p: Omit<Payload<"exitReq">, "ts" | "src" | "lane_id">) => handle(siteId, "exitReq", { ...base("X1"), ...p });

    async function decision(siteId: string, eventId: string): Promise<Payload<"entryDecision">[]> {
      const rows = await db.sql<{ payload: Payload<"entryDecision"> }[]>`SELECT payload FROM outbox WHERE topic = ${`syspark/${siteId}/parking/entry/decision`} AND payload->>'event_id' = ${eventId} ORDER BY id`;
      return rows.map((r) => r.payload);
    }
    async function lastSiteState(siteId: string): Promise<Payload<"siteState"> | undefined> {
      const [row] = await db.sql<{ payload: Payload<"siteState"> }[]>`SELECT payload FROM outbox WHERE topic = ${`syspark/${siteId}/parking/site/state`} ORDER BY id DESC LIMIT 1`;
      return row?.payload;
    }
    /** Asked, admitted, entered: the session id. */
    async function enterOnline(siteId: string, identity: Payload<"entryReq">["identity"], extra: { ticket?: Payload<"entry">["ticket"]; plate?: string } = {}): Promise<string> {
      const e = ev();
      expect(await request(siteId, { event_id: e, identity, ...extra })).to.equal("admitted");
      const [d] = await decision(siteId, e);
      expect(await entry(siteId, { event_id: ev(), identity, session_id: d.session_id, decided_by: "cloud", ...extra })).to.equal("created");
      return d.session_id as string;
    }

    it("decides: open admits ticket, plate and permit; full refuses tickets and plates but admits permits within their spaces; closed refuses all", async () => {
      const siteId = await newSite({ capacity: 2, permitSpots: 1 });
      const permitPlate = plate();
      await addPermit(siteId, { plate: permitPlate });
      const t = issueTicket(siteId, KEY, Date.now());
      await enterOnline(siteId, { method: "ticket", value: t.id }, { ticket: t });
      expect((await occupancyOf(db.sql, siteId))?.state).to.equal("full"); // 2 places, 1 held for permits
      const e1 = ev();
      expect(await request(siteId, { event_id: e1, identity: { method: "plate", value: plate() } })).to.equal("refused_full");
      expect((await decision(siteId, e1))[0]).to.include({ decision: "refuse", reason: "full" });
      const t2 = issueTicket(siteId, KEY, Date.now());
      expect(await request(siteId, { event_id: ev(), identity: { method: "ticket", value: t2.id }, ticket: t2 })).to.equal("refused_full");
      const permitSession = await enterOnline(siteId, { method: "plate", value: permitPlate });
      expect((await getSession(db.sql, permitSession)).pool).to.equal("permit");
      expect((await occupancyOf(db.sql, siteId))?.pools).to.deep.equal({ transient: 1, permit: 1, reservation: 0 });
      expect(await lastSiteState(siteId)).to.include({ state: "full", occupied: 2, capacity: 2, free: 0 });
      await db.sql`UPDATE sites SET entries_closed = true WHERE site_id = ${siteId}`;
      const e2 = ev();
      expect(await request(siteId, { event_id: e2, identity: { method: "plate", value: permitPlate.replace("AB", "CD") } })).to.equal("refused_closed");
      expect((await decision(siteId, e2))[0].lines?.[0]).to.equal("Parking ferme");
      const refused = (await findAuditEntries(db.sql, { kind: "entry.refused" })).filter((a) => (a.payload as { site_id: string }).site_id === siteId);
      expect(refused.map((a) => (a.payload as { reason: string }).reason).sort()).to.deep.equal(["closed", "full", "full"]);
    });

    it("refuses a ticket whose signature does not verify (invalid_ticket, audited) and an unknown reservation or badge", async () => {
      const siteId = await newSite();
      const t = issueTicket(siteId, "another-key-0123456789", Date.now());
      const e = ev();
      expect(await request(siteId, { event_id: e, identity: { method: "ticket", value: t.id }, ticket: t })).to.equal("refused_invalid_ticket");
      expect((await decision(siteId, e))[0]).to.include({ reason: "invalid_ticket" });
      expect(await request(siteId, { event_id: ev(), identity: { method: "reservation", value: "RES12345" } })).to.equal("refused_no_reservation");
      expect(await request(siteId, { event_id: ev(), identity: { method: "badge", value: badge() } })).to.equal("refused_unknown");
    });

    it("anti-passback: a plate inside is refused with a reason on the display, audited; an operator's clear lets it in again", async () => {
      const siteId = await newSite({ capacity: 10 });
      const p = plate();
      const first = await enterOnline(siteId, { method: "plate", value: p });
      const e = ev();
      expect(await request(siteId, { event_id: e, identity: { method: "plate", value: p } })).to.equal("refused_passback");
      expect((await decision(siteId, e))[0]).to.deep.include({ decision: "refuse", reason: "passback", lines: ["Deja entre", "Already inside", "Appel operateur", "Call operator"] });
      const [audit] = (await findAuditEntries(db.sql, { kind: "entry.refused", sessionId: first }));
      expect(audit.payload).to.include({ reason: "passback", inside_session_id: first });
      // A ticket taken by the same car (the camera read its plate) is refused too.
      const t = issueTicket(siteId, KEY, Date.now());
      expect(await request(siteId, { event_id: ev(), identity: { method: "ticket", value: t.id }, ticket: t, plate: p })).to.equal("refused_passback");
      await clearPassback(ctx, siteId, { method: "plate", value: p, reason: "car left with the barrier up" }, OP);
      expect((await getSession(db.sql, first))).to.include({ status: "flagged", counted: false });
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(0);
      expect((await findAuditEntries(db.sql, { kind: "passback.cleared", sessionId: first }))[0].payload).to.include({ operator: OP.username, counted_off: true });
      await enterOnline(siteId, { method: "plate", value: p });
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(1);
    });

    it("a duplicate entry/req answers once and a duplicate entry opens and counts once", async () => {
      const siteId = await newSite();
      const e = ev();
      const identity = { method: "plate" as const, value: plate() };
      expect(await request(siteId, { event_id: e, identity })).to.equal("admitted");
      expect(await request(siteId, { event_id: e, identity })).to.equal("duplicate");
      const decisions = await decision(siteId, e);
      expect(decisions).to.have.length(1);
      const passed = { event_id: ev(), identity, session_id: decisions[0].session_id, decided_by: "cloud" as const };
      expect(await entry(siteId, passed)).to.equal("created");
      expect(await entry(siteId, passed)).to.equal("duplicate");
      expect(await entry(siteId, { ...passed, event_id: ev() })).to.equal("duplicate"); // same session named again
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(1);
    });

    it("offline entries: a valid ticket opens a counted session by id and code; a forged one is counted, open (the car pays and leaves) and a task for the operators", async () => {
      const siteId = await newSite();
      const t = issueTicket(siteId, KEY, Date.now());
      expect(await entry(siteId, { event_id: ev(), identity: { method: "ticket", value: t.id }, ticket: t, decided_by: "offline_ticket" })).to.equal("created");
      const forged = { ...issueTicket(siteId, KEY, Date.now()), code: "12345678" };
      expect(await entry(siteId, { event_id: ev(), identity: { method: "ticket", value: forged.id }, ticket: forged, decided_by: "offline_ticket" })).to.equal("created_for_review");
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(2);
      const [review] = (await findAuditEntries(db.sql, { kind: "entry.review" })).filter((a) => (a.payload as { ticket_id: string }).ticket_id === forged.id);
      expect(review.payload).to.include({ forged_ticket: true });
      expect(String((review.payload as { reason: string }).reason)).to.match(/signature/);
      const s = await getSession(db.sql, review.sessionId as string);
      expect(s, "the car is inside: never stuck behind a flag").to.include({ status: "active", counted: true });
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "ticket", value: forged.id } }), "its ticket finds its session (priced: within the grace period here)").to.equal("zero_fee");
      const [task] = await db.sql<{ code: string; detail: string; clearedAt: Date | null }[]>`SELECT code, detail, cleared_at FROM site_alarms WHERE site_id = ${siteId} AND code = 'FORGED_TICKET'`;
      expect(task).to.include({ clearedAt: null });
      expect(task.detail).to.contain(forged.id);
    });

    it("a new entry of an identity inside flags the previous session (left without a recorded exit) and counts it off once", async () => {
      const siteId = await newSite();
      const p = plate();
      expect(await entry(siteId, { event_id: ev(), identity: { method: "plate", value: p }, decided_by: "offline_permit" })).to.equal("created");
      expect(await entry(siteId, { event_id: ev(), identity: { method: "plate", value: p }, decided_by: "offline_permit" })).to.equal("created");
      const rows = await db.sql<{ status: string; counted: boolean; flagReason: string | null }[]>`SELECT status, counted, flag_reason FROM sessions WHERE site_id = ${siteId} ORDER BY created_at`;
      expect(rows.map((r) => [r.status, r.counted])).to.deep.equal([["flagged", false], ["active", true]]);
      expect(rows[0].flagReason).to.match(/left without a recorded exit/);
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(1);
      const moves = await db.sql<{ delta: number; reason: string }[]>`SELECT delta, reason FROM occupancy_moves WHERE site_id = ${siteId} ORDER BY id`;
      expect(moves.map((m) => `${m.reason}${m.delta}`)).to.deep.equal(["entry1", "flagged-1", "entry1"]);
    });

    it("exits by any linked identity: permit plate in → badge out; ticket in → out by code and by id; the exit camera's plate is linked", async () => {
      const siteId = await newSite();
      const p = plate(), b = badge();
      await addPermit(siteId, { badge: b, plate: p });
      const permitSession = await enterOnline(siteId, { method: "plate", value: p });
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "badge", value: b } })).to.equal("zero_fee");
      expect((await getSession(db.sql, permitSession)).status).to.equal("paid");

      const t = issueTicket(siteId, KEY, Date.now());
      const ticketSession = await enterOnline(siteId, { method: "ticket", value: t.id }, { ticket: t });
      const lpr = plate();
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "ticket", value: t.code }, plate: lpr })).to.match(/zero_fee|payment_requested/);
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "ticket", value: t.id } })).to.match(/zero_fee|payment_requested|already_paid/);
      const linked = await identitiesOf(db.sql, ticketSession);
      expect(linked.map((l) => `${l.method}:${l.value}:${l.source}`)).to.include.members([`ticket:${t.id}:session`, `ticket:${t.code}:ticket_code`, `plate:${lpr}:exit_plate`]);
      expect((await findAuditEntries(db.sql, { kind: "session.identity_linked", sessionId: ticketSession }))).to.have.length(1);
      // Now the plate alone finds it too.
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "plate", value: lpr } })).to.not.equal("unknown_identity");
    });

    it("an exit done takes the car off once; a PIN exit with no session is an authorised zero-fee exit, not counted", async () => {
      const siteId = await newSite();
      const p = plate();
      const s = await enterOnline(siteId, { method: "plate", value: p });
      await db.sql`UPDATE sessions SET status = 'paid', amount = 0, currency = 'EUR', paid_at = now() WHERE session_id = ${s}`;
      const done = { event_id: ev(), lane_id: "X1", session_id: s, barrier_result: "opened" as const, passed: true, decided_by: "cloud" as const };
      expect(await handle(siteId, "exitDone", { ts: Date.now(), src: SRC, ...done })).to.equal("closed");
      expect(await handle(siteId, "exitDone", { ts: Date.now(), src: SRC, ...done, event_id: ev() })).to.equal("duplicate");
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(0);
      expect(await lastSiteState(siteId)).to.include({ state: "open", occupied: 0 });

      await db.tx((tx) => upsertAccessEntry(tx, { siteId, entryId: "pin-staff", pinHash: "scrypt$16384$8$1$c2FsdA$aGFzaA", label: "Staff" }));
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "pin", value: "pin-staff" } })).to.equal("pin_authorised");
      const [a] = (await findAuditEntries(db.sql, { kind: "exit.pin_authorised" })).filter((x) => (x.payload as { site_id: string }).site_id === siteId);
      const pinSession = await getSession(db.sql, a.sessionId as string);
      expect(pinSession).to.include({ status: "paid", amount: 0, identityMethod: "pin", identityValue: "pin-staff", counted: false });
      const [success] = await db.sql<{ payload: Payload<"paymentSuccess"> }[]>`SELECT payload FROM outbox WHERE topic = ${`syspark/${siteId}/parking/payment/success`} AND payload->>'session_id' = ${pinSession.sessionId}`;
      expect(success.payload).to.include({ provider_ref: "no_charge", amount: 0 });
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(0);
      expect(await handle(siteId, "exitDone", { ts: Date.now(), src: SRC, ...done, event_id: ev(), session_id: pinSession.sessionId })).to.equal("closed");
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(0); // never counted in, nothing counted off
      // A deleted PIN entry is an unknown identity.
      await db.sql`UPDATE access_list_entries SET deleted = true WHERE site_id = ${siteId} AND entry_id = 'pin-staff'`;
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "pin", value: "pin-staff" } })).to.equal("unknown_identity");
    });

    it("a PIN typed by a guest whose plate the exit camera read lets THAT car's session out at zero fee (counted off, the PIN linked)", async () => {
      const siteId = await newSite();
      const t = issueTicket(siteId, KEY, Date.now());
      const guest = plate();
      const s = await enterOnline(siteId, { method: "ticket", value: t.id }, { ticket: t });
      expect((await occupancyOf(db.sql, siteId))?.total).to.equal(1);
      await db.tx((tx) => upsertAccessEntry(tx, { siteId, entryId: "pin-guest", pinHash: "scrypt$16384$8$1$c2FsdA$aGFzaA", label: "Guest" }));
      // The entry camera read the guest's plate (linked to the ticket); at the exit the guest has no ticket but a PIN from the operator.
      await db.tx((tx) => linkIdentity(tx, { siteId, sessionId: s, identity: { method: "plate", value: guest }, source: "entry_plate" }));
      expect(await exitReq(siteId, { event_id: ev(), identity: { method: "pin", value: "pin-guest" }, plate: guest })).to.equal("pin_authorised");
      expect(await getSession(db.sql, s)).to.include({ status: "paid", amount: 0 });
      expect(await handle(siteId, "exitDone", { ts: Date.now(), src: SRC, event_id: ev(), lane_id: "X1", session_id: s, barrier_result: "opened", passed: true, decided_by: "cloud" })).to.equal("closed");
      expect((await occupancyOf(db.sql, siteId))?.total, "the guest's car counted off").to.equal(0);
      const [a] = (await findAuditEntries(db.sql, { sessionId: s, kind: "exit.pin_authorised" }));
      expect(a.payload).to.include({ session_of_plate: true, access_entry: "pin-guest", plate_read: guest });
    });

    it("an unknown identity tells the driver the other ways out and gives the operator a task with the plate read and the time", async () => {
      const siteId = await newSite();
      const lpr = plate();
      const e = ev();
      expect(await exitReq(siteId, { event_id: e, identity: { method: "ticket", value: "87654321" }, plate: lpr })).to.equal("unknown_identity");
      const [text] = await db.sql<{ payload: Payload<"displayText"> }[]>`SELECT payload FROM outbox WHERE topic = ${`syspark/${siteId}/parking/display/text`}`;
      expect(text.payload.lines.join(" ")).to.match(/Badge ou ticket/).and.match(/Ticket perdu/);
      const [alarm] = await db.sql<{ code: string; severity: string; detail: string; clearedAt: Date | null }[]>`SELECT code, severity, detail, cleared_at FROM site_alarms WHERE site_id = ${siteId}`;
      expect(alarm).to.include({ code: "UNKNOWN_IDENTITY", severity: "warning", clearedAt: null });
      expect(alarm.detail).to.contain(`plate ${lpr} read`).and.contain("ticket 87654321");
      const [audit] = (await findAuditEntries(db.sql, { kind: "exit.unknown_identity" })).filter((x) => (x.payload as { event_id: string }).event_id === e);
      expect(audit.payload).to.include({ plate_read: lpr, lane_id: "X1" });
    });

    it("an operator's count adjust is audited, moves the ledger and the state, and is refused below 0", async () => {
      const siteId = await newSite({ capacity: 3 });
      expect(await adjustOccupancy(ctx, siteId, { pool: "transient", set_to: 3, reason: "counted by hand" }, OP)).to.deep.equal({ before: 0, after: 3 });
      expect(await lastSiteState(siteId)).to.include({ state: "full", occupied: 3 });
      let err: Error | undefined;
      await adjustOccupancy(ctx, siteId, { pool: "transient", delta: -4, reason: "too many" }, OP).catch((e: Error) => (err = e));
      expect(err?.message).to.match(/cannot go below 0/);
      await adjustOccupancy(ctx, siteId, { pool: "transient", delta: -3, reason: "all gone" }, OP);
      const audits = (await findAuditEntries(db.sql, { kind: "occupancy.adjusted" })).filter((x) => (x.payload as { site_id: string }).site_id === siteId);
      expect(audits.map((a) => (a.payload as { after: number }).after)).to.deep.equal([3, 0]);
    });
  });
}
