import { expect } from "chai";
import fc from "fast-check";
import type { Fields } from "../../firmware/common/link/frame";
import { EXIT_STATES, validateMessage } from "../../firmware/common/link/messages";
import { decodeRdm6300, decodeWiegand, normaliseUid } from "../../firmware/exit-controller/core/badge";
import { parseExitConfig } from "../../firmware/exit-controller/core/config";
import { ExitController } from "../../firmware/exit-controller/core/controller";
import { formatMoney } from "../../firmware/exit-controller/core/display";
import { loadManifestConfig } from "../../sim/boards/manifest-config";

function harness() {
  const config = parseExitConfig(loadManifestConfig("exit-controller"));
  const sent: { type: string; fields: Fields }[] = [];
  let now = 0;
  const ctl = new ExitController(config, { send: (type, fields) => sent.push({ type, fields }), show: () => {} });
  // The board boots on an empty loop (board.ts samples it at start) and lets it settle.
  ctl.presenceSample(0, 0);
  ctl.start(0);
  ctl.onLinkChange(true, 0);
  now = config.presenceDebounceMs;
  ctl.tick(now);
  sent.length = 0;
  const at = (ms: number) => { now += ms; ctl.tick(now); };
  const arrive = () => { ctl.presenceSample(1, now); at(config.presenceDebounceMs); };
  const leave = () => { ctl.presenceSample(0, now); at(config.presenceDebounceMs); };
  const msg = (type: string, fields: Fields = {}) => ctl.onMessage(type, fields, now);
  return { ctl, config, sent, at, arrive, leave, msg, get now() { return now; } };
}

describe("exit controller core", () => {
  it("after a reset with a vehicle on the loop, never reports it absent: no PRESENCE until the loop has settled, then present (found by the HIL board-reset scenario)", () => {
    const config = parseExitConfig(loadManifestConfig("exit-controller"));
    const sent: { type: string; fields: Fields }[] = [];
    const ctl = new ExitController(config, { send: (type, fields) => sent.push({ type, fields }), show: () => {} });
    // The board boots: its first sample of the loop says a vehicle is there.
    ctl.presenceSample(1, 0);
    ctl.start(0);
    ctl.onLinkChange(true, 5);
    ctl.onPeerHello(10);
    ctl.tick(100);
    const presence = () => sent.filter((m) => m.type === "PRESENCE").map((m) => m.fields.present);
    expect(presence(), "nothing said about the loop before it settled").to.deep.equal([]);
    ctl.tick(config.presenceDebounceMs);
    expect(presence(), "then the vehicle, once").to.deep.equal(["1"]);
    expect(ctl.vehiclePresent).to.equal(true);
    // An empty loop at boot is reported as such once settled, and a later HELLO says it again.
    const empty: string[] = [];
    const c2 = new ExitController(config, { send: (type, fields) => { if (type === "PRESENCE") empty.push(String(fields.present)); }, show: () => {} });
    c2.presenceSample(0, 0);
    c2.start(0);
    c2.onLinkChange(true, 0);
    c2.onPeerHello(1);
    expect(empty).to.deep.equal([]);
    c2.tick(config.presenceDebounceMs);
    c2.onPeerHello(config.presenceDebounceMs + 1);
    expect(empty).to.deep.equal(["0", "0"]);
  });

  it("debounces the loop: a blip shorter than the debounce time is not a vehicle", () => {
    const h = harness();
    h.ctl.presenceSample(1, h.now);
    h.at(100);
    h.ctl.presenceSample(0, h.now);
    h.at(1000);
    expect(h.ctl.state).to.equal("idle");
    expect(h.sent.filter((m) => m.type === "PRESENCE")).to.have.length(0);
  });

  it("denies after the identification timeout, then asks again while the vehicle stays", () => {
    const h = harness();
    h.arrive();
    h.msg("IDENTIFY", {});
    h.at(h.config.identifyTimeoutMs);
    expect(h.ctl.state).to.equal("denied");
    h.at(h.config.deniedDisplayMs);
    expect(h.ctl.state).to.equal("present");
  });

  it("faults when the barrier never opens after authorisation, and only LANE_CLEAR or RESET leave the fault", () => {
    const h = harness();
    h.arrive();
    h.msg("PAY_REQ", { session: "S1", amount: "100", currency: "EUR", url: "http://x/pay" });
    h.msg("PAY_OK", { session: "S1" });
    expect(h.ctl.state).to.equal("authorised");
    h.at(h.config.authorisedTimeoutMs);
    expect(h.ctl.state).to.equal("fault");
    h.msg("PAY_OK", { session: "S1" });
    h.msg("IDENTIFY", {});
    expect(h.ctl.state).to.equal("fault");
    h.msg("LANE_CLEAR");
    expect(h.ctl.state).to.equal("present");
  });

  it("enters fault on an executor fault from any state", () => {
    const h = harness();
    h.arrive();
    h.msg("LANE_FAULT", { code: "OVERCURRENT" });
    expect(h.ctl.state).to.equal("fault");
    expect(h.ctl.screen?.lines[2]).to.equal("Code OVERCURRENT");
    h.msg("RESET");
    expect(h.ctl.state).to.equal("present");
  });

  it("zero fee: IDENTIFY with a session, then PAY_OK, authorises without a payment request", () => {
    const h = harness();
    h.arrive();
    h.msg("IDENTIFY", { session: "S0" });
    h.msg("PAY_OK", { session: "S0" });
    expect(h.ctl.state).to.equal("authorised");
    expect(h.sent.filter((m) => m.type === "AUTHORISED")).to.deep.equal([{ type: "AUTHORISED", fields: { session: "S0" } }]);
  });

  it("whatever the gateway sends, in any order, it never authorises a session it was not waiting on, and every frame it sends matches the catalogue", function () {
    this.timeout(60000);
    const sessions = ["S1", "S2"];
    const action = fc.oneof(
      fc.constant({ kind: "arrive" as const }), fc.constant({ kind: "leave" as const }), fc.integer({ min: 1, max: 120000 }).map((ms) => ({ kind: "wait" as const, ms })),
      fc.record({ kind: fc.constant("msg" as const), type: fc.constantFrom("IDENTIFY", "PAY_REQ", "PAY_FAIL", "PAY_OK", "DENY", "OPENING", "OPENED", "LANE_FAULT", "LANE_CLEAR", "RESET"), session: fc.constantFrom(...sessions) }),
      fc.record({ kind: fc.constant("link" as const), up: fc.boolean() }),
    );
    fc.assert(fc.property(fc.array(action, { maxLength: 60 }), (actions) => {
      const h = harness();
      let awaited: string | undefined;
      for (const a of actions) {
        if (a.kind === "arrive") h.arrive();
        else if (a.kind === "leave") h.leave();
        else if (a.kind === "wait") h.at(a.ms);
        else if (a.kind === "link") h.ctl.onLinkChange(a.up, h.now);
        else {
          const fields: Fields = a.type === "PAY_REQ" ? { session: a.session, amount: "250", currency: "EUR", url: "http://x/p" }
            : a.type === "PAY_FAIL" || a.type === "DENY" ? { session: a.session, reason: "no" }
            : a.type === "LANE_FAULT" ? { code: "X" } : a.type === "LANE_CLEAR" || a.type === "RESET" ? {} : a.type === "IDENTIFY" ? { session: a.session } : { session: a.session };
          if (a.type === "DENY") delete fields.session;
          const before = h.ctl.state;
          const waitingOn = h.ctl.sessionId;
          const count = h.sent.filter((m) => m.type === "AUTHORISED").length;
          h.msg(a.type, fields);
          const authorisedNow = h.sent.filter((m) => m.type === "AUTHORISED").length > count;
          if (authorisedNow) {
            expect(a.type).to.equal("PAY_OK");
            expect(waitingOn, `authorised ${a.session} from ${before}`).to.equal(a.session);
            expect(["awaiting_payment", "identifying"]).to.include(before);
            awaited = a.session;
          }
        }
        expect(EXIT_STATES).to.include(h.ctl.state);
      }
      void awaited;
      for (const m of h.sent) expect(validateMessage(m.type, 1, m.fields).ok, `${m.type} ${JSON.stringify(m.fields)}`).to.equal(true);
    }), { numRuns: 1000 });
  });
});

