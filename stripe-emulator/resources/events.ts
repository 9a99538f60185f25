/**
 * Events (https://docs.stripe.com/api/events): every state change records one (state.ts emit);
 * list (by type, `types[]` with `*` wildcards, delivery_success) and retrieve. Sending them to the
 * webhook endpoint is webhooks.ts.
 */
import * as P from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorEvent, EmulatorState } from "../state";

function matches(q: Record<string, unknown>, e: EmulatorEvent): boolean {
  const types = (q.types as string[] | undefined) ?? (q.type !== undefined ? [q.type as string] : undefined);
  if (types && !types.some((t) => (t.endsWith(".*") ? e.type.startsWith(t.slice(0, -1)) : e.type === t))) return false;
  if (q.delivery_success !== undefined && (e.pending_webhooks === 0) !== q.delivery_success) return false;
  return true;
}

export function eventRoutes(st: EmulatorState): Route[] {
  return [
    { method: "GET", pattern: /^\/v1\/events$/, handler: (p) => list([...st.allEvents()], p, P.eventList, "/v1/events", matches) },
    { method: "GET", pattern: new RegExp(`^/v1/events/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), st.getEvent(id)) },
  ];
}
