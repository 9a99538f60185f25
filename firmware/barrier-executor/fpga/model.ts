/**
 * Cycle-accurate TypeScript twin of rtl/safety_core.v (ARCHITECTURE §6).
 *
 * For the same inputs on every clock edge it holds the same value in every register as the
 * RTL (proved by lockstep co-simulation: `syspark fpga cosim`). Plain TypeScript, XS-clean:
 * the barrier-executor firmware runs it as its FPGA in simulation.
 *
 * API for the executor firmware and the simulator:
 *
 *   const core = new SafetyCoreModel({ ...DEFAULT_PARAMS });  // or scaled parameters
 *   core.setInputs({ limitClosed: true, sensorOk: true });    // raw field inputs (levels)
 *   core.writeRegister(REG.CTRL, CTRL.HEARTBEAT);             // bus write, applied on the next edge
 *   core.step();                                              // one clock edge
 *   core.fastForward(core.msToCycles(250));                   // n edges, exactly, quickly
 *   core.readRegister(REG.STATUS);                            // combinational read
 *   core.outputs;                                             // { motorUp, motorDown, brake, fault, faultCode, state }
 *
 * Bus writes queue (at most WRITE_QUEUE_SIZE): each clock edge consumes one, like the real
 * bus that carries one access per cycle. `fastForward(n)` equals n × `step()` bit for bit: it
 * steps while anything but a counter would change, and jumps over stretches where only
 * counters count (no write queued, inputs unchanged, no counter reaching a threshold).
 *
 * No allocation per cycle; every register is a number field (counters are < 2^32).
 */
import {
  CORE_ID, DEFAULT_PARAMS, FAULT, IN, REG, STATE,
  msToCycles as msToCyclesAt, validateParams, type SafetyCoreParams,
} from "./regmap";

export interface CoreInputs {
  limitOpen: boolean;
  limitClosed: boolean;
  obstruction: boolean;
  overCurrent: boolean;
  emergency: boolean;
  /** Obstruction sensor present and healthy (low = failed or missing: closing is refused). */
  sensorOk: boolean;
}

export interface CoreOutputs {
  motorUp: boolean;
  motorDown: boolean;
  brake: boolean;
  fault: boolean;
  faultCode: number;
  state: number;
}

export const WRITE_QUEUE_SIZE = 8;

const S_SAFE = STATE.SAFE, S_STOPPED = STATE.STOPPED, S_CLOSED = STATE.CLOSED, S_OPENING = STATE.OPENING;
const S_OPEN = STATE.OPEN, S_CLOSING = STATE.CLOSING, S_REVERSING = STATE.REVERSING, S_FAULT = STATE.FAULT;

export class SafetyCoreModel {
  readonly params: Readonly<SafetyCoreParams>;
  /** Clock edges since construction (reset() does not clear it). */
  cycle = 0;

  // parameters, as plain fields for speed
  private readonly deb: number;
  private readonly run: number;
  /** RTL RUN_PROBE_CYCLES: the run limit after a run timeout. */
  private readonly probe: number;
  private readonly dead: number;
  private readonly wd: number;
  private readonly oc: number;

  // ---- registers (names as in the RTL) ----
  sync1 = 0;
  sync2 = 0;
  stable = 0;
  dbLo = 0;
  dbLc = 0;
  dbOb = 0;
  dbEm = 0;
  dbSok = 0;
  ocCnt = 0;
  wdCnt = 0;
  runCnt = 0;
  idleCnt = 0;
  state: number = S_SAFE;
  faultCode = 0;
  revUp = 0;
  obstSeen = 0;
  /** The boom was seen off the closed limit while driving up and has not driven down since (RTL off_closed): a closed limit now is a stuck switch. */
  offClosed = 0;
  /** A run timeout happened and no motion has reached its limit since (RTL rt_probe). */
  rtProbe = 0;
  motorUp = 0;
  motorDown = 0;
  brake = 1;
  fault = 0;

