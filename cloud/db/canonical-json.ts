/**
 * Canonical JSON for hashing (audit chain): object keys sorted by code unit order, no
 * whitespace, `undefined` members dropped, non-finite numbers rejected. Two values that are
 * equal as JSON give the same string, whatever the key order they were built or stored in
 * (jsonb reorders keys).
 */
import type { Json } from "./types";

export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot encode ${value}`);
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

/** The value as it will read back from a jsonb column (undefined dropped, Dates as strings). */
export function toJson(value: unknown): Json {
  return JSON.parse(canonicalJson(value)) as Json;
}
