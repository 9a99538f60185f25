/**
 * Register map of the barrier safety core: the one source of truth for the MCU firmware, the
 * TypeScript model, the co-simulation harness and docs/safety-core.md. It mirrors the
 * localparams of rtl/safety_core.v; `syspark fpga cosim` fails if the two disagree.
 *
 * The bus is one 32-bit access per clock: a write is sampled on the rising edge, a read is
 * combinational on the address. Plain TypeScript, XS-clean (no Node, no npm, no mutable
 * module state): the barrier-executor firmware imports it.
 */

/** CSR word addresses (4-bit address bus). */
import { deepFreeze } from "../../common/link/freeze";

export const REG = Object.freeze({
  /** W: command pulses, see CTRL. Reads as 0. */
  CTRL: 0x0,
  /** R: see STATUS bit fields. */
  STATUS: 0x1,
  /** R: latched fault code (FAULT.*), 0 when no fault. */
  FAULT: 0x2,
  /** R: CORE_ID. */
  ID: 0x3,
  /** R: configuration read-back (cycles). */
  CFG_DEBOUNCE: 0x4,
  CFG_RUN_TIMEOUT: 0x5,
  CFG_DEAD_TIME: 0x6,
  CFG_WATCHDOG: 0x7,
  CFG_OC_FILTER: 0x8,
  CFG_CLK_HZ: 0x9,
  /** R: cycles left before the heartbeat watchdog expires (0 = expired). */
  HB_REMAIN: 0xa,
});

/** "SAFE" + register-map version 1.0. */
export const CORE_ID = 0x5afe0100;

/** CTRL write bits (write-one pulses; several may be set in one write). */
export const CTRL = Object.freeze({
  OPEN: 1 << 0,
  /** Ignored when OPEN is set in the same write (open wins). */
  CLOSE: 1 << 1,
  STOP: 1 << 2,
  /** Clears a latched fault, only once its cause is gone. */
  FAULT_RESET: 1 << 3,
  /** Feeds the heartbeat watchdog. */
  HEARTBEAT: 1 << 4,
});

/** STATUS read bits. */
export const STATUS = Object.freeze({
  STATE_MASK: 0x7,
  FAULT: 1 << 3,
  MOTOR_UP: 1 << 4,
  MOTOR_DOWN: 1 << 5,
  BRAKE: 1 << 6,
  LIMIT_OPEN: 1 << 7,
  LIMIT_CLOSED: 1 << 8,
  OBSTRUCTION: 1 << 9,
  OVER_CURRENT: 1 << 10,
  EMERGENCY: 1 << 11,
  SENSOR_OK: 1 << 12,
  HEARTBEAT_OK: 1 << 13,
  /** A CLOSE now would be refused (obstruction, failed sensor, emergency, no heartbeat, fault). */
  CLOSE_INHIBIT: 1 << 14,
  /** An obstruction already reversed the boom in this close cycle: the next one stops it. */
  OBSTRUCTION_SEEN: 1 << 15,
  /** In REVERSING: 1 = the boom will drive up once the dead time is over. */
  REVERSE_UP: 1 << 16,
  FAULT_CODE_SHIFT: 20,
  FAULT_CODE_MASK: 0xf << 20,
});

/** Core states (STATUS[2:0] and the `state` output). */
export const STATE = Object.freeze({
  SAFE: 0,
  STOPPED: 1,
  CLOSED: 2,
  OPENING: 3,
  OPEN: 4,
  CLOSING: 5,
  REVERSING: 6,
  FAULT: 7,
});
export type CoreState = (typeof STATE)[keyof typeof STATE];
export const STATE_NAMES = Object.freeze(["safe", "stopped", "closed", "opening", "open", "closing", "reversing", "fault"] as const);
export type CoreStateName = (typeof STATE_NAMES)[number];

/** Latched fault codes (FAULT register, `fault_code` output). */
export const FAULT = Object.freeze({
  NONE: 0,
  /** The motor current stayed over the limit for OC_FILTER cycles (stall, jam). */
  OVER_CURRENT: 1,
  /** Both limit switches active at once: a switch is stuck or wired wrong. */
  BOTH_LIMITS: 2,
  /** A motion lasted RUN_TIMEOUT cycles without reaching its limit: a switch is missing. */
  RUN_TIMEOUT: 3,
  /** The closed limit asserted after the boom left it driving up, with no closing motion since: the switch is stuck. */
  LIMIT_STUCK: 4,
  /** The probe after a RUN_TIMEOUT (a quarter of it) timed out too: latched, only rst (maintenance) clears it. */
  RUN_TIMEOUT_REPEAT: 5,
});
export const FAULT_NAMES = Object.freeze(["none", "over_current", "both_limits", "run_timeout", "limit_stuck", "run_timeout_repeat"] as const);

/** Bits of the raw-input vector the model and the co-simulation stimulus use. */
export const IN = Object.freeze({
  LIMIT_OPEN: 1 << 0,
  LIMIT_CLOSED: 1 << 1,
  OBSTRUCTION: 1 << 2,
  OVER_CURRENT: 1 << 3,
  EMERGENCY: 1 << 4,
  SENSOR_OK: 1 << 5,
  /** Synchronous reset (co-simulation only; the model's reset() does the same). */
  RESET: 1 << 6,
});

/** Timing parameters, in clock cycles (Verilog parameters of the same names, upper-case). */
export interface SafetyCoreParams {
  clockHz: number;
  debounceCycles: number;
  runTimeoutCycles: number;
  deadTimeCycles: number;
  watchdogCycles: number;
  ocFilterCycles: number;
}

