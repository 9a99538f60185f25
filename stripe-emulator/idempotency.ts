/**
 * Idempotent requests (https://docs.stripe.com/api/idempotent_requests): the first result for
 * an `Idempotency-Key` is saved — errors included once the endpoint has started executing — and
 * a later request with the same key and the same parameters gets that result again (the server
 * adds `Idempotent-Replayed: true`). The same key with other parameters, or on another endpoint,
 * is refused with a 400 `idempotency_error`. Keys are scoped to the API key and kept 24 hours.
 */
import { StripeApiError } from "./errors";
import type { FormValue } from "./form";

export interface SavedResult {
  status: number;
  body: string;
  requestId: string;
}

/** A saved result as kept (and persisted, see store.ts). */
export interface SavedEntry extends SavedResult {
  method: string;
  path: string;
  fingerprint: string;
  at: number;
}

const TTL_MS = 24 * 3600 * 1000;

/** Parameters in a canonical form, so key order in the body does not matter. */
function canonical(v: FormValue): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
}

export class Idempotency {
  private readonly entries = new Map<string, SavedEntry>();
  /** Stored since the last takeChanges() (the state journal). */
  private changed: [string, SavedEntry][] = [];

  constructor(private readonly now: () => number) {}

  /** The saved result to replay, or undefined if the key is new. Throws on a mismatched reuse. */
  lookup(apiKey: string, key: string, method: string, path: string, params: Record<string, FormValue>): SavedResult | undefined {
    const e = this.entries.get(`${apiKey}\u0000${key}`);
    if (!e) return undefined;
    if (this.now() - e.at > TTL_MS) {
      this.entries.delete(`${apiKey}\u0000${key}`);
      return undefined;
    }
    if (e.method !== method || e.path !== path) {
      throw new StripeApiError(400, {
        type: "idempotency_error",
        message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${e.method} ${e.path}' vs '${method} ${path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
      }, true);
    }
    if (e.fingerprint !== canonical(params)) {
      throw new StripeApiError(400, {
        type: "idempotency_error",
        message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      }, true);
    }
    return e;
  }

  /** Every live entry (key → entry), oldest first, for the state file. */
  snapshot(): [string, SavedEntry][] {
    const at = this.now();
    return [...this.entries].filter(([, e]) => at - e.at <= TTL_MS);
  }

  /** Entries read back from the state file (oldest first). */
  restore(entries: [string, SavedEntry][]): void {
    for (const [k, e] of entries) {
      this.entries.delete(k); // re-inserted at the end: the map stays in age order
      this.entries.set(k, e);
    }
  }

  store(apiKey: string, key: string, method: string, path: string, params: Record<string, FormValue>, result: SavedResult): void {
    const at = this.now();
    for (const [k, e] of this.entries) {
      if (at - e.at <= TTL_MS) break; // insertion order = age order
      this.entries.delete(k);
    }
    const entry: SavedEntry = { ...result, method, path, fingerprint: canonical(params), at };
    this.entries.set(`${apiKey}\u0000${key}`, entry);
    this.changed.push([`${apiKey}\u0000${key}`, entry]);
  }

  /** Entries stored since the last call (for the journal); forgets them. */
  takeChanges(): [string, SavedEntry][] {
    const out = this.changed;
    this.changed = [];
    return out;
  }
}
