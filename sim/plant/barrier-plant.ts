/**
 * The physical side of a barrier, for the simulator and the HIL harness: a boom driven by the
 * safety core's motor outputs, with limit switches near both ends, mechanical end stops just
 * beyond them, a motor current that rises when the boom cannot move (a jam, or an end stop
 * reached because a limit switch failed), an obstruction sensor under the boom, and an
 * emergency input. Faults are injected by the harness: a jam, a stuck or missing limit switch,
 * a failed obstruction sensor (its health output goes low). The motor drive's over-current
 * trip latches while the boom stays jammed (the drive keeps reporting the blocked load even
 * with the motor off) and is released when the jam is cleared: so a fault reset is refused by
 * the core while the boom is jammed, and accepted once it is free.
 *
 * Piecewise exact: between two changes of the motor outputs the boom moves at a constant
 * speed, so `msUntilChange()` tells the simulator how long it may fast-forward the core before
 * one of the plant's outputs changes.
 */

export interface PlantConfig {
  /** Full travel, closed to open, ms. */
  travelMs: number;
  /** A limit switch is made within this many % of its end of travel. */
  limitBandPct: number;
  /** Mechanical end stops sit this many % beyond the 0 and 100 marks. */
  overtravelPct: number;
  /** Motor current while the boom moves, amperes. */
  runCurrentA: number;
  /** Motor current once stalled, amperes. */
  stallCurrentA: number;
  /** Time for the current to climb from running to stall current, ms. */
  stallRiseMs: number;
  /** Trip point of the motor driver's over-current comparator, amperes. */
  overCurrentA: number;
}

export const DEFAULT_PLANT: PlantConfig = {
  travelMs: 3500,
  limitBandPct: 1,
  overtravelPct: 2,
  runCurrentA: 2.5,
  stallCurrentA: 9,
  stallRiseMs: 20,
  overCurrentA: 6,
};

export interface MotorDrive {
  motorUp: boolean;
  motorDown: boolean;
  brake: boolean;
}

/** What the plant feeds to the safety core's raw inputs. */
export interface PlantOutputs {
  limOpen: boolean;
  limClosed: boolean;
  obstruction: boolean;
  overCurrent: boolean;
  emergency: boolean;
  sensorOk: boolean;
}

export type LimitSwitchFault = "ok" | "stuck" | "missing";

export class BarrierPlant {
  readonly config: PlantConfig;
  /** Boom position, % open; the mechanical range is -overtravel..100+overtravel. */
  private pos: number;
  private drive: MotorDrive = { motorUp: false, motorDown: false, brake: true };
  /** Ms the motor has been stalled (driving without moving); -1 when not stalled. */
  private stalledMs = -1;
  private jammed = false;
  /** The drive's over-current trip latches while the boom stays blocked (released by clearJam). */
  private tripLatched = false;
  private vehicle = false;
  private emergencyIn = false;
  private sensorFailed = false;
  private limitFault: Record<"open" | "closed", LimitSwitchFault> = { open: "ok", closed: "ok" };
  /** Simulated ms since the plant started. */
  elapsedMs = 0;

  constructor(config: Partial<PlantConfig> = {}, initialPct = 0) {
    this.config = { ...DEFAULT_PLANT, ...config };
    const c = this.config;
    if (!(c.travelMs > 0 && c.limitBandPct > 0 && c.limitBandPct < 50 && c.overtravelPct >= 0 && c.stallRiseMs > 0)) {
      throw new Error("barrier plant: travelMs, limitBandPct (0..50), stallRiseMs must be positive and overtravelPct >= 0");
    }
    if (!(c.runCurrentA < c.overCurrentA && c.overCurrentA <= c.stallCurrentA)) {
      throw new Error("barrier plant: expected runCurrentA < overCurrentA <= stallCurrentA");
    }
    this.pos = initialPct;
  }

  // ---- observables

  get positionPct(): number { return this.pos; }
  get motor(): Readonly<MotorDrive> { return this.drive; }
  get isJammed(): boolean { return this.jammed; }
  get vehicleUnder(): boolean { return this.vehicle; }

  /** Motor current, amperes. */
  get currentA(): number {
    const c = this.config;
    if (!this.driving()) return 0;
    if (this.stalledMs < 0) return c.runCurrentA;
    return c.runCurrentA + (c.stallCurrentA - c.runCurrentA) * Math.min(1, this.stalledMs / c.stallRiseMs);
  }

