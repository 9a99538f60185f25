/**
 * The lane's phase table (gateway/lane/phases.ts) is the only way the orchestrator changes phase:
 * random sequences of everything a lane can hear — the controller, the executor, the camera, the
 * cloud, operators, links and the cloud going away — never attempt a move outside the table, and
 * a move outside it is refused, counted and logged.
 */
import { expect } from "chai";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AccessList, signAcl } from "../../gateway/lane/access-list";
import { LaneOrchestrator } from "../../gateway/lane/orchestrator";
import { canEnter, LANE_TRANSITIONS, PHASES } from "../../gateway/lane/phases";
import { hashPassword } from "../../gateway/broker/passwords";

const KEY = "test-acl-key-0123456789";
const SESSIONS = ["S1", "S2"];

type Step = (lane: LaneOrchestrator) => void;
const session = fc.constantFrom(...SESSIONS);
const steps: fc.Arbitrary<Step>[] = [
  fc.boolean().map((p): Step => (l) => l.onExitMessage("PRESENCE", { present: p ? "1" : "0" })),
  fc.record({ state: fc.constantFrom("idle", "present", "identifying", "awaiting_payment", "authorised", "opening", "passing", "done", "restricted", "denied"), why: fc.constantFrom("resync", "vehicle", "gateway", "next"), session }).map((f): Step => (l) => l.onExitMessage("STATE", f)),
  fc.constant<Step>((l) => l.onExitMessage("BADGE", { uid: "04A21F9C3B" })),
  fc.constantFrom("2468", "1111").map((pin): Step => (l) => l.onExitMessage("PIN", { pin })),
  session.map((s): Step => (l) => l.onExitMessage("AUTHORISED", { session: s })),
  session.map((s): Step => (l) => l.onExitMessage("EXITED", { session: s })),
  session.map((s): Step => (l) => l.onExitMessage("LEFT", { session: s })),
  fc.constant<Step>((l) => l.onExitHello()),
  fc.constantFrom("closed", "opening", "open", "closing", "stopped", "safe", "fault").map((state): Step => (l) => l.onBarrierMessage("BARRIER", { state, pos: state === "open" ? "100" : "0", ...(state === "fault" ? { fault: "LIMIT_STUCK" } : {}) })),
  fc.constantFrom("ok", "refused", "timeout").map((result): Step => (l) => l.onBarrierMessage("CMD_DONE", { cmd: "open-1", result })),
  session.map((s): Step => (l) => l.onBarrierMessage("PASSED", { session: s })),
  fc.boolean().map((up): Step => (l) => l.onExitLink(up)),
  fc.boolean().map((up): Step => (l) => l.onBarrierLink(up)),
  fc.boolean().map((online): Step => (l) => l.setCloudOnline(online)),
  fc.constant<Step>((l) => l.onPlate("AB-123-CD")),
  session.map((s): Step => (l) => l.onCloudMessage("paymentReq", { ts: 1, src: "cloud", session_id: s, lane_id: "L1", amount: 350, currency: "EUR", pay_url: `https://c.example/pay/${s}?t=x` })),
  fc.record({ s: session, resync: fc.boolean() }).map(({ s, resync }): Step => (l) => l.onCloudMessage("paymentSuccess", { ts: 1, src: "cloud", session_id: s, lane_id: "L1", provider_ref: "pi_1", ...(resync ? { resync: true } : {}) })),
  session.map((s): Step => (l) => l.onCloudMessage("paymentFailed", { ts: 1, src: "cloud", session_id: s, lane_id: "L1", reason: "declined" })),
  fc.record({ cmd: fc.constantFrom("open", "close", "reset"), n: fc.integer({ min: 1, max: 9 }) }).map(({ cmd, n }): Step => (l) => l.onCloudMessage("barrierCmd", { ts: 1, src: "cloud", cmd_id: `c${n}`, lane_id: "L1", cmd: cmd as "open", operator: "admin", reason: "driver called" })),
];

describe("gateway lane phases: one transition table", () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), "phases-")); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function lane(logs: string[] = []): LaneOrchestrator {
    const acl = new AccessList(join(dir, `acl-${Math.random().toString(36).slice(2)}.json`), KEY);
    let ids = 0;
    const l = new LaneOrchestrator("L1", { toExit: () => undefined, toBarrier: () => undefined, emit: () => undefined, now: () => 1_000_000 + ids * 100, newId: (p) => `${p}-${++ids}`, log: (m) => logs.push(m) }, acl, { trustedBadges: true, exitPins: true, operatorOverride: true, plateWindowMs: 10_000 });
    return l;
  }

  it("names every phase once, and no phase lists itself or an unknown phase", () => {
    expect(Object.keys(LANE_TRANSITIONS).sort()).to.deep.equal([...PHASES].sort());
    for (const [from, tos] of Object.entries(LANE_TRANSITIONS)) for (const to of tos) { expect(to).not.to.equal(from); expect(PHASES).to.include(to); }
    expect(canEnter("fault", "authorised"), "a faulted lane authorises nothing").to.equal(false);
    expect(canEnter("idle", "opening"), "no OPEN without authorisation").to.equal(false);
  });

  it("property: whatever the lane hears, in any order, it never attempts a move outside the table", async function () {
    this.timeout(60_000);
    const pinHash = await hashPassword("2468", { N: 1 << 10, r: 8, p: 1 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(...steps), { minLength: 1, maxLength: 60 }), async (seq) => {
        const l = lane();
        l.onExitLink(true);
        l.onBarrierLink(true);
        const full = { ts: 1, src: "cloud", version: 1, entries: [{ kind: "badge", id: "04A21F9C3B", label: "staff" }, { kind: "pin", id: "pin-1", pin_hash: pinHash, label: "cashier" }] };
        expect((l as unknown as { acl: AccessList }).acl.apply("full", { ...full, sig: signAcl(full, KEY) } as never)).to.equal("applied");
        for (const step of seq) step(l);
        expect(l.stats.refusedTransitions, `after ${seq.length} steps, phase ${l.phase}`).to.equal(0);
      }),
      { numRuns: 400 },
    );
  });

  it("refuses, counts and logs a move outside the table (a faulted lane is not authorised by an override)", () => {
    const logs: string[] = [];
    const l = lane(logs);
    l.onExitLink(true);
    l.onBarrierLink(true);
    l.onExitMessage("PRESENCE", { present: "1" });
    l.onBarrierMessage("BARRIER", { state: "fault", pos: "0", fault: "LIMIT_STUCK" });
    expect(l.phase).to.equal("fault");
    (l as unknown as { enter(p: string): void }).enter("authorised");
    expect(l.phase).to.equal("fault");
    expect(l.stats.refusedTransitions).to.equal(1);
    expect(logs.join("\n")).to.match(/refused phase change fault → authorised/);
  });
});