  /** Raw input levels (IN.* bits). */
  inputs = 0;
  private readonly qAddr = new Uint8Array(WRITE_QUEUE_SIZE);
  private readonly qData = new Uint32Array(WRITE_QUEUE_SIZE);
  private qHead = 0;
  private qLen = 0;
  /** Periodic heartbeat feed (the executor's timer): 0 = off, else a HEARTBEAT write every hbPeriod edges. */
  private hbPeriod = 0;
  /** Edges until the next fed heartbeat (the hbPhase-th edge from now carries it). */
  private hbPhase = 0;

  constructor(params: Partial<SafetyCoreParams> = {}) {
    const p = validateParams({ ...DEFAULT_PARAMS, ...params });
    this.params = Object.freeze(p);
    this.deb = p.debounceCycles;
    this.run = p.runTimeoutCycles;
    this.probe = Math.max(1, Math.floor(p.runTimeoutCycles / 4));
    this.dead = p.deadTimeCycles;
    this.wd = p.watchdogCycles;
    this.oc = p.ocFilterCycles;
    this.reset();
  }

  /** Synchronous reset: every register to its reset value (same as one edge with rst high). Clears queued writes. */
  reset(): void {
    this.sync1 = 0; this.sync2 = 0; this.stable = 0;
    this.dbLo = 0; this.dbLc = 0; this.dbOb = 0; this.dbEm = 0; this.dbSok = 0;
    this.ocCnt = 0;
    this.wdCnt = this.wd;
    this.runCnt = 0;
    this.idleCnt = 0;
    this.state = S_SAFE;
    this.faultCode = 0;
    this.revUp = 0;
    this.obstSeen = 0;
    this.offClosed = 0;
    this.rtProbe = 0;
    this.motorUp = 0;
    this.motorDown = 0;
    this.brake = 1;
    this.fault = 0;
    this.qLen = 0;
  }

  /** Milliseconds to cycles of this core's clock. */
  msToCycles(ms: number): number {
    return msToCyclesAt(ms, this.params.clockHz);
  }

  /** Sets raw input levels; fields left out keep their value. */
  setInputs(levels: Partial<CoreInputs>): void {
    let v = this.inputs;
    if (levels.limitOpen !== undefined) v = levels.limitOpen ? v | IN.LIMIT_OPEN : v & ~IN.LIMIT_OPEN;
    if (levels.limitClosed !== undefined) v = levels.limitClosed ? v | IN.LIMIT_CLOSED : v & ~IN.LIMIT_CLOSED;
    if (levels.obstruction !== undefined) v = levels.obstruction ? v | IN.OBSTRUCTION : v & ~IN.OBSTRUCTION;
    if (levels.overCurrent !== undefined) v = levels.overCurrent ? v | IN.OVER_CURRENT : v & ~IN.OVER_CURRENT;
    if (levels.emergency !== undefined) v = levels.emergency ? v | IN.EMERGENCY : v & ~IN.EMERGENCY;
    if (levels.sensorOk !== undefined) v = levels.sensorOk ? v | IN.SENSOR_OK : v & ~IN.SENSOR_OK;
    this.inputs = v & 0x3f;
  }

  /** Queues a bus write; it takes effect on the next clock edge (one write per edge). */
  writeRegister(addr: number, value: number): void {
    if (!Number.isInteger(addr) || addr < 0 || addr > 15) throw new RangeError(`register address must be 0..15, got ${addr}`);
    if (this.qLen >= WRITE_QUEUE_SIZE) throw new RangeError(`safety core write queue full (${WRITE_QUEUE_SIZE} writes without a clock edge)`);
    const i = (this.qHead + this.qLen) % WRITE_QUEUE_SIZE;
    this.qAddr[i] = addr;
    this.qData[i] = value >>> 0;
    this.qLen++;
  }

  /**
   * Feeds the heartbeat every `periodCycles` edges (first one on the next edge), like the
   * executor's heartbeat timer; 0 stops it. Same registers as queueing the writes by hand, but
   * fastForward() can jump over it analytically. A fed heartbeat shares the edge with a queued
   * CTRL write (bits OR-ed); a queued write to another register waits one edge.
   */
  feedHeartbeat(periodCycles: number): void {
    if (!Number.isInteger(periodCycles) || periodCycles < 0) throw new RangeError(`heartbeat period must be a whole number of cycles >= 0, got ${periodCycles}`);
    this.hbPeriod = periodCycles;
    this.hbPhase = periodCycles > 0 ? 1 : 0;
  }

