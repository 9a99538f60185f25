import { expect } from "chai";
import fc from "fast-check";
import type { Fields } from "../../firmware/common/link/frame";
import { EXIT_STATES, validateMessage } from "../../firmware/common/link/messages";
import { parseEntryConfig } from "../../firmware/exit-controller/core/entry-config";
import { EntryController, type TicketJob } from "../../firmware/exit-controller/core/entry-controller";
import type { Screen } from "../../firmware/exit-controller/core/display";
import { laneRole } from "../../firmware/exit-controller/core/config";
import { loadManifestConfig } from "../../sim/boards/manifest-config";

function harness(printerFitted = true) {
  const config = parseEntryConfig(loadManifestConfig("entry-terminal"));
  const sent: { type: string; fields: Fields }[] = [];
  const jobs: TicketJob[] = [];
  let screen: Screen | undefined;
  let now = 0;
  const ctl = new EntryController(config, {
    send: (type, fields) => {
      // Every frame the controller sends must pass the catalogue (the link would throw).
      const check = validateMessage(type, 1, fields);
      if (!check.ok) throw new Error(`${type}: ${check.detail}`);
      sent.push({ type, fields });
    },
    show: (s) => { screen = s; },
    print: (t) => { jobs.push(t); return printerFitted; },
  });
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
  const types = () => sent.map((m) => m.type);
  const states = () => sent.filter((m) => m.type === "STATE").map((m) => m.fields.state);
  return { ctl, config, sent, jobs, at, arrive, leave, msg, types, states, get screen() { return screen!; }, get now() { return now; } };
}

const TICKET = "TABCDEFGHIJKLMNOPQRSTUVWXYZ";

