/**
 * The message catalogue of the serial link: every frame type of both boards, which way it
 * travels, whether it is acknowledged, and its fields. One source of truth (ARCHITECTURE §1):
 * firmware, gateway, HIL and docs/protocol.md all read this table.
 *
 * "up" = board → gateway, "down" = gateway → board.
 */
import { deepFreeze } from "./freeze";
import type { Fields } from "./frame";

export type FieldKind =
  | { kind: "uint"; max: number }
  | { kind: "text"; max: number }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "hex"; min: number; max: number }
  | { kind: "digits"; min: number; max: number }
  | { kind: "id"; max: number };

export interface FieldSpec {
  type: FieldKind;
  optional?: boolean;
  /** Never written to a log in clear (PIN codes). */
  secret?: boolean;
  doc: string;
}

export type Direction = "up" | "down" | "both";
export type BoardKind = "exit-controller" | "barrier-executor" | "gateway";

export interface MessageSpec {
  dir: Direction;
  /** Which board sends or receives it; "any" for link-level frames. */
  board: "exit-controller" | "barrier-executor" | "any";
  /** Reliable frames carry a sequence number, are acknowledged, retransmitted and de-duplicated. */
  reliable: boolean;
  doc: string;
  fields: Record<string, FieldSpec>;
}

const uint = (max: number): FieldKind => ({ kind: "uint", max });
const text = (max: number): FieldKind => ({ kind: "text", max });
const id = (max = 40): FieldKind => ({ kind: "id", max });
const oneOf = (...values: string[]): FieldKind => ({ kind: "enum", values });

export const BOARD_KINDS = deepFreeze(["exit-controller", "barrier-executor", "gateway"] as const);

export const EXIT_STATES = deepFreeze([
  "idle", "present", "identifying", "awaiting_payment", "authorised", "opening", "passing",
  "done", "denied", "fault", "restricted",
] as const);
export type ExitState = (typeof EXIT_STATES)[number];

export const BARRIER_STATES = deepFreeze(["closed", "opening", "open", "closing", "stopped", "fault", "safe"] as const);