  /** Writes still waiting for a clock edge. */
  get pendingWrites(): number {
    return this.qLen;
  }

  /** Combinational CSR read of the current registers (the RTL's csr_rdata for that address). */
  readRegister(addr: number): number {
    switch (addr & 15) {
      case REG.STATUS: return this.status();
      case REG.FAULT: return this.faultCode;
      case REG.ID: return CORE_ID;
      case REG.CFG_DEBOUNCE: return this.deb;
      case REG.CFG_RUN_TIMEOUT: return this.run;
      case REG.CFG_DEAD_TIME: return this.dead;
      case REG.CFG_WATCHDOG: return this.wd;
      case REG.CFG_OC_FILTER: return this.oc;
      case REG.CFG_CLK_HZ: return this.params.clockHz >>> 0;
      case REG.HB_REMAIN: return (this.wd - this.wdCnt) >>> 0;
      default: return 0;
    }
  }

  private status(): number {
    const st = this.stable;
    const ob = (st >> 2) & 1, em = (st >> 3) & 1, sok = (st >> 4) & 1;
    const hbOk = this.wdCnt < this.wd ? 1 : 0;
    const ocTrip = this.ocCnt >= this.oc ? 1 : 0;
    const closeInhibit = ob | (sok ^ 1) | em | (hbOk ^ 1) | (this.state === S_FAULT ? 1 : 0);
    return (
      (this.faultCode << 20) | (this.revUp << 16) | (this.obstSeen << 15) | (closeInhibit << 14) | (hbOk << 13) |
      (sok << 12) | (em << 11) | (ocTrip << 10) | (ob << 9) | (((st >> 1) & 1) << 8) | ((st & 1) << 7) |
      (this.brake << 6) | (this.motorDown << 5) | (this.motorUp << 4) | (this.fault << 3) | this.state
    ) >>> 0;
  }

  get outputs(): CoreOutputs {
    return {
      motorUp: this.motorUp === 1, motorDown: this.motorDown === 1, brake: this.brake === 1,
      fault: this.fault === 1, faultCode: this.faultCode, state: this.state,
    };
  }

  /** One clock edge with the current input levels and the next queued write (if any). */
  step(): void {
    if (this.hbPeriod > 0 && --this.hbPhase === 0) {
      this.hbPhase = this.hbPeriod;
      if (this.qLen > 0 && this.qAddr[this.qHead] === REG.CTRL) {
        const i = this.qHead;
        this.qHead = (i + 1) % WRITE_QUEUE_SIZE;
        this.qLen--;
        this.clock(this.inputs, 1, REG.CTRL, this.qData[i] | 16);
      } else {
        this.clock(this.inputs, 1, REG.CTRL, 16);
      }
      return;
    }
    if (this.qLen > 0) {
      const i = this.qHead;
      this.qHead = (i + 1) % WRITE_QUEUE_SIZE;
      this.qLen--;
      this.clock(this.inputs, 1, this.qAddr[i], this.qData[i]);
    } else {
      this.clock(this.inputs, 0, 0, 0);
    }
  }

