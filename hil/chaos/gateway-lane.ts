/**
 * One exit lane of the gateway crash campaign: the simulated exit controller and barrier
 * executor (the real firmware, with the barrier's plant) on the board ends of socat pty pairs,
 * a vehicle, and the driver of one exit at a time — entry, arrival, badge, paying like a driver
 * on the pay link the display's QR code holds, leaving once the boom is up. The boards live in
 * the campaign's process: they must not die with the gateway, as real boards do not.
 *
 * The lane also watches its boom: each time it goes from closed to fully open counts as one
 * opening, given to the exit the lane is driving (two for one exit is a doubled open), or noted
 * as an opening nobody asked for.
 */
import type { PtyPair } from "../../host/link/pty";
import { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { RealClock } from "../../sim/boards/virtual-clock";
import { LaneVehicle } from "../../sim/site/vehicle";

/** What one driven exit left behind, before the cloud's database is read. */
export interface DrivenExit {
  lane: string;
  /** The badge the car entered and leaves with (its identity in the cloud). */
  badge: string;
  /** The session the pay link named, when the lane got that far. */
  sessionId?: string;
  /** Boom openings while this exit was driven. */
  openings: number;
  letOut: boolean;
  /** Arrival on the loop → boom fully open, ms. */
  arrivalToOpenMs?: number;
  /** Where it stopped, when it did not complete. */
  stoppedAt?: string;
  /** Times the driver presented the badge again because the display still asked for it. */
  badgedAgain: number;
}

/** The cloud side a driver talks to: the pay API, the emulator's card page, the database. */
export interface DriverCloud {
  /** Publishes the car's entry (the entry lane's camera, on the site broker). */
  publishEntry(badge: string): Promise<void>;
  /** The session's status once the cloud has opened it for this badge, else undefined. */
  sessionStatus(badge: string): Promise<string | undefined>;
  /** Pays the pay link with a test card like a driver on their phone; throws with the reason. */
  pay(payUrl: string): Promise<void>;
  /** How long this driver takes to get their phone out and type the card, ms. */
  payDelayMs(): number;
}

export interface LaneTimeouts {
  /** For each step of an exit (entry seen, lane ready, identifying, priced, let out). */
  stepMs: number;
}

// A quick boom and short display times: more exits, hence more crash moments, per minute. The
// firmware's own travel time follows the plant's, as on a real barrier's manifest.
const PLANT = { travelMs: 800 } as const;
const BARRIER_CONFIG = { travelMs: 800, autoCloseDelayMs: 500 } as const;
const EXIT_CONFIG = { presenceDebounceMs: 10, doneDisplayMs: 100, deniedDisplayMs: 100 } as const;
const BADGE_AGAIN_MS = 5000;

export class ChaosLane {
  readonly vehicle: LaneVehicle;
  /** The exit being driven, which boom openings are given to. */
  private current: DrivenExit | undefined;
  private boomUp = false;
  private openedAt: number | undefined;
  /** Openings while no exit was being driven. */
  readonly strayOpenings: number[] = [];

  private constructor(
    readonly id: string,
    readonly exit: SimulatedExitController,
    readonly barrier: SimulatedBarrierExecutor,
    private readonly clock: RealClock,
  ) {
    this.vehicle = new LaneVehicle(exit, barrier, () => clock.now(), 300);
  }

  static async start(id: string, exitPty: PtyPair, barrierPty: PtyPair): Promise<ChaosLane> {
    const clock = new RealClock();
    const exit = await SimulatedExitController.start({ serialPath: exitPty.a, clock, lane: id, config: { ...EXIT_CONFIG } });
    try {
      const barrier = await SimulatedBarrierExecutor.start({ serialPath: barrierPty.a, clock, lane: id, plant: PLANT, config: { ...BARRIER_CONFIG } });
      return new ChaosLane(id, exit, barrier, clock);
    } catch (err) {
      await exit.close();
      throw err;
    }
  }

  /** Called every few tens of ms: the vehicle moves, the boom is watched. */
  step(): void {
    this.vehicle.step();
    const pct = this.barrier.boomPct;
    if (!this.boomUp && pct >= 95) {
      this.boomUp = true;
      this.openedAt = this.clock.now();
      if (this.current) this.current.openings++;
      else this.strayOpenings.push(this.openedAt);
    } else if (this.boomUp && pct <= 5) {
      this.boomUp = false;
    }
  }

  describe(): string {
    return `lane ${this.id}: exit controller ${this.exit.state}, barrier ${this.barrier.barrierState} at ${Math.round(this.barrier.boomPct)}%, vehicle ${this.vehicle.phase}, display "${this.exit.display.lines.join(" | ")}"`;
  }

  /** Drives one exit from entry to departure; never throws — a failure is in `stoppedAt`. */
  async driveExit(badge: string, cloud: DriverCloud, t: LaneTimeouts, stop: () => boolean): Promise<DrivenExit> {
    const e: DrivenExit = { lane: this.id, badge, openings: 0, letOut: false, badgedAgain: 0 };
    const step = async (what: string, ok: () => boolean | Promise<boolean>) => {
      if (!(await waitFor(ok, t.stepMs, stop))) throw new Error(`${what}: not within ${t.stepMs} ms (${this.describe()})`);
    };
    try {
      // The car came in earlier through the entry lane: the cloud opens its session.
      await cloud.publishEntry(badge);
      await step("entry seen by the cloud", async () => (await cloud.sessionStatus(badge)) === "active");
      await step("lane ready", () => this.exit.state === "idle" && this.barrier.boomPct <= 5 && this.vehicle.phase !== "at_loop" && this.vehicle.phase !== "under_boom");
      this.current = e;
      const arrived = this.clock.now();
      this.vehicle.arrive(badge);
      await step("asked to identify", () => this.exit.state === "identifying");
      this.exit.presentBadge(badge);
      // A driver whose badge seems to do nothing (the display still asks for it, as it does after
      // a gateway restart that lost the request) presents it again every few seconds.
      let badgedAt = this.clock.now();
      await step("priced (pay link on the display)", () => {
        if (this.exit.state === "awaiting_payment" && this.exit.display.qr !== undefined) return true;
        if (this.exit.state === "identifying" && this.clock.now() - badgedAt >= BADGE_AGAIN_MS) {
          this.exit.presentBadge(badge);
          badgedAt = this.clock.now();
          e.badgedAgain++;
        }
        return false;
      });
      const payUrl = this.exit.display.qr as string;
      e.sessionId = new URL(payUrl).pathname.split("/")[2];
      // The lane waits for the driver (a crash in that window must not strand them).
      await new Promise((r) => setTimeout(r, cloud.payDelayMs()));
      await cloud.pay(payUrl);
      await step("let out (boom up, car gone)", () => this.vehicle.phase === "gone");
      e.letOut = true;
      if (this.openedAt !== undefined && this.openedAt >= arrived) e.arrivalToOpenMs = this.openedAt - arrived;
    } catch (err) {
      e.stoppedAt = (err as Error).message;
      // The driver gives up and reverses away, so that the next car can come.
      this.vehicle.reverseAway();
    } finally {
      this.current = undefined;
    }
    return e;
  }

  async close(): Promise<void> {
    await this.exit.close().catch(() => undefined);
    await this.barrier.close().catch(() => undefined);
  }
}

/** Polls a condition until it holds, the deadline passes, or the campaign stops. */
export async function waitFor(ok: () => boolean | Promise<boolean>, timeoutMs: number, stop: () => boolean = () => false): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() > deadline || stop()) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}