export const MESSAGES: Readonly<Record<string, MessageSpec>> = deepFreeze({
  // ---- link level, both boards, both ways ----
  HELLO: {
    dir: "both", board: "any", reliable: true,
    doc: "Sent once after boot (and by the gateway when it starts). The receiver resets its receive window and re-synchronises.",
    fields: {
      kind: { type: oneOf(...BOARD_KINDS), doc: "who is speaking" },
      fw: { type: id(24), doc: "firmware or software version" },
      proto: { type: uint(999), doc: "serial protocol version" },
      boot: { type: uint(4294967295), doc: "boot counter, +1 at every reset" },
      lane: { type: id(16), optional: true, doc: "lane the board is installed on" },
      re: { type: oneOf("1"), optional: true, doc: "1 = this HELLO answers the peer's HELLO (never answered again)" },
      hold: { type: oneOf("1"), optional: true, doc: "1 = this end understands `ACK hold=1` (it sends its next reliable frame while the peer makes the previous one durable)" },
      role: { type: oneOf("exit", "entry"), optional: true, doc: "lane controller only: the role its manifest config gave it (absent = exit)" },
    },
  },
  HB: {
    dir: "both", board: "any", reliable: false,
    doc: "Heartbeat. Any valid frame proves the link alive; silence longer than the link timeout means link down.",
    fields: {
      up: { type: uint(4294967295), optional: true, doc: "uptime, seconds" },
      st: { type: id(20), optional: true, doc: "current state" },
    },
  },
  ACK: {
    dir: "both", board: "any", reliable: false,
    doc: "Acknowledges the reliable frame with sequence number `ack` (sent again for a duplicate). With `hold=1` (only to a peer whose HELLO said `hold=1`): received and accepted, final ACK deferred until the receiver made it durable — the sender keeps the frame but may send its next one.",
    fields: {
      ack: { type: uint(65535), doc: "sequence number acknowledged" },
      hold: { type: oneOf("1"), optional: true, doc: "1 = received, final ACK follows once it is durable" },
    },
  },

  // ---- exit controller → gateway ----
  PRESENCE: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "Debounced state of the exit loop changed.",
    fields: { present: { type: oneOf("0", "1"), doc: "1 = vehicle on the loop" } },
  },
  BADGE: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "An RFID badge was read; the UID is normalised to upper-case hex without separators.",
    fields: { uid: { type: { kind: "hex", min: 8, max: 20 }, doc: "badge UID" } },
  },
  PIN: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "A PIN was entered on the keypad and confirmed with #. Never logged in clear.",
    fields: { pin: { type: { kind: "digits", min: 4, max: 8 }, secret: true, doc: "the PIN" } },
  },
  BUTTON: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "A button was pressed.",
    fields: { name: { type: oneOf("help", "cancel", "ticket", "lost"), doc: "which button: `ticket` (entry role: issue me a ticket), `lost` (exit role: I lost my ticket)" } },
  },
  SCAN: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "The lane's QR / barcode scanner read a code (a ticket `SPK1.…` at the exit, a reservation `SPR1.…` at the entry, a merchant validation `SPV1.…` at the pay station).",
    fields: { code: { type: text(64), doc: "what the scanner read, printable ASCII" } },
  },
  ENTERED: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "Entry role: the vehicle drove in after an authorised entry.",
    fields: { session: { type: id(), doc: "session" } },
  },
  PRINTED: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "Entry role: the ticket of ADMIT was printed (`ok=1`), or the printer failed (`ok=0`, the ticket is still on the display for a phone).",
    fields: { ticket: { type: id(27), doc: "ticket id" }, ok: { type: oneOf("0", "1"), doc: "1 = printed" }, why: { type: id(24), optional: true, doc: "printer fault (paper_out, offline, …)" } },
  },
  STATE: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "The exit sequence changed state.",
    fields: {
      state: { type: oneOf(...EXIT_STATES), doc: "new state" },
      session: { type: id(), optional: true, doc: "session the lane is working on" },
      why: { type: id(24), optional: true, doc: "what caused the change (timeout, link_down, left, …)" },
    },
  },
  AUTHORISED: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "The controller accepted PAYMENT_OK for the session it was waiting on: second key of the two-key open.",
    fields: { session: { type: id(), doc: "session" } },
  },
  LEFT: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "The vehicle left the loop before the exit was authorised.",
    fields: { session: { type: id(), optional: true, doc: "session, if one was identified" } },
  },
  EXITED: {
    dir: "up", board: "exit-controller", reliable: true,
    doc: "The vehicle drove off after an authorised exit.",
    fields: { session: { type: id(), doc: "session" } },
  },

  // ---- gateway → exit controller ----
  IDENTIFY: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "The gateway is identifying the vehicle (plate lookup); the display asks for a badge or PIN meanwhile. With `session`, identification is done: the lane waits for that session's PAY_REQ or PAY_OK (zero fee).",
    fields: {
      hint: { type: text(20), optional: true, doc: "line shown to the driver" },
      session: { type: id(), optional: true, doc: "session identified for the vehicle" },
    },
  },
  ADMIT: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "Entry role: the entry is admitted for `session` (the cloud's parking/entry/decision, or the gateway's offline policy). With `ticket`, the terminal prints the ticket (QR `SPK1.<ticket>` and the short code) and shows it on the display, then answers PRINTED; it says AUTHORISED (the second key) once the ticket is out, at once without a ticket.",
    fields: {
      session: { type: id(), doc: "session the entry opens" },
      ticket: { type: id(27), optional: true, doc: "ticket id to print" },
      code: { type: { kind: "digits", min: 8, max: 8 }, optional: true, doc: "the ticket's short code" },
      msg: { type: text(20), optional: true, doc: "line shown to the driver (e.g. Bienvenue, Abonne)" },
    },
  },
  SITE: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "Entry role: the car park's state for the idle screen (from the retained parking/site/state).",
    fields: {
      state: { type: oneOf("open", "full", "closed"), doc: "open, full (no ticket), closed (no entry)" },
      free: { type: uint(99999), optional: true, doc: "free spaces, when known" },
    },
  },
  PAY_REQ: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "Payment required for a session (from parking/payment/req).",
    fields: {
      session: { type: id(), doc: "session" },
      amount: { type: uint(99999999), doc: "amount in minor units" },
      currency: { type: { kind: "enum", values: ["EUR", "CHF", "GBP", "USD"] }, doc: "ISO 4217 code" },
      url: { type: text(200), doc: "pay URL, shown as a QR code" },
      label: { type: text(20), optional: true, doc: "short label, e.g. duration" },
    },
  },
  PAY_FAIL: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "The last payment attempt failed; the lane keeps waiting for payment.",
    fields: { session: { type: id(), doc: "session" }, reason: { type: text(20), doc: "line shown to the driver" } },
  },
  PAY_OK: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "Payment validated by the cloud (from parking/payment/success), or an exit allowed by override / offline policy.",
    fields: { session: { type: id(), doc: "session" }, ref: { type: id(64), optional: true, doc: "provider reference or override id" } },
  },
  DENY: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "Exit refused (unknown badge, wrong PIN, no session).",
    fields: { reason: { type: text(20), doc: "line shown to the driver" } },
  },
  OPENING: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "The barrier executor accepted OPEN for the session.",
    fields: { session: { type: id(), doc: "session" } },
  },
  OPENED: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "The barrier is open: the driver may pass.",
    fields: { session: { type: id(), doc: "session" } },
  },
  LANE_FAULT: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "The lane is out of service (executor fault); only an operator reset (LANE_CLEAR) ends it.",
    fields: { code: { type: id(16), doc: "fault code" } },
  },
  LANE_CLEAR: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "The operator cleared the lane fault.",
    fields: {},
  },
  DISPLAY: {
    dir: "down", board: "exit-controller", reliable: true,
    doc: "Operator text for the 4×20 display, shown until the next state change.",
    fields: {
      l1: { type: text(20), doc: "line 1" }, l2: { type: text(20), optional: true, doc: "line 2" },
      l3: { type: text(20), optional: true, doc: "line 3" }, l4: { type: text(20), optional: true, doc: "line 4" },
    },
  },
  RESET: {
    dir: "down", board: "any", reliable: true,
    doc: "Return the board's state machine to its initial state (not a reboot).",
    fields: {},
  },

  // ---- gateway → barrier executor ----
  OPEN: {
    dir: "down", board: "barrier-executor", reliable: true,
    doc: "Open the barrier for a session. Idempotent by cmd.",
    fields: { cmd: { type: id(), doc: "command id" }, session: { type: id(), optional: true, doc: "session" } },
  },
  CLOSE: {
    dir: "down", board: "barrier-executor", reliable: true,
    doc: "Close the barrier (only once the lane is clear; the safety core enforces it).",
    fields: { cmd: { type: id(), doc: "command id" } },
  },
  STOP: {
    dir: "down", board: "barrier-executor", reliable: true,
    doc: "Stop any motion.",
    fields: { cmd: { type: id(), doc: "command id" } },
  },
  FAULT_RESET: {
    dir: "down", board: "barrier-executor", reliable: true,
    doc: "Operator reset of a latched fault (cleared only if the cause is gone).",
    fields: { cmd: { type: id(), doc: "command id" }, operator: { type: id(32), optional: true, doc: "who" } },
  },

  // ---- barrier executor → gateway ----
  BARRIER: {
    dir: "up", board: "barrier-executor", reliable: true,
    doc: "Barrier state changed.",
    fields: {
      state: { type: oneOf(...BARRIER_STATES), doc: "barrier state" },
      pos: { type: uint(100), doc: "boom position, % open" },
      fault: { type: id(16), optional: true, doc: "fault code when state=fault" },
    },
  },
  CMD_DONE: {
    dir: "up", board: "barrier-executor", reliable: true,
    doc: "Outcome of a command.",
    fields: {
      cmd: { type: id(), doc: "command id" },
      result: { type: oneOf("ok", "refused", "fault", "timeout"), doc: "outcome" },
      why: { type: id(24), optional: true, doc: "reason when not ok" },
    },
  },
  PASSED: {
    dir: "up", board: "barrier-executor", reliable: true,
    doc: "A vehicle passed under the boom (loop under the boom went occupied then clear).",
    fields: { session: { type: id(), optional: true, doc: "session of the open command" } },
  },
  ALARM: {
    dir: "up", board: "barrier-executor", reliable: true,
    doc: "Safety alarm (obstruction while closing, over-current, emergency input, heartbeat loss).",
    fields: { code: { type: id(16), doc: "alarm or fault code" }, detail: { type: text(40), optional: true, doc: "detail" } },
  },
});