  /**
   * One clock edge with explicit pins: raw inputs (IN.* bits, IN.RESET = synchronous reset),
   * bus write enable, address and data. This is what the co-simulation drives.
   */
  clock(inBits: number, we: number, addr: number, wdata: number): void {
    this.cycle++;
    if (inBits & IN.RESET) {
      const q = this.qLen;
      this.reset();
      this.qLen = q;
      return;
    }
    const deb = this.deb;
    const st = this.stable, s2 = this.sync2;
    const lo = st & 1, lc = (st >> 1) & 1, ob = (st >> 2) & 1, em = (st >> 3) & 1, sok = (st >> 4) & 1;
    const ocTrip = this.ocCnt >= this.oc;
    const hbOk = this.wdCnt < this.wd;
    const moving = (this.motorUp | this.motorDown) === 1;
    const idleOk = !moving && this.idleCnt >= this.dead;
    const obEff = (ob | (sok ^ 1)) === 1;
    const both = (lo & lc) === 1;
    const state = this.state;
    const inMotion = state === S_OPENING || state === S_CLOSING;
    const runExpired = inMotion && this.runCnt >= (this.rtProbe ? this.probe : this.run) - 1;
    const lcStuck = this.offClosed === 1 && lc === 1;
    const ctrlWr = we !== 0 && (addr & 15) === 0;
    const cOpen = ctrlWr && (wdata & 1) !== 0;
    const cClose = ctrlWr && (wdata & 3) === 2;
    const cStop = ctrlWr && (wdata & 4) !== 0;
    const cReset = ctrlWr && (wdata & 8) !== 0;
    const cHb = ctrlWr && (wdata & 16) !== 0;

    // ---- next state (same priority chain as the RTL's always @*) ----
    let nxt = state, code = this.faultCode, rev = this.revUp, seen = this.obstSeen;
    if (state === S_FAULT) {
      if (cReset && !both && !ocTrip && !(this.faultCode === FAULT.LIMIT_STUCK && lc) && this.faultCode !== FAULT.RUN_TIMEOUT_REPEAT) {
        nxt = hbOk ? S_STOPPED : S_SAFE;
        code = FAULT.NONE;
        seen = 0;
      }
    } else if (both) {
      nxt = S_FAULT; code = FAULT.BOTH_LIMITS;
    } else if (ocTrip) {
      nxt = S_FAULT; code = FAULT.OVER_CURRENT;
    } else if (runExpired) {
      nxt = S_FAULT; code = this.rtProbe ? FAULT.RUN_TIMEOUT_REPEAT : FAULT.RUN_TIMEOUT;
    } else if (lcStuck) {
      nxt = S_FAULT; code = FAULT.LIMIT_STUCK;
    } else if (em) {
      if (state === S_OPEN) {
        // stay open
      } else if (state === S_OPENING) {
        if (lo) nxt = S_OPEN;
      } else if (state === S_REVERSING) {
        rev = 1;
        if (idleOk) nxt = lo ? S_OPEN : S_OPENING;
      } else if (lo) nxt = S_OPEN;
      else if (idleOk) nxt = S_OPENING;
      else { nxt = S_REVERSING; rev = 1; }
    } else if (!hbOk) {
      nxt = S_SAFE;
    } else if (state === S_SAFE) {
      nxt = S_STOPPED;
    } else if (cStop) {
      if (moving || state === S_REVERSING) nxt = S_STOPPED;
      seen = 0;
    } else if (state === S_CLOSING) {
      if (obEff) {
        if (seen) { nxt = S_STOPPED; seen = 0; }
        else { nxt = S_REVERSING; rev = 1; seen = 1; }
      } else if (cOpen) { nxt = S_REVERSING; rev = 1; }
      else if (lc) nxt = S_CLOSED;
    } else if (state === S_OPENING) {
      if (cClose && !obEff) { nxt = S_REVERSING; rev = 0; }
      else if (lo) nxt = S_OPEN;
    } else if (state === S_REVERSING) {
      let tgt = rev;
      if (cOpen) tgt = 1;
      else if (cClose && !obEff) tgt = 0;
      if (!tgt && obEff) tgt = 1;
      rev = tgt;
      if (idleOk) nxt = tgt ? (lo ? S_OPEN : S_OPENING) : (lc ? S_CLOSED : S_CLOSING);
    } else if (cOpen && state !== S_OPEN) {
      if (lo) nxt = S_OPEN;
      else if (idleOk) nxt = S_OPENING;
      else { nxt = S_REVERSING; rev = 1; }
    } else if (cClose && !obEff && state !== S_CLOSED) {
      if (lc) nxt = S_CLOSED;
      else if (idleOk) nxt = S_CLOSING;
      else { nxt = S_REVERSING; rev = 0; }
    }

    // ---- debounce ----
    let nst = 0;
    let s: number, c: number;
    s = s2 & 1; c = this.dbLo;
    if (s === (st & 1)) { this.dbLo = 0; nst |= st & 1; } else if (c >= deb - 1) { this.dbLo = 0; nst |= s; } else { this.dbLo = c + 1; nst |= st & 1; }
    s = (s2 >> 1) & 1; c = this.dbLc;
    if (s === ((st >> 1) & 1)) { this.dbLc = 0; nst |= st & 2; } else if (c >= deb - 1) { this.dbLc = 0; nst |= s << 1; } else { this.dbLc = c + 1; nst |= st & 2; }
    s = (s2 >> 2) & 1; c = this.dbOb;
    if (s === ((st >> 2) & 1)) { this.dbOb = 0; nst |= st & 4; } else if (c >= deb - 1) { this.dbOb = 0; nst |= s << 2; } else { this.dbOb = c + 1; nst |= st & 4; }
    s = (s2 >> 4) & 1; c = this.dbEm;
    if (s === ((st >> 3) & 1)) { this.dbEm = 0; nst |= st & 8; } else if (c >= deb - 1) { this.dbEm = 0; nst |= s << 3; } else { this.dbEm = c + 1; nst |= st & 8; }
    s = (s2 >> 5) & 1; c = this.dbSok;
    if (s === ((st >> 4) & 1)) { this.dbSok = 0; nst |= st & 16; } else if (c >= deb - 1) { this.dbSok = 0; nst |= s << 4; } else { this.dbSok = c + 1; nst |= st & 16; }
    this.stable = nst;
    this.sync2 = this.sync1;
    this.sync1 = inBits & 0x3f;

    // ---- counters ----
    this.ocCnt = (s2 & 8) === 0 ? 0 : ocTrip ? this.ocCnt : this.ocCnt + 1;
    this.wdCnt = cHb ? 0 : hbOk ? this.wdCnt + 1 : this.wdCnt;
    const nxtMotion = nxt === S_OPENING || nxt === S_CLOSING;
    this.runCnt = nxtMotion && nxt === state ? this.runCnt + 1 : 0;
    this.idleCnt = moving ? 0 : this.idleCnt >= this.dead ? this.idleCnt : this.idleCnt + 1;

    this.state = nxt;
    this.faultCode = code;
    this.revUp = rev;
    // a closing cycle ends at either end of travel (RTL: obst_seen cleared on CLOSED and OPEN)
    this.obstSeen = nxt === S_CLOSED || nxt === S_OPEN ? 0 : seen;
    this.rtProbe = nxt === S_FAULT && code === FAULT.RUN_TIMEOUT && state !== S_FAULT ? 1
      : (state === S_OPENING && nxt === S_OPEN) || (state === S_CLOSING && nxt === S_CLOSED) ? 0 : this.rtProbe;
    this.offClosed = this.motorDown ? 0 : this.motorUp && !lc ? 1 : this.offClosed;
    this.motorUp = nxt === S_OPENING ? 1 : 0;
    this.motorDown = nxt === S_CLOSING ? 1 : 0;
    this.brake = nxtMotion ? 0 : 1;
    this.fault = nxt === S_FAULT ? 1 : 0;
  }

