/**
 * The lane pace and the types a scenario's lane set is made of: the target, the run's cloud, a
 * lane (its board links, DUT logs, field and vehicle), the MQTT record and the set's options.
 */
import type { Logger } from "pino";
import type { CloudHandle } from "../../cloud/server/index";
import type { SimulatedBarrierExecutor } from "../../sim/boards/barrier-executor-sim";
import type { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import type { SimulatedEntryTerminal } from "../../sim/boards/entry-terminal-sim";
import type { Rig } from "../rig/schema";
import type { Dut, TappedTransport } from "./dut";
import type { LaneField } from "./lane-field";

export type Target = "sim" | "rig" | "xs";

/**
 * How long people and cars take, in lane time: what a lane (and a scenario on a rig) really goes
 * through. With the virtual site clock these waits cost almost no wall time, so scenarios keep
 * the real pace instead of shortened timings.
 */
export const PACE = {
  /** The driver reads the screen, takes out the phone, scans the QR code and pays the card. */
  payOnPhoneMs: 45_000,
  /** After a declined card: reads the message, tries another card. */
  retryCardMs: 20_000,
  /** A car crossing the loop under the boom (4.5 m at ~10 km/h). */
  crossingMs: 1_800,
  /** An operator sees the call or the alarm on the dashboard and acts. */
  operatorMs: 90_000,
  /** The next car pulls up to the same lane. */
  nextCarMs: 30_000,
  /** A driver who cannot pay hesitates before reversing away. */
  hesitateMs: 20_000,
} as const;

export interface HilCloud {
  cloud: CloudHandle;
  /** SYSPARK_ACL_HMAC_KEY of the run: the cloud signs the access lists with it, every gateway verifies with it. */
  aclKey: string;
  close(): Promise<void>;
}

export interface Lane {
  id: string;
  exitDut: Dut;
  barrierDut: Dut;
  exitLink: TappedTransport;
  barrierLink: TappedTransport;
  field: LaneField;
  /** `entry`: the lane controller runs its entry role and the gateway an entry orchestrator (sim target only). */
  kind: "exit" | "entry";
  /** Simulated boards (sim target only): the exit controller, or on an entry lane the entry terminal. */
  sim?: { exit?: SimulatedExitController; entry?: SimulatedEntryTerminal; barrier: SimulatedBarrierExecutor };
  vehicle: { phase: "none" | "at_loop" | "under_boom" | "gone"; plate?: string };
}

export interface MqttRecord { t: number; topic: string; payload: Record<string, unknown> }

export interface LaneSetOptions {
  target: Target;
  lanes: string[];
  /** Per-scenario directory (DUT logs, gateway data). */
  dir: string;
  rig?: Rig;
  logger?: Logger;
  links?: "auto" | "pty" | "memory";
  offlineAfterS?: number;
  /** Which of `lanes` are entry lanes (sim target only). */
  entryLanes?: string[];
}
