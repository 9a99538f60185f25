/**
 * What a resource module gives the API: its routes (Stripe's v1 paths) and the list answer every
 * list endpoint shares (newest first, `limit`, `starting_after`, `ending_before`).
 */
import { notFound } from "./errors";
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

export function list<T extends { id: string }>(items: T[], params: Record<string, FormValue>, schema: typeof P.listParams, path: string, filter?: (p: Record<string, unknown>, item: T) => boolean) {
  const p = P.parseParams(schema, params) as Record<string, unknown> & { limit?: number; starting_after?: string; ending_before?: string };
  let all = [...items].reverse(); // newest first
  if (filter) all = all.filter((i) => filter(p, i));
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
  const data = all.slice(start, Math.min(end, start + limit));
  return { object: "list", data, has_more: start + limit < end, url: path };
}
