/**
 * The cloud instances that consume site events, as PostgreSQL sees them (issue 20, scale out):
 * each instance beats every few seconds; one silent for longer than the stale time is presumed
 * gone, and ONE live peer claims the right to drain its MQTT sessions (cloud/mqtt/session-drain.ts),
 * then forgets it — unless it came back meanwhile (its beat clears the claim).
 * Times are the database's (`now()`), so that instances' clocks never disagree.
 */
import type { Q } from "./types";

export const V19_CLOUD_INSTANCES = `
CREATE TABLE cloud_instances (
  instance_id  text PRIMARY KEY CHECK (length(instance_id) BETWEEN 1 AND 120),
  -- consumer connections it ran: its MQTT sessions are syspark-<id>-c0 … c<consumers-1>
  consumers    int NOT NULL CHECK (consumers BETWEEN 1 AND 64),
  started_at   timestamptz NOT NULL DEFAULT now(),
  seen_at      timestamptz NOT NULL DEFAULT now(),
  -- a peer draining its sessions, and until when that claim holds
  drain_by     text,
  drain_until  timestamptz
);
`;

/**
 * This instance is alive, with `consumers` connections. Returns how many consumer sessions it
 * held before (a restart with fewer consumers leaves the extra sessions to drain), or 0 when new.
 */
export async function beatInstance(q: Q, instanceId: string, consumers: number): Promise<number> {
  const [row] = await q<{ before: number }[]>`
    WITH before AS (SELECT consumers FROM cloud_instances WHERE instance_id = ${instanceId})
    INSERT INTO cloud_instances (instance_id, consumers) VALUES (${instanceId}, ${consumers})
    ON CONFLICT (instance_id) DO UPDATE SET consumers = ${consumers}, seen_at = now(), drain_by = NULL, drain_until = NULL
    RETURNING COALESCE((SELECT consumers FROM before), 0) AS before`;
  return row.before;
}

/**
 * Claims one instance silent for more than `staleS` seconds (not `me`, not claimed by a live
 * peer), for `holdS` seconds; undefined when there is none.
 */
export async function claimStaleInstance(q: Q, me: string, staleS: number, holdS: number): Promise<{ instanceId: string; consumers: number } | undefined> {
  const [row] = await q<{ instanceId: string; consumers: number }[]>`
    UPDATE cloud_instances SET drain_by = ${me}, drain_until = now() + make_interval(secs => ${holdS})
    WHERE instance_id = (
      SELECT instance_id FROM cloud_instances
      WHERE instance_id <> ${me} AND seen_at < now() - make_interval(secs => ${staleS}) AND (drain_until IS NULL OR drain_until < now())
      ORDER BY seen_at LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING instance_id, consumers`;
  return row;
}

/** Extends this peer's claim; false when the instance beat again (it is alive) or another peer holds it. */
export async function renewDrainClaim(q: Q, instanceId: string, me: string, holdS: number): Promise<boolean> {
  const r = await q`UPDATE cloud_instances SET drain_until = now() + make_interval(secs => ${holdS}) WHERE instance_id = ${instanceId} AND drain_by = ${me}`;
  return r.count === 1;
}

/** Forgets a drained instance, unless it beat again since the claim (its beat cleared `drain_by`). */
export async function forgetDrainedInstance(q: Q, instanceId: string, me: string): Promise<boolean> {
  const r = await q`DELETE FROM cloud_instances WHERE instance_id = ${instanceId} AND drain_by = ${me}`;
  return r.count === 1;
}
