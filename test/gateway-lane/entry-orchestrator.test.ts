/**
 * The entry lane's orchestrator behind fake ports (gateway/lane/entry-orchestrator.ts): identity
 * order, the cloud's decision acted on once, the two keys, parking/entry only when the car
 * entered, and the offline policy on the local occupancy.
 */
import { expect } from "chai";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { schemas } from "../../contracts/mqtt-topics";
import { issueTicket, ticketSignatureOk, type Ticket } from "../../contracts/ticket";
import type { Fields } from "../../firmware/common/link/frame";
import { validateMessage } from "../../firmware/common/link/messages";
import { AccessList, signAcl } from "../../gateway/lane/access-list";
import { EntryOrchestrator } from "../../gateway/lane/entry-orchestrator";
import { FileAdmissionStore, type AdmissionStore } from "../../gateway/lane/entry-admissions";
import type { SiteView } from "../../gateway/lane/site-occupancy";

const KEY = "test-acl-key-0123456789";
const SITE = "site-a";

function setup(opts: { online?: boolean; site?: SiteView; tickets?: boolean; admissions?: AdmissionStore } = {}) {
  const toExit: { type: string; fields: Fields }[] = [];
  const toBarrier: { type: string; fields: Fields }[] = [];
  const events: { key: string; payload: Record<string, unknown> }[] = [];
  let now = 1_000_000, ids = 0;
  const site = { view: opts.site ?? { state: "open" } as SiteView };
  const acl = new AccessList(join(mkdtempSync(join(tmpdir(), "entry-acl-")), "acl.json"), KEY);
  const issued: Ticket[] = [];
  const lane = new EntryOrchestrator("E1", {
    toExit: (type, fields) => toExit.push({ type, fields }),
    toBarrier: (type, fields) => toBarrier.push({ type, fields }),
    emit: (key, payload) => events.push({ key, payload: payload as Record<string, unknown> }),
    now: () => now,
    newId: (prefix) => `${prefix}-${++ids}`,
  }, {
    acl,
    site: () => site.view,
    issueTicket: opts.tickets === false ? undefined : (at) => { const t = issueTicket(SITE, KEY, at); issued.push(t); return t; },
    ...(opts.admissions ? { admissions: opts.admissions } : {}),
  }, { trustedBadges: true, exitPins: true, operatorOverride: true, plateWindowMs: 10_000 });
  lane.onExitLink(true);
  lane.onBarrierLink(true);
  lane.setCloudOnline(opts.online ?? true);
  lane.onBarrierMessage("BARRIER", { state: "closed", pos: "0" });
  const ev = (key: string) => events.filter((e) => e.key === key).map((e) => e.payload);
  const frames = (type: string) => toExit.filter((m) => m.type === type).map((m) => m.fields);
  const decide = (fields: Record<string, unknown>) => lane.onCloudMessage("entryDecision", { ts: 1, src: "cloud", lane_id: "E1", decision: "admit", ...fields } as never);
  /** The barrier stand-in answers OPEN: opening, open. */
  const opens = () => { lane.onBarrierMessage("BARRIER", { state: "opening", pos: "40" }); lane.onBarrierMessage("BARRIER", { state: "open", pos: "100" }); };
  const trustBadge = (uid: string) => {
    const full = { ts: 1, src: "cloud", version: 1, entries: [{ kind: "badge", id: uid, label: "abonne" }] };
    expect(acl.apply("full", { ...full, sig: signAcl(full, KEY) } as never)).to.equal("applied");
  };
  return { lane, toExit, toBarrier, events, ev, frames, decide, opens, site, issued, trustBadge, tick: (ms: number) => { now += ms; } };
}

/** Every frame the lane sends must be one the serial link accepts (it throws otherwise). */
function framesValid(frames: { type: string; fields: Fields }[]): void {
  for (const f of frames) expect(validateMessage(f.type, 1, f.fields), `${f.type} ${JSON.stringify(f.fields)}`).to.deep.include({ ok: true });
}