export type Validation = { ok: true } | { ok: false; reason: "unknown" | "fields"; detail: string };

function validField(spec: FieldKind, value: string): boolean {
  switch (spec.kind) {
    case "uint": {
      if (value.length < 1 || value.length > 10 || (value.length > 1 && value[0] === "0")) return false;
      for (let i = 0; i < value.length; i++) { const c = value.charCodeAt(i); if (c < 48 || c > 57) return false; }
      return Number(value) <= spec.max;
    }
    case "text": return value.length <= spec.max;
    case "enum": return spec.values.indexOf(value) >= 0;
    case "hex":
    case "digits": {
      if (value.length < spec.min || value.length > spec.max) return false;
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        const digit = c >= 48 && c <= 57;
        if (!(digit || (spec.kind === "hex" && c >= 65 && c <= 70))) return false;
      }
      return true;
    }
    case "id": {
      if (value.length < 1 || value.length > spec.max) return false;
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95 || c === 46 || c === 58;
        if (!ok) return false;
      }
      return true;
    }
  }
}

/** Check a decoded frame against the catalogue: known type, reliability matches the sequence
 *  number, every required field present, no unknown field, every value of the right shape. */
export function validateMessage(type: string, seq: number, fields: Fields): Validation {
  const spec = MESSAGES[type];
  if (spec === undefined || !Object.prototype.hasOwnProperty.call(MESSAGES, type)) return { ok: false, reason: "unknown", detail: type };
  if (spec.reliable !== (seq !== 0)) return { ok: false, reason: "fields", detail: spec.reliable ? "reliable frame with seq 0" : "unreliable frame with a seq" };
  for (const key in fields) {
    const field = spec.fields[key];
    if (field === undefined) return { ok: false, reason: "fields", detail: `unknown field ${key}` };
    if (!validField(field.type, fields[key])) return { ok: false, reason: "fields", detail: `bad value for ${key}` };
  }
  for (const key in spec.fields) {
    if (!spec.fields[key].optional && fields[key] === undefined) return { ok: false, reason: "fields", detail: `missing ${key}` };
  }
  return { ok: true };
}

/** Text of a frame for logs, with secret fields masked. */
export function describeMessage(type: string, fields: Fields): string {
  const spec = MESSAGES[type];
  let out = type;
  for (const key in fields) {
    out += " " + key + "=" + (spec?.fields[key]?.secret ? "****" : JSON.stringify(fields[key]));
  }
  return out;
}