  /**
   * How many edges can be skipped analytically right now: 0 unless nothing but counters would
   * change (no queued write, inputs synchronised and settled, next state = state), else the
   * number of edges before the first counter reaches a value that changes a decision.
   */
  quietHorizon(): number {
    if (this.qLen > 0) return 0;
    const inb = this.inputs & 0x3f;
    if (this.sync1 !== inb || this.sync2 !== inb) return 0;
    let k = 0x7fffffff;
    const st = this.stable, s2 = this.sync2, deb = this.deb;
    // debounce counters: either idle at 0 (agreeing) or counting up to deb-1
    let c: number;
    c = this.dbLo;
    if ((s2 & 1) === (st & 1)) { if (c !== 0) return 0; } else { c = deb - 1 - c; if (c <= 0) return 0; if (c < k) k = c; }
    c = this.dbLc;
    if (((s2 >> 1) & 1) === ((st >> 1) & 1)) { if (c !== 0) return 0; } else { c = deb - 1 - c; if (c <= 0) return 0; if (c < k) k = c; }
    c = this.dbOb;
    if (((s2 >> 2) & 1) === ((st >> 2) & 1)) { if (c !== 0) return 0; } else { c = deb - 1 - c; if (c <= 0) return 0; if (c < k) k = c; }
    c = this.dbEm;
    if (((s2 >> 4) & 1) === ((st >> 3) & 1)) { if (c !== 0) return 0; } else { c = deb - 1 - c; if (c <= 0) return 0; if (c < k) k = c; }
    c = this.dbSok;
    if (((s2 >> 5) & 1) === ((st >> 4) & 1)) { if (c !== 0) return 0; } else { c = deb - 1 - c; if (c <= 0) return 0; if (c < k) k = c; }
    // over-current filter
    if ((s2 & 8) === 0) { if (this.ocCnt !== 0) return 0; } else if (this.ocCnt < this.oc) { c = this.oc - this.ocCnt; if (c < k) k = c; }
    // watchdog (with a heartbeat feed: periodic, no limit while it keeps the watchdog happy)
    if (this.hbPeriod > 0) {
      if (this.hbPhase <= 1) return 0;
      if (!(this.wdCnt + this.hbPhase - 1 < this.wd && this.hbPeriod <= this.wd)) {
        c = this.hbPhase - 1; if (c < k) k = c;
        if (this.wdCnt < this.wd) { c = this.wd - this.wdCnt; if (c < k) k = c; }
      }
    } else if (this.wdCnt < this.wd) { c = this.wd - this.wdCnt; if (c < k) k = c; }
    // dead-time counter
    const moving = (this.motorUp | this.motorDown) === 1;
    if (moving) { if (this.idleCnt !== 0) return 0; } else if (this.idleCnt < this.dead) { c = this.dead - this.idleCnt; if (c < k) k = c; }
    // run timer
    const state = this.state;
    if (state === S_OPENING || state === S_CLOSING) { c = (this.rtProbe ? this.probe : this.run) - 1 - this.runCnt; if (c <= 0) return 0; if (c < k) k = c; }
    else if (this.runCnt !== 0) return 0;
    // the state machine must hold still: dry-run one edge's decisions on a scratch copy
    if (!this.fsmHolds()) return 0;
    return k;
  }