describe("gateway entry lane orchestration", () => {
  it("admits a plate read by the camera: entry/req → admit → ADMIT → AUTHORISED → OPEN → ENTERED → parking/entry with the session", () => {
    const t = setup();
    t.lane.onPlate("AB-123-CD");
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    const req = t.ev("entryReq");
    expect(req).to.deep.equal([{ event_id: req[0].event_id, lane_id: "E1", identity: { method: "plate", value: "AB-123-CD" } }]);
    expect(t.lane.phase).to.equal("awaiting_cloud");
    t.decide({ event_id: req[0].event_id, session_id: "S1", pool: "transient", lines: ["Bienvenue"] });
    expect(t.frames("ADMIT")).to.deep.equal([{ session: "S1", msg: "Bienvenue" }]);
    expect(t.toBarrier, "one key only: the terminal has not confirmed").to.deep.equal([]);
    t.lane.onExitMessage("AUTHORISED", { session: "S1" });
    expect(t.toBarrier.map((m) => [m.type, m.fields.session])).to.deep.equal([["OPEN", "S1"]]);
    t.opens();
    expect(t.toExit.map((m) => m.type).slice(-2)).to.deep.equal(["OPENING", "OPENED"]);
    t.lane.onBarrierMessage("PASSED", {});
    t.lane.onExitMessage("PRESENCE", { present: "0" });
    expect(t.ev("entry"), "not before the terminal says ENTERED").to.deep.equal([]);
    t.lane.onExitMessage("ENTERED", { session: "S1" });
    const entry = t.ev("entry");
    expect(entry).to.deep.equal([{ event_id: entry[0].event_id, lane_id: "E1", identity: { method: "plate", value: "AB-123-CD" }, decided_by: "cloud", session_id: "S1", plate: "AB-123-CD" }]);
    expect(schemas.entry.safeParse({ ts: 1, src: "gw", ...entry[0] }).success).to.equal(true);
    expect(t.lane.phase).to.equal("idle");
    expect(t.ev("laneState").at(-1)).to.deep.include({ lane_id: "E1", present: false });
    framesValid(t.toExit);
  });

  it("a gateway killed while the boom is up still reports the entry: the restarted one finds the admission in its data directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "entry-admissions-"));
    const before = setup({ admissions: new FileAdmissionStore(dir, Date.now) });
    before.lane.onExitMessage("PRESENCE", { present: "1" });
    before.lane.onExitMessage("BUTTON", { name: "ticket" });
    const req = before.ev("entryReq")[0];
    before.decide({ event_id: req.event_id, session_id: "S9", pool: "transient" });
    before.lane.onExitMessage("AUTHORISED", { session: "S9" });
    expect(before.toBarrier.map((m) => m.type)).to.deep.equal(["OPEN"]);
    // SIGKILL: the next process knows nothing of the flow; the terminal finishes the entry.
    const after = setup({ admissions: new FileAdmissionStore(dir, Date.now) });
    after.lane.onExitMessage("ENTERED", { session: "S9" });
    const entry = after.ev("entry");
    expect(entry).to.have.length(1);
    expect(entry[0]).to.deep.include({ lane_id: "E1", session_id: "S9", decided_by: "cloud", identity: { method: "ticket", value: before.issued[0].id } });
    expect(entry[0].ticket).to.deep.equal(before.issued[0]);
    // Reported once: a repeated ENTERED (the link's retransmission) finds nothing more.
    after.lane.onExitMessage("ENTERED", { session: "S9" });
    expect(after.ev("entry")).to.have.length(1);
  });

  it("a gateway killed before the OPEN reached the barrier: the terminal's re-sync and the kept admission open it, and the entry is reported once", () => {
    const dir = mkdtempSync(join(tmpdir(), "entry-admissions-"));
    const before = setup({ admissions: new FileAdmissionStore(dir, Date.now) });
    before.lane.onExitMessage("PRESENCE", { present: "1" });
    before.lane.onExitMessage("BUTTON", { name: "ticket" });
    before.decide({ event_id: before.ev("entryReq")[0].event_id, session_id: "S7", pool: "transient" });
    // SIGKILL before the terminal's AUTHORISED arrived: no OPEN went out.
    expect(before.toBarrier).to.deep.equal([]);
    const after = setup({ admissions: new FileAdmissionStore(dir, Date.now) });
    after.lane.onExitMessage("PRESENCE", { present: "1" });
    after.lane.onExitMessage("STATE", { state: "authorised", why: "resync", session: "S7" });
    expect(after.toBarrier.map((m) => [m.type, m.fields.session]), "the car is not left at a closed barrier").to.deep.equal([["OPEN", "S7"]]);
    after.opens();
    expect(after.frames("OPENED")).to.deep.equal([{ session: "S7" }]);
    after.lane.onBarrierMessage("PASSED", { session: "S7" });
    after.lane.onExitMessage("ENTERED", { session: "S7" });
    expect(after.ev("entry").map((e) => [e.session_id, (e.identity as { method: string }).method])).to.deep.equal([["S7", "ticket"]]);
  });

  it("a gateway killed while the boom was up: the barrier's PASSED for the kept admission reports the entry, once", () => {
    const dir = mkdtempSync(join(tmpdir(), "entry-admissions-"));
    const before = setup({ admissions: new FileAdmissionStore(dir, Date.now) });
    before.lane.onPlate("AB-555-CD");
    before.lane.onExitMessage("PRESENCE", { present: "1" });
    before.decide({ event_id: before.ev("entryReq")[0].event_id, session_id: "S8", pool: "transient" });
    before.lane.onExitMessage("AUTHORISED", { session: "S8" });
    expect(before.toBarrier.map((m) => m.type)).to.deep.equal(["OPEN"]);
    // The new process never heard of S8; the terminal, without OPENED, reports the car gone as LEFT.
    const after = setup({ admissions: new FileAdmissionStore(dir, Date.now) });
    after.lane.onBarrierMessage("PASSED", { session: "S8" });
    after.lane.onExitMessage("LEFT", { session: "S8" });
    after.lane.onBarrierMessage("PASSED", { session: "S8" }); // said again (a link retransmission): still once
    const entries = after.ev("entry");
    expect(entries).to.have.length(1);
    expect(entries[0]).to.deep.include({ session_id: "S8", identity: { method: "plate", value: "AB-555-CD" }, decided_by: "cloud" });
  });

  it("the ticket key issues a ticket signed so that the cloud's verifier accepts it, sent with the plate read", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.tick(20_000); // the car came in too long after the read: no plate identity, but the plate goes along
    t.lane.onPlate("ZZ-999-ZZ");
    t.lane.onExitMessage("BUTTON", { name: "ticket" });
    const req = t.ev("entryReq");
    expect(req).to.have.length(2); // the plate read while identifying, then the ticket superseding it
    const ticketReq = req[1] as { event_id: string; identity: unknown; ticket: Ticket; plate: string };
    expect(ticketReq.identity).to.deep.equal({ method: "ticket", value: t.issued[0].id });
    expect(ticketReq.plate).to.equal("ZZ-999-ZZ");
    expect(ticketSignatureOk(SITE, ticketReq.ticket, KEY), "the cloud accepts the gateway's signature").to.equal(true);
    expect(ticketSignatureOk("other-site", ticketReq.ticket, KEY)).to.equal(false);
    expect(schemas.entryReq.safeParse({ ts: 1, src: "gw", ...ticketReq }).success).to.equal(true);
    t.decide({ event_id: req[0].event_id, session_id: "S-OLD" }); // the superseded request's answer
    expect(t.frames("ADMIT")).to.deep.equal([]);
    t.decide({ event_id: ticketReq.event_id, session_id: "S2" });
    expect(t.frames("ADMIT")).to.deep.equal([{ session: "S2", ticket: t.issued[0].id, code: t.issued[0].code }]);
    t.lane.onExitMessage("PRINTED", { ticket: t.issued[0].id, ok: "1" });
    t.lane.onExitMessage("AUTHORISED", { session: "S2" });
    t.opens();
    t.lane.onExitMessage("ENTERED", { session: "S2" });
    expect(t.ev("entry")[0]).to.deep.include({ session_id: "S2", decided_by: "cloud", ticket: t.issued[0], plate: "ZZ-999-ZZ", identity: { method: "ticket", value: t.issued[0].id } });
    framesValid(t.toExit);
  });

  it("a badge and a reservation QR are identities; any other scan is ignored with a DENY line", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("SCAN", { code: "SPK1.TAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    expect(t.frames("DENY")).to.deep.equal([{ reason: "Code non reconnu" }]);
    expect(t.ev("entryReq")).to.deep.equal([]);
    t.lane.onExitMessage("SCAN", { code: "SPR1.RESA2024X" });
    expect(t.ev("entryReq").map((r) => r.identity)).to.deep.equal([{ method: "reservation", value: "RESA2024X" }]);
    const t2 = setup();
    t2.lane.onExitMessage("PRESENCE", { present: "1" });
    t2.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    expect(t2.ev("entryReq").map((r) => r.identity)).to.deep.equal([{ method: "badge", value: "04A21F9C" }]);
  });

  it("a refusal shows the decision's line and opens nothing; the driver may try again", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    t.decide({ event_id: t.ev("entryReq")[0].event_id, decision: "refuse", reason: "passback", lines: ["Déjà dans le parking", "Appelez"] });
    expect(t.frames("DENY")).to.deep.equal([{ reason: "Deja dans le parking" }]);
    expect(t.lane.phase).to.equal("identifying");
    t.lane.onExitMessage("AUTHORISED", { session: "S1" });
    expect(t.toBarrier).to.deep.equal([]);
    t.lane.onExitMessage("BUTTON", { name: "ticket" });
    expect(t.ev("entryReq")).to.have.length(2);
    const t2 = setup();
    t2.lane.onExitMessage("PRESENCE", { present: "1" });
    t2.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    t2.decide({ event_id: t2.ev("entryReq")[0].event_id, decision: "refuse", reason: "full" });
    expect(t2.frames("DENY")).to.deep.equal([{ reason: "Complet" }]);
  });

  it("acts once on a duplicated decision, and ignores one for another request or another lane", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    const id = t.ev("entryReq")[0].event_id;
    t.decide({ event_id: "ev-elsewhere", session_id: "S-X" });
    t.decide({ event_id: id, session_id: "S-Y", lane_id: "E2" });
    expect(t.frames("ADMIT")).to.deep.equal([]);
    for (let i = 0; i < 3; i++) t.decide({ event_id: id, session_id: "S3" });
    t.decide({ event_id: id, decision: "refuse", reason: "unknown" });
    expect(t.frames("ADMIT")).to.deep.equal([{ session: "S3" }]);
    expect(t.frames("DENY")).to.deep.equal([]);
    expect(t.lane.stats.duplicateDecisions).to.equal(3);
    t.lane.onExitMessage("AUTHORISED", { session: "S3" });
    t.lane.onExitMessage("AUTHORISED", { session: "S3" });
    expect(t.toBarrier.filter((m) => m.type === "OPEN")).to.have.length(1);
  });

  it("never sends OPEN without both keys for the same session and the car on the loop", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("AUTHORISED", { session: "S4" }); // the terminal's key alone
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    t.decide({ event_id: t.ev("entryReq")[0].event_id, session_id: "S4" });
    expect(t.toBarrier, "an AUTHORISED before the admission is no key").to.deep.equal([]);
    t.lane.onExitMessage("AUTHORISED", { session: "S-OTHER" });
    expect(t.toBarrier).to.deep.equal([]);
    t.lane.onExitMessage("PRESENCE", { present: "0" }); // reversed away
    t.lane.onExitMessage("AUTHORISED", { session: "S4" });
    expect(t.toBarrier).to.deep.equal([]);
    t.lane.onExitMessage("ENTERED", { session: "S4" });
    expect(t.ev("entry"), "a car that reverses away is not counted").to.deep.equal([]);
    expect(t.ev("present").map((p) => p.present)).to.deep.equal([true, false]);
  });

  it("an executor fault blocks the opening", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
    t.decide({ event_id: t.ev("entryReq")[0].event_id, session_id: "S5" });
    t.lane.onBarrierMessage("BARRIER", { state: "fault", pos: "0", fault: "LIMIT_STUCK" });
    t.lane.onExitMessage("AUTHORISED", { session: "S5" });
    expect(t.toBarrier).to.deep.equal([]);
    expect(t.frames("LANE_FAULT")).to.deep.equal([{ code: "LIMIT_STUCK" }]);
    expect(t.lane.phase).to.equal("fault");
  });

  describe("offline (the cloud unreachable)", () => {
    it("admits a trusted badge as offline_permit with a local session; parking/entry has no session_id", () => {
      const t = setup({ online: false });
      t.trustBadge("04A21F9C");
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
      expect(t.ev("entryReq")).to.deep.equal([]);
      const admit = t.frames("ADMIT");
      expect(admit).to.have.length(1);
      expect(admit[0].session).to.match(/^off-/);
      t.lane.onExitMessage("AUTHORISED", { session: admit[0].session });
      expect(t.toBarrier.map((m) => m.type)).to.deep.equal(["OPEN"]);
      t.opens();
      t.lane.onExitMessage("ENTERED", { session: admit[0].session });
      const entry = t.ev("entry");
      expect(entry).to.deep.equal([{ event_id: entry[0].event_id, lane_id: "E1", identity: { method: "badge", value: "04A21F9C" }, decided_by: "offline_permit" }]);
      framesValid(t.toExit);
    });

    it("refuses an unknown badge and a reservation with a clear line", () => {
      const t = setup({ online: false });
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("BADGE", { uid: "DEADBEEF" });
      t.lane.onExitMessage("SCAN", { code: "SPR1.RESA2024X" });
      expect(t.frames("DENY")).to.deep.equal([{ reason: "Badge non reconnu" }, { reason: "Resa. hors ligne" }]);
      expect(t.frames("ADMIT")).to.deep.equal([]);
    });

    it("issues and admits a ticket (offline_ticket), also for a plate read, with a valid signature", () => {
      const t = setup({ online: false });
      t.lane.onPlate("AB-123-CD");
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      const admit = t.frames("ADMIT");
      expect(admit).to.deep.equal([{ session: admit[0]?.session, ticket: t.issued[0].id, code: t.issued[0].code }]);
      t.lane.onExitMessage("AUTHORISED", { session: admit[0].session });
      t.opens();
      t.lane.onExitMessage("ENTERED", { session: admit[0].session });
      const entry = t.ev("entry")[0];
      expect(entry).to.deep.include({ decided_by: "offline_ticket", plate: "AB-123-CD", ticket: t.issued[0], identity: { method: "ticket", value: t.issued[0].id } });
      expect(entry).not.to.have.property("session_id");
      expect(ticketSignatureOk(SITE, entry.ticket as Ticket, KEY)).to.equal(true);
      expect(schemas.entry.safeParse({ ts: 1, src: "gw", ...entry }).success).to.equal(true);
    });

    it("a full car park refuses a ticket but admits a permit; a closed one admits nobody", () => {
      const t = setup({ online: false, site: { state: "full", free: 0 } });
      t.trustBadge("04A21F9C");
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("BUTTON", { name: "ticket" });
      expect(t.frames("DENY")).to.deep.equal([{ reason: "Complet" }]);
      expect(t.frames("ADMIT")).to.deep.equal([]);
      t.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
      expect(t.frames("ADMIT")).to.have.length(1);
      const closed = setup({ online: false, site: { state: "closed" } });
      closed.trustBadge("04A21F9C");
      closed.lane.onExitMessage("PRESENCE", { present: "1" });
      closed.lane.onExitMessage("BUTTON", { name: "ticket" });
      closed.lane.onExitMessage("BADGE", { uid: "04A21F9C" });
      expect(closed.frames("DENY")).to.deep.equal([{ reason: "Parking ferme" }, { reason: "Parking ferme" }]);
      expect(closed.frames("ADMIT")).to.deep.equal([]);
    });

    it("without a ticket key no ticket is issued", () => {
      const t = setup({ online: false, tickets: false });
      t.lane.onExitMessage("PRESENCE", { present: "1" });
      t.lane.onExitMessage("BUTTON", { name: "ticket" });
      expect(t.frames("DENY")).to.deep.equal([{ reason: "Ticket indisponible" }]);
    });
  });

  it("an audited override admits the car on the loop through the terminal's key, once per cmd_id", () => {
    const t = setup();
    t.lane.onExitMessage("PRESENCE", { present: "1" });
    const cmd = { ts: 1, src: "cloud", cmd_id: "c1", lane_id: "E1", cmd: "open", operator: "admin", reason: "driver called" } as const;
    t.lane.onCloudMessage("barrierCmd", cmd);
    t.lane.onCloudMessage("barrierCmd", cmd);
    expect(t.frames("ADMIT")).to.deep.equal([{ session: "ovr-c1" }]);
    expect(t.ev("barrierAck")).to.deep.equal([{ cmd_id: "c1", lane_id: "E1", result: "done" }]);
    t.lane.onExitMessage("AUTHORISED", { session: "ovr-c1" });
    t.opens();
    t.lane.onExitMessage("ENTERED", { session: "ovr-c1" });
    expect(t.ev("entry")[0]).to.deep.include({ decided_by: "override", identity: { method: "operator", value: "admin" } });
    expect(t.ev("entry")[0]).not.to.have.property("session_id");
  });

  it("shows the site's state on the terminal, again on its HELLO", () => {
    const t = setup({ site: { state: "full", free: 0 } });
    t.lane.onSite({ state: "open", free: 12 });
    t.lane.onExitHello();
    expect(t.frames("SITE")).to.deep.equal([{ state: "open", free: "12" }, { state: "full", free: "0" }]);
    framesValid(t.toExit);
  });
});
