/**
 * Each cloud instance's share of the scale-out bookkeeping (issue 20): it beats in
 * `cloud_instances` so that its peers know it is alive, and it drains the MQTT consumer
 * sessions of an instance that went silent (cloud/mqtt/session-drain.ts says why: Mosquitto
 * keeps routing a dead member's share of the site events into its session). At start it also
 * drains its own extra sessions when it runs fewer consumer connections than before.
 *
 * Silent means no beat for `staleS` seconds (30 by default: a restart, 2–5 s measured by the
 * chaos campaign, never counts). Only one peer drains a given instance (a claim in the row,
 * held `holdS`), and the instance's own beat, if it comes back, clears that claim.
 */
import type { Logger } from "../../host/log";
import { WakeableLoop } from "../../host/wakeable-loop";
import { beatInstance, claimStaleInstance, forgetDrainedInstance, renewDrainClaim, type Database } from "../db/index";
import type { DrainResult } from "../mqtt/session-drain";

/** How long a claim on a silent peer holds (s): longer than one session's drain. */
const CLAIM_S = 180;

export interface InstanceWatchOptions {
  db: Database;
  instanceId: string;
  consumers: number;
  /** An instance silent this long (s) is drained (default 30). */
  staleS?: number;
  /** Beat and look for silent peers this often (ms, default 5,000). */
  periodMs?: number;
  /** Resumes and drains one consumer session by its client id; gives up once `cancelled()` (the watch stops). */
  drain: (clientId: string, cancelled: () => boolean) => Promise<DrainResult>;
  /** The client id of an instance's i-th consumer connection. */
  clientIdOf: (instanceId: string, i: number) => string;
  logger: Logger;
}

export class InstanceWatch {
  private readonly staleS: number;
  private readonly periodMs: number;
  private readonly loop: WakeableLoop;
  private beatTimer: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(private readonly o: InstanceWatchOptions) {
    this.staleS = o.staleS ?? 30;
    this.periodMs = o.periodMs ?? 5000;
    this.loop = new WakeableLoop({ name: "instance watch", logger: o.logger, periodMs: this.periodMs, wakeDelayMs: 0, pass: (more) => this.drainSilentPeers(more) });
  }

  /** Beats once (the instance is known before it consumes), drains its own extra sessions, then runs. */
  async start(): Promise<void> {
    const before = await beatInstance(this.o.db.sql, this.o.instanceId, this.o.consumers);
    for (let i = this.o.consumers; i < before; i++) await this.drainOne(this.o.instanceId, i, "this instance runs fewer consumer connections than before");
    // The beat has a timer of its own: a long drain must not make this instance look silent.
    this.beatTimer = setInterval(() => {
      beatInstance(this.o.db.sql, this.o.instanceId, this.o.consumers).catch((err: Error) => this.o.logger.warn({ err: err.message }, "instance watch: beat failed (will retry)"));
    }, this.periodMs);
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.beatTimer) clearInterval(this.beatTimer);
    this.beatTimer = null;
    await this.loop.stop();
  }

  private async drainSilentPeers(more: () => boolean): Promise<void> {
    while (more()) {
      // The claim outlasts one session's drain (which gives up after 120 s) and is renewed before
      // each: a drainer that dies leaves the peer to another within CLAIM_S.
      const peer = await claimStaleInstance(this.o.db.sql, this.o.instanceId, this.staleS, CLAIM_S);
      if (!peer) return;
      let received = 0;
      let unfinished = false;
      for (let i = 0; i < peer.consumers && !unfinished && more(); i++) {
        // False once the peer beat again (its beat clears the claim): it is alive, leave its sessions.
        if (i > 0 && !(await renewDrainClaim(this.o.db.sql, peer.instanceId, this.o.instanceId, CLAIM_S))) {
          unfinished = true;
          break;
        }
        const r = await this.drainOne(peer.instanceId, i, `silent for more than ${this.staleS} s`);
        received += r.received;
        unfinished = r.outcome !== "drained"; // taken back by its owner, or given up: not forgotten
      }
      if (unfinished || !more()) return;
      if (await forgetDrainedInstance(this.o.db.sql, peer.instanceId, this.o.instanceId)) {
        this.o.logger.warn({ instance: peer.instanceId, sessions: peer.consumers, site_events: received }, "instance watch: drained and forgot the MQTT sessions of an instance that is gone");
      }
    }
  }

  private async drainOne(instanceId: string, i: number, why: string): Promise<DrainResult> {
    const clientId = this.o.clientIdOf(instanceId, i);
    this.o.logger.warn({ instance: instanceId, clientId, why }, "instance watch: draining an MQTT consumer session");
    const r = await this.o.drain(clientId, () => this.stopping);
    this.o.logger.info({ clientId, outcome: r.outcome, received: r.received }, "instance watch: session drain ended");
    return r;
  }
}
