/**
 * When a lane's own state clears its alarms (one rule for the database and the live view):
 * - an executor fault (severity `fault`) lasts while the lane reports a fault;
 * - a safety alarm (severity `alarm`, e.g. an obstruction under the boom) lasts until the lane
 *   reports no fault with its barrier closed again — the boom came down on a clear lane;
 * - `info` and `warning` rows are events, not conditions: they are never "active".
 * An operator may also clear an alarm by hand (audited).
 */
export type AlarmSeverity = "info" | "warning" | "alarm" | "fault";

export const ACTIVE_SEVERITIES: readonly AlarmSeverity[] = ["alarm", "fault"];

export function severitiesClearedBy(state: { fault?: string | null; barrier_state?: string | null }): AlarmSeverity[] {
  if (state.fault) return [];
  return state.barrier_state === "closed" ? ["fault", "alarm"] : ["fault"];
}