describe("exit controller peripherals and config", () => {
  it("normalises badge UIDs from every reader format", () => {
    expect(normaliseUid("04:a2:1f:9c")).to.equal("04A21F9C");
    expect(normaliseUid("04-A2-1F-9C-3B")).to.equal("04A21F9C3B");
    expect(normaliseUid("04a2")).to.equal(undefined);
    expect(normaliseUid("04a21f9z")).to.equal(undefined);
    expect(decodeRdm6300("04A21F9C3B" + ((0x04 ^ 0xa2 ^ 0x1f ^ 0x9c ^ 0x3b).toString(16).toUpperCase().padStart(2, "0")))).to.equal("04A21F9C3B");
    expect(decodeRdm6300("04A21F9C3B00")).to.equal(undefined);
  });

  it("decodes Wiegand 26 and rejects a parity error", () => {
    // facility 0x12, card 0x3456 → data bits 0x123456
    const data = 0x123456;
    const bits: (0 | 1)[] = [];
    for (let i = 23; i >= 0; i--) bits.push(((data >> i) & 1) as 0 | 1);
    const even = bits.slice(0, 12).reduce<number>((a, b) => a ^ b, 0) as 0 | 1;
    const odd = (1 ^ bits.slice(12).reduce<number>((a, b) => a ^ b, 0)) as 0 | 1;
    const frame = [even, ...bits, odd];
    expect(decodeWiegand(frame)).to.equal("00123456");
    const broken = [...frame];
    broken[5] = (broken[5] ^ 1) as 0 | 1;
    expect(decodeWiegand(broken)).to.equal(undefined);
    expect(decodeWiegand(frame.slice(1))).to.equal(undefined);
  });

  it("formats money in minor units without floating point", () => {
    expect(formatMoney(350, "EUR")).to.equal("3,50 EUR");
    expect(formatMoney(5, "EUR")).to.equal("0,05 EUR");
    expect(formatMoney(123456, "CHF")).to.equal("1234,56 CHF");
  });

  it("refuses a bad manifest config with the exact key", () => {
    const good = loadManifestConfig("exit-controller");
    expect(() => parseExitConfig({ ...good, presenceDebounceMs: -1 })).to.throw(/presenceDebounceMs: expected a whole number in 10\.\.5000, got -1/);
    expect(() => parseExitConfig({ ...good, lane: "lane one" })).to.throw(/config lane/);
    expect(() => parseExitConfig({ ...good, link: { ...(good.link as object), linkTimeoutMs: "3s" } })).to.throw(/link\.linkTimeoutMs/);
    expect(() => parseExitConfig({ ...good, pins: { ...(good.pins as object), keypadCols: [1, 2] } })).to.throw(/keypadCols: expected 3 pins/);
    for (const platform of ["esp32", "pico", "lin"]) expect(() => parseExitConfig(loadManifestConfig("exit-controller", platform))).to.not.throw();
  });
});