describe("entry controller core", () => {
  it("reads its role from the config: exit by default, entry when said, refused otherwise", () => {
    expect(laneRole({})).to.equal("exit");
    expect(laneRole({ role: "entry" })).to.equal("entry");
    expect(() => laneRole({ role: "both" })).to.throw(/config role: expected "exit" or "entry"/);
    expect(() => parseEntryConfig({ ...loadManifestConfig("entry-terminal"), printerSerial: "gatewaySerial" })).to.throw(/entry-terminal config printerSerial/);
    expect(parseEntryConfig(loadManifestConfig("entry-terminal", "pico")).printerSharesRfidUart).to.equal(true);
  });

  it("names the entry terminal in the errors of the keys it shares with the exit (loop pull, display bus)", () => {
    const entry = loadManifestConfig("entry-terminal", "pico");
    const pins = entry.pins as Record<string, unknown>;
    expect(() => parseEntryConfig({ ...entry, pins: { ...pins, presencePull: "down" } })).to.throw(/^entry-terminal config pins\.presencePull: /);
    expect(() => parseEntryConfig({ ...entry, displayI2c: { ...(entry.displayI2c as object), hz: 1 } })).to.throw(/^entry-terminal config displayI2c\.hz: /);
  });

  it("runs a ticket entry: presence, ticket button, ADMIT with a ticket, print, PRINTED, AUTHORISED, open, ENTERED", () => {
    const h = harness();
    h.arrive();
    expect(h.ctl.state).to.equal("present");
    h.ctl.button("ticket", h.now);
    expect(h.sent.find((m) => m.type === "BUTTON")?.fields).to.deep.equal({ name: "ticket" });
    expect(h.ctl.state).to.equal("identifying");
    h.msg("ADMIT", { session: "S1", ticket: TICKET, code: "12345678" });
    expect(h.jobs).to.deep.equal([{ id: TICKET, code: "12345678" }]);
    expect(h.ctl.isPrinting).to.equal(true);
    expect(h.screen.qr).to.equal("SPK1." + TICKET);
    expect(h.screen.lines[2]).to.equal("Code 1234 5678");
    expect(h.types()).to.not.include("AUTHORISED"); // not before the ticket is out
    h.ctl.onPrinted(TICKET, true, undefined, h.now);
    expect(h.sent.slice(-3).map((m) => [m.type, m.fields])).to.deep.equal([
      ["PRINTED", { ticket: TICKET, ok: "1" }], ["AUTHORISED", { session: "S1" }], ["STATE", { state: "authorised", why: "printed", session: "S1" }],
    ]);
    h.msg("OPENING", { session: "S1" });
    h.msg("OPENED", { session: "S1" });
    expect(h.ctl.state).to.equal("passing");
    h.leave();
    expect(h.sent.find((m) => m.type === "ENTERED")?.fields).to.deep.equal({ session: "S1" });
    h.at(h.config.doneDisplayMs);
    expect(h.states()).to.deep.equal(["present", "identifying", "identifying", "authorised", "opening", "passing", "done", "idle"]);
    expect(h.screen.qr).to.equal(undefined);
  });

  it("authorises at once on an ADMIT without ticket (a badge or a plate), from present too", () => {
    const h = harness();
    h.arrive();
    h.msg("ADMIT", { session: "S2", msg: "Bienvenue abonne" });
    expect(h.jobs).to.have.length(0);
    expect(h.types().slice(-2)).to.deep.equal(["AUTHORISED", "STATE"]);
    expect(h.screen.lines[0]).to.equal("Bienvenue abonne");
    const h2 = harness();
    h2.arrive();
    h2.ctl.badge("04:a2:1f:9c", h2.now);
    expect(h2.sent.find((m) => m.type === "BADGE")?.fields).to.deep.equal({ uid: "04A21F9C" });
    h2.ctl.scan("SPR1.RES123", h2.now);
    expect(h2.sent.find((m) => m.type === "SCAN")?.fields).to.deep.equal({ code: "SPR1.RES123" });
    h2.msg("ADMIT", { session: "S3" });
    expect(h2.ctl.state).to.equal("authorised");
  });

  it("acts once on a duplicate ADMIT and ignores an ADMIT for another session: one ticket printed", () => {
    const h = harness();
    h.arrive();
    h.ctl.button("ticket", h.now);
    h.msg("ADMIT", { session: "S1", ticket: TICKET, code: "12345678" });
    h.msg("ADMIT", { session: "S1", ticket: TICKET, code: "12345678" });
    h.msg("ADMIT", { session: "S9", ticket: "TOTHER", code: "87654321" });
    h.ctl.onPrinted(TICKET, true, undefined, h.now);
    h.msg("ADMIT", { session: "S1", ticket: TICKET, code: "12345678" });
    expect(h.jobs).to.have.length(1);
    expect(h.types().filter((t) => t === "AUTHORISED")).to.have.length(1);
    expect(h.ctl.sessionId).to.equal("S1");
    expect(h.ctl.stats.ignoredAdmit).to.equal(3);
    // And no ADMIT without a vehicle on the loop.
    const idle = harness();
    idle.msg("ADMIT", { session: "S4" });
    expect(idle.ctl.state).to.equal("idle");
    expect(idle.types()).to.deep.equal([]);
  });

  it("still authorises when the printer fails, with the ticket's QR on the display", () => {
    const h = harness();
    h.arrive();
    h.ctl.button("ticket", h.now);
    h.msg("ADMIT", { session: "S1", ticket: TICKET, code: "12345678" });
    h.ctl.onPrinted(TICKET, false, "paper_out", h.now);
    expect(h.sent.find((m) => m.type === "PRINTED")?.fields).to.deep.equal({ ticket: TICKET, ok: "0", why: "paper_out" });
    expect(h.types()).to.include("AUTHORISED");
    expect(h.screen.qr).to.equal("SPK1." + TICKET);
    expect(h.screen.lines[0]).to.equal("Ticket sur l'ecran");
    // A late outcome of the same job changes nothing.
    h.ctl.onPrinted(TICKET, true, undefined, h.now);
    expect(h.types().filter((t) => t === "PRINTED")).to.have.length(1);
  });

  it("gives the printer up after printTimeoutMs, and says no_printer at once where none is fitted", () => {
    const h = harness();
    h.arrive();
    h.msg("ADMIT", { session: "S1", ticket: TICKET, code: "12345678" });
    h.at(h.config.printTimeoutMs);
    expect(h.sent.find((m) => m.type === "PRINTED")?.fields).to.deep.equal({ ticket: TICKET, ok: "0", why: "timeout" });
    expect(h.ctl.state).to.equal("authorised");
    const none = harness(false);
    none.arrive();
    none.msg("ADMIT", { session: "S2", ticket: TICKET });
    expect(none.sent.find((m) => m.type === "PRINTED")?.fields).to.deep.equal({ ticket: TICKET, ok: "0", why: "no_printer" });
    expect(none.ctl.state).to.equal("authorised");
  });

  it("shows the site's state on the idle screen, and refuses a ticket at once on a full site while still asking", () => {
    const h = harness();
    h.msg("SITE", { state: "open", free: "42" });
    expect(h.screen.lines[1]).to.equal("Places libres: 42");
    h.msg("SITE", { state: "closed" });
    expect(h.screen.lines[0]).to.equal("FERME");
    h.msg("SITE", { state: "full", free: "0" });
    expect(h.screen.lines[0]).to.equal("COMPLET");
    h.arrive();
    h.ctl.button("ticket", h.now);
    expect(h.types()).to.include("BUTTON");
    expect(h.ctl.state).to.equal("denied");
    expect(h.screen.lines[2]).to.equal("COMPLET / Full");
    // The gateway may still admit (a stale SITE, a permit): taken in `denied`.
    h.msg("ADMIT", { session: "S1" });
    expect(h.ctl.state).to.equal("authorised");
  });

  it("times out, refuses, and reports a vehicle that leaves before entering", () => {
    const h = harness();
    h.arrive();
    h.ctl.button("ticket", h.now);
    h.ctl.button("ticket", h.now); // a second press while waiting asks nothing more
    expect(h.types().filter((t) => t === "BUTTON")).to.have.length(1);
    h.at(h.config.identifyTimeoutMs);
    expect(h.ctl.state).to.equal("denied");
    h.at(h.config.deniedDisplayMs);
    expect(h.ctl.state).to.equal("present");
    h.ctl.badge("04A21F9C", h.now);
    h.msg("DENY", { reason: "Badge inconnu" });
    expect(h.screen.lines[2]).to.equal("Badge inconnu");
    h.msg("ADMIT", { session: "S1" });
    h.leave();
    expect(h.sent.filter((m) => m.type === "LEFT").map((m) => m.fields)).to.deep.equal([{ session: "S1" }]);
    expect(h.ctl.state).to.equal("idle");
    // Authorised but never opened: the lane goes to fault.
    h.arrive();
    h.msg("ADMIT", { session: "S2" });
    h.at(h.config.authorisedTimeoutMs);
    expect(h.ctl.state).to.equal("fault");
  });

  it("never throws and only sends catalogue frames, whatever the gateway and the field send", () => {
    const types = ["ADMIT", "DENY", "SITE", "OPENING", "OPENED", "IDENTIFY", "PAY_OK", "LANE_FAULT", "LANE_CLEAR", "RESET", "DISPLAY", "BOGUS"];
    fc.assert(fc.property(fc.array(fc.oneof(
      fc.record({ kind: fc.constant("msg"), type: fc.constantFrom(...types), session: fc.constantFrom("S1", "S2"), ticket: fc.option(fc.constant(TICKET)) }),
      fc.record({ kind: fc.constantFrom("ticket", "help", "arrive", "leave", "printed", "failed", "wait") }),
      fc.record({ kind: fc.constant("scan"), code: fc.string({ maxLength: 80 }) }),
      fc.record({ kind: fc.constant("badge"), uid: fc.string({ maxLength: 24 }) }),
    ), { maxLength: 40 }), (steps) => {
      const h = harness();
      for (const s of steps) {
        if (s.kind === "msg") {
          const m = s as { type: string; session: string; ticket: string | null };
          const fields: Fields = m.type === "SITE" ? { state: "full" } : m.type === "LANE_FAULT" ? { code: "E1" } : m.type === "DISPLAY" ? { l1: "x" } : m.type === "DENY" ? { reason: "no" } : { session: m.session };
          if (m.type === "ADMIT" && m.ticket) fields.ticket = m.ticket;
          h.msg(m.type, fields);
        } else if (s.kind === "scan") h.ctl.scan((s as { code: string }).code, h.now);
        else if (s.kind === "badge") h.ctl.badge((s as { uid: string }).uid, h.now);
        else if (s.kind === "ticket" || s.kind === "help") h.ctl.button(s.kind, h.now);
        else if (s.kind === "arrive") h.arrive();
        else if (s.kind === "leave") h.leave();
        else if (s.kind === "printed" || s.kind === "failed") h.ctl.onPrinted(TICKET, s.kind === "printed", "offline", h.now);
        else h.at(5000);
        if (!(EXIT_STATES as readonly string[]).includes(h.ctl.state)) return false;
        if (h.ctl.state === "awaiting_payment") return false;
      }
      return true;
    }), { numRuns: 300 });
  });
});
