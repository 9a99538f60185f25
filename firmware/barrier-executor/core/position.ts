/**
 * Boom position estimate, % open (0 = closed, 100 = open), from the motor run time and the
 * limit switches: the motor outputs read from the core integrate at the nominal travel speed,
 * and a limit switch snaps the estimate to its end. Between the switches the estimate stays in
 * 1..99, so a 0 or 100 always means a switch says so (with both switches made — a fault —
 * the estimate is kept). Before any switch has been seen the boom's place is unknown and
 * reported as 50.
 */
export class PositionEstimate {
  private pos = 50;
  private at = 0;
  private up = false;
  private down = false;

  constructor(private readonly travelMs: number) {}

  get percent(): number { return Math.round(this.pos); }

  reset(now: number): void {
    this.at = now;
  }

  /** Account for the motion since the last update, then take the new motor and limit readings. */
  update(now: number, motorUp: boolean, motorDown: boolean, limOpen: boolean, limClosed: boolean): void {
    const dt = Math.max(0, now - this.at);
    this.at = now;
    const step = (dt * 100) / this.travelMs;
    if (this.up) this.pos += step;
    else if (this.down) this.pos -= step;
    if (limOpen && limClosed) return; // contradictory switches (a fault): keep the estimate
    if (limOpen) this.pos = 100;
    else if (limClosed) this.pos = 0;
    else if (this.pos > 99) this.pos = 99;
    else if (this.pos < 1) this.pos = 1;
    this.up = motorUp;
    this.down = motorDown;
  }
}
