/**
 * What every site-event flow shares (cloud/flows/site-events.ts, exit-pricing.ts, the entry and
 * lost-ticket flows): the flow context, session ids, the instant an event is priced at, the quote
 * stored with a session and the parsed-tariff cache.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../../host/log";
import type { Database, Json, SessionRow } from "../db/index";
import type { AuditMode } from "../server/audit-chain";
import { parseTariff, type PriceResult, type Tariff, type Locale } from "../tariffs/index";
import type { HoldExitHook } from "./hold-types";

export interface FlowContext {
  db: Database;
  logger: Logger;
  /** `src` of every message the cloud publishes. */
  src: string;
  publicBaseUrl: string;
  /** Called after a commit that enqueued outbox rows (and queued audit rows). */
  wake(): void;
  auditMode: AuditMode;
  /** SYSPARK_ACL_HMAC_KEY: signs the access lists (absent → parking/sync/req gets no parking/acl/full). */
  aclHmacKey?: string;
  /** BILLING_ENABLED; false → an exit that needs a payment gets no pay link (billing-off.ts). */
  billingEnabled?: boolean;
  /** Holds at entry (issue 16): an exit with an authorised card is captured instead of asking for payment. */
  holds?: HoldExitHook;
}

export function newSessionId(): string {
  return `s${Date.now().toString(36)}${randomBytes(8).toString("hex")}`;
}

/** The instant to price / close at: the site's event time, clamped into [entry, now]. */
export function eventInstant(ts: number, entry: Date, now: Date): Date {
  return new Date(Math.min(Math.max(ts, entry.getTime()), now.getTime()));
}

export interface StoredQuote {
  lane_id: string;
  price: PriceResult;
  /** The breakdown's labels in each page language (./quote-labels.ts), line for line. */
  labels?: Partial<Record<Locale, string[]>>;
}

export function wireLaneOf(s: SessionRow): string {
  const q = s.quoteBreakdown as unknown as Partial<StoredQuote> | null;
  return q?.lane_id ?? s.exitLaneId ?? "unknown";
}

/** Tariff versions are immutable: parse (validate) each once. */
const tariffCache = new Map<string, Tariff>();
export function tariffOf(id: number, doc: Json): Tariff {
  const key = `${id}:${JSON.stringify(doc)}`;
  let t = tariffCache.get(key);
  if (!t) {
    t = parseTariff(doc);
    if (tariffCache.size > 100) tariffCache.clear();
    tariffCache.set(key, t);
  }
  return t;
}