  /** True when, with no bus write, the next edge leaves every non-counter register unchanged. */
  private fsmHolds(): boolean {
    const st = this.stable;
    const lo = st & 1, lc = (st >> 1) & 1, ob = (st >> 2) & 1, em = (st >> 3) & 1, sok = (st >> 4) & 1;
    const state = this.state;
    if (this.motorUp !== (state === S_OPENING ? 1 : 0) || this.motorDown !== (state === S_CLOSING ? 1 : 0)) return false;
    if (this.brake !== (state === S_OPENING || state === S_CLOSING ? 0 : 1) || this.fault !== (state === S_FAULT ? 1 : 0)) return false;
    if ((state === S_CLOSED || state === S_OPEN) && this.obstSeen) return false;
    if (state === S_FAULT) return true;
    if (lo & lc) return false;
    if (this.ocCnt >= this.oc) return false;
    if (this.offClosed && lc) return false;
    if (this.motorUp && !lc && !this.offClosed) return false;
    // run expiry is excluded by the horizon (runCnt < run-1)
    const idleOk = this.motorUp === 0 && this.motorDown === 0 && this.idleCnt >= this.dead;
    if (em) {
      if (state === S_OPEN) return true;
      if (state === S_OPENING) return !lo;
      if (state === S_REVERSING) return this.revUp === 1 && !idleOk;
      return false;
    }
    if (this.wdCnt >= this.wd) return state === S_SAFE;
    if (state === S_SAFE) return false;
    const obEff = (ob | (sok ^ 1)) === 1;
    switch (state) {
      case S_CLOSING: return !obEff && !lc;
      case S_OPENING: return !lo;
      case S_REVERSING: return !idleOk && !(this.revUp === 0 && obEff);
      default: return true; // STOPPED, CLOSED, OPEN at rest
    }
  }

