/**
 * The site's entry lane E1 (`syspark up`): the lane controller's real firmware in its entry role
 * (a SimulatedEntryTerminal) and a barrier executor, with the car on its loop. It remembers the
 * last car that went in — its plate, whether the camera read it, the ticket printed for it — so
 * that the site can later drive that same car to an exit, where it leaves the way it came in.
 * A car at the entry when the site stops just drives away: nothing here is persisted.
 */
import type { SimulatedBarrierExecutor } from "../boards/barrier-executor-sim";
import type { PrintedTicket, SimulatedEntryTerminal } from "../boards/entry-terminal-sim";
import type { EntryOrchestrator } from "../../gateway/lane/entry-orchestrator";
import { LaneVehicle } from "./vehicle";

export const ENTRY_LANE_ID = "E1";

/** A car that drove in through the entry lane. */
export interface EnteredCar {
  plate: string;
  /** The entry camera read the plate: the exit camera reads it as well. */
  plateRead: boolean;
  /** The ticket the terminal printed for it (the exit's scanner reads its QR `SPK1.<id>`). */
  ticket?: PrintedTicket;
  /** The badge it was admitted with. */
  badge?: string;
  /** The session the gateway admitted it under. */
  session?: string;
}

interface CarAtEntry extends Omit<EnteredCar, "ticket"> {
  /** Tickets printed before this car arrived: any after are its own. */
  printedBefore: number;
}

export class SiteEntryLane {
  readonly id = ENTRY_LANE_ID;
  readonly vehicle: LaneVehicle;
  /** The last car that went in, until the site sends it to an exit. */
  lastIn: EnteredCar | undefined;
  private car: CarAtEntry | undefined;

  constructor(readonly terminal: SimulatedEntryTerminal, readonly barrier: SimulatedBarrierExecutor, private readonly lane: () => EntryOrchestrator | undefined, now: () => number) {
    this.vehicle = new LaneVehicle(terminal, barrier, now);
  }

  /** A car stops on the entry loop (its plate already published to the camera topic, if read). */
  arrive(plate: string, plateRead: boolean): void {
    this.vehicle.arrive(plate);
    this.car = { plate, plateRead, printedBefore: this.terminal.printed.length };
  }

  /** The driver holds a badge to the terminal's reader. */
  badge(uid: string): void {
    if (this.car && this.vehicle.phase === "at_loop") this.car.badge = uid;
    this.terminal.presentBadge(uid);
  }

  /** Call regularly: moves the car, and records it once it has gone in. */
  step(): void {
    const before = this.vehicle.phase;
    // The admission's session, read while the gateway still holds it (it ends the flow on ENTERED).
    const session = this.lane()?.snapshot().session_id;
    if (this.car && session && before !== "gone") this.car.session = session;
    this.vehicle.step();
    if (before === "under_boom" && this.vehicle.phase === "gone" && this.car) {
      const { printedBefore, ...car } = this.car;
      const ticket = this.terminal.printed.slice(printedBefore).at(-1);
      this.lastIn = { ...car, ...(ticket ? { ticket } : {}) };
      this.car = undefined;
    }
  }

  /** The car reverses away from the terminal: it never went in. */
  reverseAway(): void {
    this.vehicle.reverseAway();
    if (this.vehicle.phase === "gone") this.car = undefined;
  }
}
