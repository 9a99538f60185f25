/**
 * What every part of a scenario's lane set shares (`LaneSetCore`): the lanes, the gateway, the
 * timeline and the MQTT record, the waits, and what a scenario reads back (phases, messages seen,
 * the cloud's sessions and audit rows). The lane verbs (./lane-verbs.ts) and the fault injectors
 * (./lane-faults.ts) build on it; ./env.ts boots it.
 */
import type { CloudHandle } from "../../cloud/server/index";
import { findAuditEntries, latestSessionOfIdentity, sessionStatusOf } from "../../cloud/db/index";
import type { Phase } from "../../gateway/lane/orchestrator";
import type { Gateway } from "../../gateway/runtime";
import type { BoardClock } from "../../firmware/common/io/board-host";
import { InfrastructureError } from "./errors";
import { LaneSampler } from "./lane-sampler";
import type { HilCloud, Lane, LaneSetOptions, MqttRecord } from "./lane-types";
import type { TcpProxy } from "./tcp-proxy";
import { Timeline } from "./timeline";

/** How often `waitUntil` looks at its condition (lane time). */
const POLL_MS = 50;

export class LaneSetCore {
  readonly timeline = new Timeline();
  readonly lanes = new Map<string, Lane>();
  readonly mqtt: MqttRecord[] = [];
  gateway!: Gateway;
  proxy!: TcpProxy;
  links: "pty" | "memory" | "rig" | "xs" = "memory";
  /** The boards' clock: the global timers (virtual under the site clock). */
  clock!: BoardClock;
  protected closers: (() => Promise<unknown>)[] = [];
  protected readonly sampler = new LaneSampler(this);
  private readonly laneStart = Date.now();
  protected constructor(readonly hc: HilCloud, readonly options: LaneSetOptions) {}

  /** The key the gateway checks access lists with (the run's cloud signs them with it). */
  get aclKey(): string { return this.hc.aclKey; }

  get cloud(): CloudHandle { return this.hc.cloud; }

  /** Per sim lane: the safety core's VCD (GTKWave), written at close. */
  get vcdFiles(): { name: string; path: string }[] { return this.sampler.vcdFiles; }

  lane(id: string): Lane {
    const l = this.lanes.get(id);
    if (!l) throw new Error(`no lane ${id} in this scenario (lanes: ${[...this.lanes.keys()].join(", ")})`);
    return l;
  }

  step(text: string, lane?: string): void { this.timeline.event("step", text, lane); this.sampler.tick(); }
  fault(text: string, lane?: string): void { this.timeline.event("fault", text, lane); this.sampler.tick(); }

  /** Messages seen on the site broker on a topic (suffix after `parking/`), optionally for a lane. */
  seen(topic: string, laneId?: string): Record<string, unknown>[] {
    return this.mqtt.filter((m) => m.topic === `parking/${topic}` && (!laneId || m.payload.lane_id === laneId)).map((m) => m.payload);
  }

  phase(laneId: string): Phase { return this.gateway.lanes.get(laneId)!.snapshot().phase; }
  snapshot(laneId: string) { return this.gateway.lanes.get(laneId)!.snapshot(); }

  async waitPhase(laneId: string, phase: Phase | Phase[], timeoutMs = 15_000): Promise<void> {
    const want = Array.isArray(phase) ? phase : [phase];
    await this.waitUntil(() => want.includes(this.phase(laneId)), timeoutMs, `lane ${laneId} phase ${want.join(" or ")} (now ${this.phase(laneId)})`);
  }

  async waitBarrier(laneId: string, state: string, timeoutMs = 15_000): Promise<void> {
    await this.waitUntil(() => this.snapshot(laneId).barrier_state === state, timeoutMs, `lane ${laneId} barrier ${state} (now ${this.snapshot(laneId).barrier_state})`);
  }

  /** Audit rows (chained or still pending) for a session. */
  async auditKinds(sessionId: string): Promise<string[]> {
    return (await findAuditEntries(this.cloud.db.sql, { sessionId })).map((r) => r.kind);
  }

  /** The newest session the cloud holds for this identity (plate or badge, as entered). */
  async sessionOf(identityValue: string): Promise<string | undefined> {
    return latestSessionOfIdentity(this.cloud.db.sql, identityValue);
  }

  async sessionStatus(sessionId: string): Promise<string | undefined> {
    return sessionStatusOf(this.cloud.db.sql, sessionId);
  }

  async waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, infraOnTimeout = false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > deadline) {
        const msg = `timed out after ${timeoutMs} ms waiting for ${what}`;
        throw infraOnTimeout ? new InfrastructureError(msg) : new Error(msg);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Wait `ms` of lane time. */
  async sleep(ms: number): Promise<void> { await new Promise((r) => setTimeout(r, ms)); }

  /** Lane time covered since the scenario started, ms (virtual time under the site clock). */
  get laneTimeMs(): number { return Date.now() - this.laneStart; }
}