  /** n clock edges with the current inputs (and queued writes); exactly equal to n × step(). */
  fastForward(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`fastForward needs a whole number of cycles >= 0, got ${n}`);
    while (n > 0) {
      const k = this.quietHorizon();
      if (k <= 1) {
        this.step();
        n--;
        continue;
      }
      const j = k < n ? k : n;
      this.skip(j);
      n -= j;
    }
  }

  /** Advances j quiet edges: only the counters move (precondition: j <= quietHorizon()). */
  private skip(j: number): void {
    this.cycle += j;
    const st = this.stable, s2 = this.sync2;
    if ((s2 & 1) !== (st & 1)) this.dbLo += j;
    if (((s2 >> 1) & 1) !== ((st >> 1) & 1)) this.dbLc += j;
    if (((s2 >> 2) & 1) !== ((st >> 2) & 1)) this.dbOb += j;
    if (((s2 >> 4) & 1) !== ((st >> 3) & 1)) this.dbEm += j;
    if (((s2 >> 5) & 1) !== ((st >> 4) & 1)) this.dbSok += j;
    if ((s2 & 8) !== 0 && this.ocCnt < this.oc) this.ocCnt += j;
    if (this.hbPeriod > 0 && j >= this.hbPhase) {
      // periodic path (quietHorizon checked the watchdog never expires): heartbeats at edges
      // hbPhase, hbPhase + P, …; wd_cnt restarts from 0 after each
      const r = (j - this.hbPhase) % this.hbPeriod;
      this.wdCnt = r;
      this.hbPhase = this.hbPeriod - r;
    } else {
      if (this.wdCnt < this.wd) this.wdCnt += j;
      if (this.hbPeriod > 0) this.hbPhase -= j;
    }
    if (this.motorUp === 0 && this.motorDown === 0 && this.idleCnt < this.dead) this.idleCnt += j;
    if (this.state === S_OPENING || this.state === S_CLOSING) this.runCnt += j;
  }

  /** Every register packed as the RTL's dbg output (layout DBG_FIELDS in regmap.ts). */
  dbg(out: Uint32Array): Uint32Array {
    out[0] = (this.state | (this.faultCode << 3) | (this.motorUp << 7) | (this.motorDown << 8) | (this.brake << 9) |
      (this.fault << 10) | (this.revUp << 11) | (this.obstSeen << 12) | (this.sync1 << 13) | (this.sync2 << 19) |
      (this.stable << 25) | (this.offClosed << 30) | (this.rtProbe << 31)) >>> 0;
    out[1] = this.dbLo; out[2] = this.dbLc; out[3] = this.dbOb; out[4] = this.dbEm; out[5] = this.dbSok;
    out[6] = this.ocCnt; out[7] = this.wdCnt; out[8] = this.runCnt; out[9] = this.idleCnt;
    return out;
  }

  /** Restores every register from a dbg vector (queued writes are dropped). */
  load(words: ArrayLike<number>): void {
    const w0 = words[0];
    this.state = w0 & 7; this.faultCode = (w0 >>> 3) & 15; this.motorUp = (w0 >>> 7) & 1; this.motorDown = (w0 >>> 8) & 1;
    this.brake = (w0 >>> 9) & 1; this.fault = (w0 >>> 10) & 1; this.revUp = (w0 >>> 11) & 1; this.obstSeen = (w0 >>> 12) & 1;
    this.sync1 = (w0 >>> 13) & 63; this.sync2 = (w0 >>> 19) & 63; this.stable = (w0 >>> 25) & 31; this.offClosed = (w0 >>> 30) & 1; this.rtProbe = (w0 >>> 31) & 1;
    this.dbLo = words[1] >>> 0; this.dbLc = words[2] >>> 0; this.dbOb = words[3] >>> 0; this.dbEm = words[4] >>> 0;
    this.dbSok = words[5] >>> 0; this.ocCnt = words[6] >>> 0; this.wdCnt = words[7] >>> 0; this.runCnt = words[8] >>> 0;
    this.idleCnt = words[9] >>> 0;
    this.qLen = 0;
  }
}
