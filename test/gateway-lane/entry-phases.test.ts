/**
 * The entry lane's phase table (gateway/lane/entry-phases.ts) is the only way the entry
 * orchestrator changes phase: random sequences of everything an entry lane can hear never attempt
 * a move outside the table, and OPEN never goes out without both keys for the same session.
 */
import { expect } from "chai";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueTicket } from "../../contracts/ticket";
import type { Fields } from "../../firmware/common/link/frame";
import { AccessList, signAcl } from "../../gateway/lane/access-list";
import { EntryOrchestrator } from "../../gateway/lane/entry-orchestrator";
import { canEnterEntryPhase, ENTRY_PHASES, ENTRY_TRANSITIONS } from "../../gateway/lane/entry-phases";
import type { SiteView } from "../../gateway/lane/site-occupancy";

const KEY = "test-acl-key-0123456789";
const SESSIONS = ["S1", "S2"];

type World = { lane: EntryOrchestrator; events: { key: string; payload: Record<string, unknown> }[]; site: { view: SiteView }; authorised: Set<string> };
type Step = (w: World) => void;
const session = fc.constantFrom(...SESSIONS);
/** The request the lane sent last (or a stale id): decisions answer it. */
const lastReq = (w: World, stale: boolean) => (stale ? "ev-stale" : String(w.events.filter((e) => e.key === "entryReq").at(-1)?.payload.event_id ?? "ev-none"));
const steps: fc.Arbitrary<Step>[] = [
  fc.boolean().map((p): Step => (w) => w.lane.onExitMessage("PRESENCE", { present: p ? "1" : "0" })),
  fc.record({ state: fc.constantFrom("idle", "present", "identifying", "authorised", "opening", "passing", "done", "denied"), why: fc.constantFrom("resync", "vehicle", "gateway") }).map((f): Step => (w) => w.lane.onExitMessage("STATE", f)),
  fc.constantFrom("04A21F9C3B", "DEADBEEF").map((uid): Step => (w) => w.lane.onExitMessage("BADGE", { uid })),
  fc.constantFrom("ticket", "help", "cancel").map((name): Step => (w) => w.lane.onExitMessage("BUTTON", { name })),
  fc.constantFrom("SPR1.RESA2024X", "SPK1.nope", "junk").map((code): Step => (w) => w.lane.onExitMessage("SCAN", { code })),
  fc.oneof(session, fc.constant("ovr-c1")).map((s): Step => (w) => { w.authorised.add(s); w.lane.onExitMessage("AUTHORISED", { session: s }); }),
  fc.oneof(session, fc.constant("ovr-c1")).map((s): Step => (w) => w.lane.onExitMessage("ENTERED", { session: s })),
  fc.constant<Step>((w) => w.lane.onExitMessage("LEFT", {})),
  fc.constant<Step>((w) => w.lane.onExitHello()),
  fc.constantFrom("closed", "opening", "open", "closing", "safe", "fault").map((state): Step => (w) => w.lane.onBarrierMessage("BARRIER", { state, pos: state === "open" ? "100" : "0", ...(state === "fault" ? { fault: "LIMIT_STUCK" } : {}) })),
  fc.constantFrom("ok", "refused").map((result): Step => (w) => w.lane.onBarrierMessage("CMD_DONE", { cmd: "open-1", result })),
  fc.constant<Step>((w) => w.lane.onBarrierMessage("PASSED", {})),
  fc.boolean().map((up): Step => (w) => w.lane.onBarrierLink(up)),
  fc.boolean().map((online): Step => (w) => w.lane.setCloudOnline(online)),
  fc.constantFrom<SiteView["state"]>("open", "full", "closed").map((state): Step => (w) => { w.site.view = { state }; }),
  fc.constant<Step>((w) => w.lane.onPlate("AB-123-CD")),
  fc.record({ s: session, admit: fc.boolean(), stale: fc.boolean() }).map(({ s, admit, stale }): Step => (w) =>
    w.lane.onCloudMessage("entryDecision", { ts: 1, src: "cloud", event_id: lastReq(w, stale), lane_id: "E1", decision: admit ? "admit" : "refuse", ...(admit ? { session_id: s } : { reason: "full" }) })),
  fc.record({ cmd: fc.constantFrom("open", "close", "reset"), n: fc.integer({ min: 1, max: 3 }) }).map(({ cmd, n }): Step => (w) => w.lane.onCloudMessage("barrierCmd", { ts: 1, src: "cloud", cmd_id: `c${n}`, lane_id: "E1", cmd: cmd as "open", operator: "admin", reason: "driver called" })),
];

describe("gateway entry lane phases: one transition table", () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), "entry-phases-")); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("names every phase once, and no phase lists itself or an unknown phase", () => {
    expect(Object.keys(ENTRY_TRANSITIONS).sort()).to.deep.equal([...ENTRY_PHASES].sort());
    for (const [from, tos] of Object.entries(ENTRY_TRANSITIONS)) for (const to of tos) { expect(to).not.to.equal(from); expect(ENTRY_PHASES).to.include(to); }
    expect(canEnterEntryPhase("idle", "opening"), "no OPEN without admission").to.equal(false);
    expect(canEnterEntryPhase("fault", "admitted"), "a faulted lane admits nobody").to.equal(false);
  });

  it("property: whatever the lane hears, it never attempts a move outside the table, and never opens without both keys", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(...steps), { minLength: 1, maxLength: 60 }), (seq) => {
        const acl = new AccessList(join(dir, `acl-${Math.random().toString(36).slice(2)}.json`), KEY);
        const full = { ts: 1, src: "cloud", version: 1, entries: [{ kind: "badge", id: "04A21F9C3B", label: "abonne" }] };
        acl.apply("full", { ...full, sig: signAcl(full, KEY) } as never);
        let ids = 0;
        const admitted = new Set<string>();
        const world: World = { lane: undefined as unknown as EntryOrchestrator, events: [], site: { view: { state: "open" } }, authorised: new Set() };
        const opens: Fields[] = [];
        world.lane = new EntryOrchestrator("E1", {
          toExit: (type, f) => { if (type === "ADMIT") admitted.add(f.session); },
          toBarrier: (type, f) => { if (type === "OPEN") opens.push(f); },
          emit: (key, payload) => world.events.push({ key, payload: payload as Record<string, unknown> }),
          now: () => 1_000_000 + ids * 100,
          newId: (p) => `${p}-${++ids}`,
        }, { acl, site: () => world.site.view, issueTicket: (now) => issueTicket("s", KEY, now) }, { trustedBadges: true, exitPins: true, operatorOverride: true, plateWindowMs: 10_000 });
        world.lane.onExitLink(true);
        world.lane.onBarrierLink(true);
        for (const step of seq) {
          const before = opens.length;
          step(world);
          const snap = world.lane.snapshot();
          for (const o of opens.slice(before)) {
            expect(admitted.has(o.session), `OPEN for ${o.session} never admitted`).to.equal(true);
            expect(world.authorised.has(o.session), `OPEN for ${o.session} without the terminal's AUTHORISED`).to.equal(true);
            expect(snap.present, "OPEN with no car on the loop").to.equal(true);
          }
        }
        expect(world.lane.stats.refusedTransitions, `after ${seq.length} steps, phase ${world.lane.phase}`).to.equal(0);
      }),
      { numRuns: 400 },
    );
  });
});