/** The RTL's defaults at 50 MHz: 2 ms debounce, 10 s run timeout, 200 ms dead time, 500 ms watchdog, 50 ms over-current filter. */
export const DEFAULT_PARAMS: Readonly<SafetyCoreParams> = Object.freeze({
  clockHz: 50_000_000,
  debounceCycles: 100_000,
  runTimeoutCycles: 500_000_000,
  deadTimeCycles: 10_000_000,
  watchdogCycles: 25_000_000,
  ocFilterCycles: 2_500_000,
});

/** Verilog parameter name of each field. */
export const PARAM_NAMES: Readonly<Record<keyof SafetyCoreParams, string>> = Object.freeze({
  clockHz: "CLK_HZ",
  debounceCycles: "DEBOUNCE_CYCLES",
  runTimeoutCycles: "RUN_TIMEOUT_CYCLES",
  deadTimeCycles: "DEAD_TIME_CYCLES",
  watchdogCycles: "WATCHDOG_CYCLES",
  ocFilterCycles: "OC_FILTER_CYCLES",
});

/** Checks a parameter set: every field a whole number in 1..2^32-1. Throws with the field's name. */
export function validateParams(p: SafetyCoreParams): SafetyCoreParams {
  const keys = Object.keys(PARAM_NAMES) as (keyof SafetyCoreParams)[];
  for (const k of keys) {
    const v = p[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 0xffffffff) {
      throw new RangeError(`safety core parameter ${k} (${PARAM_NAMES[k]}) must be a whole number of cycles in 1..4294967295, got ${String(v)}`);
    }
  }
  return p;
}

/** Milliseconds to clock cycles (rounded up, at least 1). */
export function msToCycles(ms: number, clockHz: number = DEFAULT_PARAMS.clockHz): number {
  return Math.max(1, Math.ceil((ms * clockHz) / 1000));
}

/** Clock cycles to milliseconds. */
export function cyclesToMs(cycles: number, clockHz: number = DEFAULT_PARAMS.clockHz): number {
  return (cycles * 1000) / clockHz;
}

/**
 * Layout of the `dbg` output (every register of the core, 10 words of 32 bits, word 0 in
 * dbg[31:0]). Word 0 packs the small registers; words 1..9 are the counters.
 */
export const DBG_WORDS = 10;
export const DBG_FIELDS = deepFreeze([
  // name (as in the RTL), word, bit offset, width
  { name: "state", word: 0, shift: 0, width: 3 },
  { name: "fault_code", word: 0, shift: 3, width: 4 },
  { name: "motor_up", word: 0, shift: 7, width: 1 },
  { name: "motor_down", word: 0, shift: 8, width: 1 },
  { name: "brake", word: 0, shift: 9, width: 1 },
  { name: "fault", word: 0, shift: 10, width: 1 },
  { name: "rev_up", word: 0, shift: 11, width: 1 },
  { name: "obst_seen", word: 0, shift: 12, width: 1 },
  { name: "sync1", word: 0, shift: 13, width: 6 },
  { name: "sync2", word: 0, shift: 19, width: 6 },
  { name: "stable", word: 0, shift: 25, width: 5 },
  { name: "off_closed", word: 0, shift: 30, width: 1 },
  { name: "rt_probe", word: 0, shift: 31, width: 1 },
  { name: "db_lo", word: 1, shift: 0, width: 32 },
  { name: "db_lc", word: 2, shift: 0, width: 32 },
  { name: "db_ob", word: 3, shift: 0, width: 32 },
  { name: "db_em", word: 4, shift: 0, width: 32 },
  { name: "db_sok", word: 5, shift: 0, width: 32 },
  { name: "oc_cnt", word: 6, shift: 0, width: 32 },
  { name: "wd_cnt", word: 7, shift: 0, width: 32 },
  { name: "run_cnt", word: 8, shift: 0, width: 32 },
  { name: "idle_cnt", word: 9, shift: 0, width: 32 },
] as const);
export type DbgFieldName = (typeof DBG_FIELDS)[number]["name"];

/** One field out of a dbg vector. */
export function dbgField(words: ArrayLike<number>, name: DbgFieldName): number {
  for (const f of DBG_FIELDS) {
    if (f.name === name) return f.width === 32 ? words[f.word] >>> 0 : (words[f.word] >>> f.shift) & ((1 << f.width) - 1);
  }
  throw new RangeError(`no dbg field ${name}`);
}

/** Human-readable decode of a dbg vector, one "name=value" per field. */
export function describeDbg(words: ArrayLike<number>): string {
  const parts: string[] = [];
  for (const f of DBG_FIELDS) {
    const v = dbgField(words, f.name);
    if (f.name === "state") parts.push(`state=${STATE_NAMES[v]}(${v})`);
    else if (f.name === "fault_code") parts.push(`fault_code=${FAULT_NAMES[v] ?? "?"}(${v})`);
    else parts.push(`${f.name}=${f.width > 1 && f.width < 32 ? "0b" + v.toString(2).padStart(f.width, "0") : v}`);
  }
  return parts.join(" ");
}

/** The serial-link barrier state (firmware/common/link BARRIER_STATES) a core state maps to. */
export function linkState(state: number, revUp: boolean): "closed" | "opening" | "open" | "closing" | "stopped" | "fault" | "safe" {
  switch (state) {
    case STATE.CLOSED: return "closed";
    case STATE.OPENING: return "opening";
    case STATE.OPEN: return "open";
    case STATE.CLOSING: return "closing";
    case STATE.REVERSING: return revUp ? "opening" : "closing";
    case STATE.FAULT: return "fault";
    case STATE.SAFE: return "safe";
    default: return "stopped";
  }
}
