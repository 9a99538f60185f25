/**
 * What a resource module gives the API: its routes (Stripe's v1 paths) and the list answer every
 * list endpoint shares (newest first, `limit`, `starting_after`, `ending_before`, `created`).
 */
import { notFound, paramError } from "./errors";
import { clone } from "./ids";
import type { FormValue } from "./form";
import * as P from "./params";
import type { RequestContext } from "./state";

export type Handler = (params: Record<string, FormValue>, ctx: RequestContext, ids: string[]) => unknown | Promise<unknown>;

export interface Route {
  method: "GET" | "POST" | "DELETE";
  pattern: RegExp;
  handler: Handler;
}

/** An object id in a path. */
export const ID = "([A-Za-z0-9_]+)";

/**
 * A list answer. `items` are the stored objects, oldest first: only the page answered is copied
 * (copying every object of a collection for a page of ten made a list cost its whole history).
 */
export function list<T extends { id: string }>(items: Iterable<T>, params: Record<string, FormValue>, schema: typeof P.listParams, path: string, filter?: (p: Record<string, unknown>, item: T) => boolean) {
  const p = P.parseParams(schema, params) as Record<string, unknown> & { limit?: number; starting_after?: string; ending_before?: string; created?: string | Record<string, string> };
  const inRange = createdRange(p.created);
  let all = [...items].reverse(); // newest first
  if (filter || inRange) all = all.filter((i) => (!filter || filter(p, i)) && (!inRange || inRange((i as { created?: unknown }).created)));
  const limit = p.limit ?? 10;
  let start = 0;
  let end = all.length;
  if (p.starting_after !== undefined) {
    const i = all.findIndex((x) => x.id === p.starting_after);
    if (i === -1) throw notFound("object", p.starting_after, "starting_after");
    start = i + 1;
  }
  if (p.ending_before !== undefined) {
    const i = all.findIndex((x) => x.id === p.ending_before);
    if (i === -1) throw notFound("object", p.ending_before, "ending_before");
    end = i;
    start = Math.max(start, end - limit);
  }
  const data = all.slice(start, Math.min(end, start + limit)).map((x) => clone(x));
  return { object: "list", data, has_more: start + limit < end, url: path };
}

const RANGE_KEYS = ["gt", "gte", "lt", "lte"] as const;

/** Stripe's `created` filter: a Unix time (exactly then) or a range (`created[gte]=…`); undefined when absent. */
function createdRange(created: string | Record<string, string> | undefined): ((at: unknown) => boolean) | undefined {
  if (created === undefined) return undefined;
  const num = (v: string, name: string): number => {
    if (!/^\d{1,12}$/.test(v)) throw paramError("parameter_invalid_integer", name, `Invalid integer: ${v}`);
    return Number(v);
  };
  if (typeof created === "string") {
    const at = num(created, "created");
    return (x) => x === at;
  }
  const bounds: Partial<Record<(typeof RANGE_KEYS)[number], number>> = {};
  for (const [k, v] of Object.entries(created)) {
    if (!(RANGE_KEYS as readonly string[]).includes(k)) throw paramError("parameter_unknown", `created[${k}]`, `Received unknown parameter: created[${k}]`);
    bounds[k as (typeof RANGE_KEYS)[number]] = num(v, `created[${k}]`);
  }
  return (x) =>
    typeof x === "number" && (bounds.gt === undefined || x > bounds.gt) && (bounds.gte === undefined || x >= bounds.gte) && (bounds.lt === undefined || x < bounds.lt) && (bounds.lte === undefined || x <= bounds.lte);
}
