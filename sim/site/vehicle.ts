/**
 * A vehicle at a simulated lane, driven through the physical plant: it drives onto the lane's
 * loop (the exit controller's at an exit, the entry terminal's at an entry), waits for the boom,
 * drives under it (the loop under the boom sees it), and is gone. The site page and the HIL
 * scenarios move vehicles with this instead of poking pins.
 */
import type { SimulatedBarrierExecutor } from "../boards/barrier-executor-sim";

export type VehiclePhase = "none" | "at_loop" | "under_boom" | "gone";

/** The board that reads the lane's loop in front of the boom (exit controller or entry terminal). */
export interface VehicleLoop {
  vehicleArrives(): void;
  vehicleLeaves(): void;
}

export class LaneVehicle {
  phase: VehiclePhase = "none";
  plate: string | undefined;
  private underSince = 0;

  constructor(private readonly loop: VehicleLoop, private readonly barrier: SimulatedBarrierExecutor, private readonly now: () => number, private readonly passMs = 1500) {}

  arrive(plate: string): void {
    if (this.phase === "at_loop" || this.phase === "under_boom") throw new Error("a vehicle is already in the lane");
    this.plate = plate;
    this.phase = "at_loop";
    this.loop.vehicleArrives();
  }

  /** The driver gives up and reverses away from the pay station (or the entry terminal). */
  reverseAway(): void {
    if (this.phase !== "at_loop") return;
    this.loop.vehicleLeaves();
    this.phase = "gone";
  }

  /** Call regularly: the driver moves on once the boom is (almost) fully up. */
  step(): void {
    if (this.phase === "at_loop" && this.barrier.boomPct >= 95) {
      this.loop.vehicleLeaves();
      this.barrier.vehicleUnder(true);
      this.phase = "under_boom";
      this.underSince = this.now();
    } else if (this.phase === "under_boom" && this.now() - this.underSince >= this.passMs) {
      this.barrier.vehicleUnder(false);
      this.phase = "gone";
    }
  }
}
