/**
 * What the executor knows of the FPGA safety core, decoded from its STATUS register, and the
 * few operations it performs on it. The executor state machine depends only on these types;
 * ./safety-core.ts implements them over the core's register map (fpga/regmap.ts) on a
 * `CoreBus` — SPI on the board, the cycle-accurate model in simulation.
 */

import type { CoreStateName } from "../fpga/regmap";

/** The core's own states (fpga/regmap.ts STATE_NAMES, as in rtl/safety_core.v). */
export type CoreState = CoreStateName;

export interface CoreStatus {
  state: CoreState;
  fault: boolean;
  motorUp: boolean;
  motorDown: boolean;
  brake: boolean;
  limOpen: boolean;
  limClosed: boolean;
  /** Debounced obstruction input: the photocell / loop under the boom. */
  obstruction: boolean;
  /** Over-current filtered and tripped. */
  overCurrent: boolean;
  emergency: boolean;
  /** The obstruction sensor is present and healthy. */
  sensorOk: boolean;
  /** The core's heartbeat watchdog has not expired. */
  heartbeatOk: boolean;
  /** The core refuses to close now (obstruction, failed sensor, emergency, no heartbeat, fault). */
  closeInhibit: boolean;
  /** An obstruction already reversed the boom in this closing cycle. */
  obstructionSeen: boolean;
  /** REVERSING: the direction the boom will take after the dead time (true = up). */
  revUp: boolean;
  /** 0 = none; a name from FAULT_NAMES otherwise. */
  faultCode: number;
  /** Fault code as sent on the link (BARRIER fault=…, ALARM code=…). */
  faultName: string | undefined;
}

export type CoreCommand = "open" | "close" | "stop" | "reset" | "heartbeat";

/** Read back once at start-up: which core this is and how it was built. */
export interface CoreIdentity {
  id: number;
  /** The core's register-map version is one this firmware speaks. */
  compatible: boolean;
  /** Heartbeat watchdog window, ms (from the configuration read-back). */
  watchdogMs: number;
  /** Longest motor run before RUN_TIMEOUT, ms. */
  runTimeoutMs: number;
}

export interface CoreDriver {
  identify(): CoreIdentity;
  status(): CoreStatus;
  /** One write-one pulse to the CTRL register. */
  command(command: CoreCommand): void;
}
