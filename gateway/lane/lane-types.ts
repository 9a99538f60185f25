/**
 * What a lane orchestrator (./orchestrator.ts) talks through and what it keeps per vehicle: its
 * ports (the boards, the durable outbox, the clock), the site's policy, the snapshot it publishes,
 * and the flow of the exit in progress.
 */
import type { Fields } from "../../firmware/common/link/frame";
import type { IDENTITY_METHODS, Payload, TopicKey } from "../../contracts/mqtt-topics";
import type { Phase } from "./phases";

export type DecidedBy = "cloud" | "offline_badge" | "offline_pin" | "override" | "emergency";
export type Identity = { method: (typeof IDENTITY_METHODS)[number]; value: string };

export interface LanePorts {
  toExit(type: string, fields: Fields): void;
  toBarrier(type: string, fields: Fields): void;
  /** A site → cloud event, written to the durable outbox. */
  emit<K extends TopicKey>(key: K, payload: Omit<Payload<K>, "ts" | "src">): void;
  now(): number;
  newId(prefix: string): string;
  log?(message: string): void;
}

export interface LanePolicy {
  trustedBadges: boolean;
  exitPins: boolean;
  operatorOverride: boolean;
  /** A plate read this recently before the vehicle reached the loop identifies it. */
  plateWindowMs: number;
}

export interface LaneSnapshot {
  lane_id: string;
  phase: Phase;
  exit_state: string;
  present: boolean;
  exit_link: boolean;
  barrier_link: boolean;
  barrier_state: string;
  barrier_pos: number;
  fault?: string;
  session_id?: string;
  decided_by?: DecidedBy;
  cloud_online: boolean;
}

export interface Flow {
  session?: string;
  identity?: Identity;
  decidedBy?: DecidedBy;
  cloudAuth?: string;
  controllerAuth?: string;
  openCmd?: string;
  openingSent: boolean;
  openedSent: boolean;
  passed: boolean;
  operator?: string;
  reason?: string;
  /** The operator command (cmd_id) whose override opened: echoed in exit/done, the cloud's proof. */
  overrideCmd?: string;
  /** The last payment request shown, to show it again after a controller reset. */
  payReq?: Fields;
  /** The camera's plate read for this vehicle (sent along with another identity). */
  plate?: string;
}

export const FRESH_FLOW = (): Flow => ({ openingSent: false, openedSent: false, passed: false });