  outputs(): PlantOutputs {
    return {
      limOpen: this.limit("open"),
      limClosed: this.limit("closed"),
      obstruction: this.vehicle && !this.sensorFailed,
      overCurrent: this.currentA >= this.config.overCurrentA || (this.tripLatched && this.jammed),
      emergency: this.emergencyIn,
      sensorOk: !this.sensorFailed,
    };
  }

  // ---- harness inputs

  setDrive(drive: MotorDrive): void {
    const wasUp = this.drive.motorUp, wasDown = this.drive.motorDown;
    this.drive = { motorUp: drive.motorUp, motorDown: drive.motorDown, brake: drive.brake };
    if (drive.motorUp !== wasUp || drive.motorDown !== wasDown) this.stalledMs = this.blocked() ? 0 : -1;
  }

  setVehicleUnder(present: boolean): void { this.vehicle = present; }
  setEmergency(active: boolean): void { this.emergencyIn = active; }
  /** The boom cannot move (a jam, someone holding it): a driven motor stalls. */
  jam(): void {
    this.jammed = true;
    if (this.driving() && this.stalledMs < 0) this.stalledMs = 0;
  }
  clearJam(): void {
    this.jammed = false;
    this.tripLatched = false;
    if (!this.blocked()) this.stalledMs = -1;
  }
  /** "stuck": the switch reads made whatever the boom does; "missing": it never reads made. */
  breakLimitSwitch(which: "open" | "closed", fault: LimitSwitchFault): void { this.limitFault[which] = fault; }
  /** A failed or unplugged obstruction sensor: health low, and it no longer sees anything. */
  failObstructionSensor(failed: boolean): void { this.sensorFailed = failed; }

  // ---- time

  /** Move time on by `ms` with the current motor drive. */
  advance(ms: number): void {
    if (!(ms > 0)) return;
    this.elapsedMs += ms;
    if (!this.driving()) return;
    if (this.stalledMs >= 0) {
      this.stalledMs += ms;
      if (this.currentA >= this.config.overCurrentA) this.tripLatched = true;
      return;
    }
    const c = this.config;
    const dir = this.drive.motorUp ? 1 : -1;
    const stop = dir > 0 ? 100 + c.overtravelPct : -c.overtravelPct;
    const next = this.pos + (dir * ms * 100) / c.travelMs;
    if ((dir > 0 && next >= stop) || (dir < 0 && next <= stop)) {
      const used = (Math.abs(stop - this.pos) * c.travelMs) / 100;
      this.pos = stop;
      this.stalledMs = ms - used;
      if (this.currentA >= this.config.overCurrentA) this.tripLatched = true;
    } else {
      this.pos = next;
    }
  }

  /** Ms until one of outputs() would change with the current drive (0 = right now, at the next
   *  instant of motion: the boom sits exactly on a switch edge); Infinity if never. */
  msUntilChange(): number {
    if (!this.driving()) return Infinity;
    const c = this.config;
    if (this.stalledMs >= 0) {
      const tripAt = ((c.overCurrentA - c.runCurrentA) / (c.stallCurrentA - c.runCurrentA)) * c.stallRiseMs;
      return this.stalledMs < tripAt ? tripAt - this.stalledMs : Infinity;
    }
    const dir = this.drive.motorUp ? 1 : -1;
    const speed = 100 / c.travelMs; // % per ms
    // Positions where something changes: the two limit-switch edges and the end stop ahead.
    const marks = [c.limitBandPct, 100 - c.limitBandPct, dir > 0 ? 100 + c.overtravelPct : -c.overtravelPct];
    let best = Infinity;
    for (const m of marks) {
      const d = (m - this.pos) * dir;
      if (d >= -1e-9) best = Math.min(best, Math.max(0, d) / speed);
    }
    return best;
  }

  private driving(): boolean {
    return this.drive.motorUp !== this.drive.motorDown && (this.drive.motorUp || this.drive.motorDown);
  }

  private blocked(): boolean {
    if (!this.driving()) return false;
    if (this.jammed) return true;
    const c = this.config;
    return this.drive.motorUp ? this.pos >= 100 + c.overtravelPct : this.pos <= -c.overtravelPct;
  }

  private limit(which: "open" | "closed"): boolean {
    const fault = this.limitFault[which];
    if (fault === "stuck") return true;
    if (fault === "missing") return false;
    return which === "open" ? this.pos >= 100 - this.config.limitBandPct : this.pos <= this.config.limitBandPct;
  }
}
