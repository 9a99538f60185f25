/**
 * Prepayments (issue 16 item 3): a plate's stay at a site paid before its exit. The amount and
 * the window come from the pricing function (cloud/flows/prepay.ts), never from the caller's
 * browser. Every state change locks the row and is checked against PREPAYMENT_MACHINE; a
 * provider event that would move it backwards (failed after paid, succeeded after consumed) is
 * "stale" and writes nothing, a replay is a "noop".
 */
import { randomBytes } from "node:crypto";
import { PREPAYMENT_MACHINE, assertTransition, classify, type PrepaymentState } from "../domain/state-machines";
import { IdempotencyConflictError, NotFoundError } from "./errors";
import type { Json, Q, Tx } from "./types";
import { canonicalPlate } from "../domain/plates";

export interface PrepaymentRow {
  prepaymentId: string;
  siteId: string;
  plate: string;
  windowFrom: Date;
  windowUntil: Date;
  amount: number;
  currency: string;
  tariffId: number;
  tariffVersion: number;
  boughtBy: "duration" | "amount";
  quote: Json;
  state: PrepaymentState;
  provider: string;
  providerRef: string | null;
  idempotencyKey: string;
  failureReason: string | null;
  paidAt: Date | null;
  consumedSessionId: string | null;
  consumedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function newPrepaymentId(): string {
  return `pp_${randomBytes(18).toString("base64url")}`;
}

/** What a new prepayment is created with: the row's own fields, so the two cannot drift (the plate in any written form: stored canonical). */
export type NewPrepayment = Pick<
  PrepaymentRow,
  "prepaymentId" | "siteId" | "plate" | "windowFrom" | "windowUntil" | "amount" | "currency" | "tariffId" | "tariffVersion" | "boughtBy" | "quote" | "provider" | "idempotencyKey"
>;

/** Creates the prepayment in `requested` (before the provider is called). The same id twice returns the first row. */
export async function createPrepayment(tx: Tx, p: NewPrepayment): Promise<PrepaymentRow> {
  const [row] = await tx<PrepaymentRow[]>`
    INSERT INTO prepayments (prepayment_id, site_id, plate, window_from, window_until, amount, currency, tariff_id, tariff_version, bought_by, quote, provider, idempotency_key)
    VALUES (${p.prepaymentId}, ${p.siteId}, ${canonicalPlate(p.plate)}, ${p.windowFrom}, ${p.windowUntil}, ${p.amount}, ${p.currency}, ${p.tariffId}, ${p.tariffVersion}, ${p.boughtBy}, ${tx.json(p.quote)}, ${p.provider}, ${p.idempotencyKey})
    ON CONFLICT (prepayment_id) DO NOTHING
    RETURNING *`;
  return row ?? getPrepayment(tx, p.prepaymentId);
}

export async function getPrepayment(q: Q, prepaymentId: string): Promise<PrepaymentRow> {
  const [row] = await q<PrepaymentRow[]>`SELECT * FROM prepayments WHERE prepayment_id = ${prepaymentId}`;
  if (!row) throw new NotFoundError("prepayment", prepaymentId);
  return row;
}

export async function findPrepaymentByProviderRef(q: Q, providerRef: string): Promise<PrepaymentRow | undefined> {
  const [row] = await q<PrepaymentRow[]>`SELECT * FROM prepayments WHERE provider_ref = ${providerRef}`;
  return row;
}

/** Records the PaymentIntent id and moves requested → pending. Idempotent for the same reference. */
export async function attachPrepaymentRef(tx: Tx, prepaymentId: string, providerRef: string): Promise<PrepaymentRow> {
  const [p] = await tx<PrepaymentRow[]>`SELECT * FROM prepayments WHERE prepayment_id = ${prepaymentId} FOR UPDATE`;
  if (!p) throw new NotFoundError("prepayment", prepaymentId);
  if (p.providerRef === providerRef) return p;
  if (p.providerRef !== null) throw new IdempotencyConflictError(`prepayment ${prepaymentId} already has provider reference ${p.providerRef}`);
  const to: PrepaymentState = p.state === "requested" ? "pending" : p.state;
  if (to !== p.state) assertTransition(PREPAYMENT_MACHINE, p.state, to, prepaymentId);
  const [row] = await tx<PrepaymentRow[]>`
    UPDATE prepayments SET provider_ref = ${providerRef}, state = ${to}, updated_at = now() WHERE prepayment_id = ${prepaymentId} RETURNING *`;
  return row;
}

export interface PrepaymentEventResult {
  /** "applied": state changed; "noop": already there (replay); "stale": out of order, ignored. */
  outcome: "applied" | "noop" | "stale";
  prepayment: PrepaymentRow;
}

/** A provider event (verified webhook or server-side retrieve) on the prepayment with that reference. */
export async function applyPrepaymentEvent(tx: Tx, providerRef: string, to: "paid" | "failed" | "canceled", opts: { failureReason?: string; at?: Date } = {}): Promise<PrepaymentEventResult | undefined> {
  const [p] = await tx<PrepaymentRow[]>`SELECT * FROM prepayments WHERE provider_ref = ${providerRef} FOR UPDATE`;
  if (!p) return undefined;
  const verdict = classify(PREPAYMENT_MACHINE, p.state, to);
  if (verdict !== "apply") return { outcome: verdict === "noop" ? "noop" : "stale", prepayment: p };
  const failure = to === "paid" ? null : (opts.failureReason ?? null);
  const paidAt = to === "paid" ? (opts.at ?? new Date()) : null;
  const [row] = await tx<PrepaymentRow[]>`
    UPDATE prepayments SET state = ${to}, failure_reason = ${failure}, paid_at = ${paidAt}, updated_at = now()
    WHERE prepayment_id = ${p.prepaymentId} RETURNING *`;
  return { outcome: "applied", prepayment: row };
}

/**
 * The prepayment that pays (part of) this session, locked: the one it already consumed (a
 * re-quote of the same exit), else the oldest paid, unused prepayment of the plate at the site
 * whose window overlaps the stay (starts before the exit, ends after the entry) — a prepayment
 * whose window passed before the car even came in stays paid, to be refunded, not spent on a
 * later visit. One query, locked FOR UPDATE: two exits cannot both take it.
 */
export async function lockPrepaymentForSession(tx: Tx, input: { siteId: string; plate: string; sessionId: string; entry: Date; exit: Date }): Promise<PrepaymentRow | undefined> {
  const [row] = await tx<PrepaymentRow[]>`
    SELECT * FROM prepayments
    WHERE consumed_session_id = ${input.sessionId}
       OR (site_id = ${input.siteId} AND plate = ${canonicalPlate(input.plate)} AND state = 'paid'
           AND (refund_state IS NULL OR refund_state IN ('failed', 'canceled')) -- not while an operator's refund is under way
           AND window_from <= ${input.exit} AND window_until > ${input.entry})
    ORDER BY (consumed_session_id IS NOT NULL) DESC, window_from, created_at, prepayment_id
    LIMIT 1 FOR UPDATE`;
  return row;
}

/** paid → consumed by the session (the row must be locked by the caller, see lockPrepaymentForSession). */
export async function consumePrepayment(tx: Tx, p: PrepaymentRow, sessionId: string, at: Date): Promise<PrepaymentRow> {
  if (p.state === "consumed" && p.consumedSessionId === sessionId) return p;
  assertTransition(PREPAYMENT_MACHINE, p.state, "consumed", p.prepaymentId);
  const [row] = await tx<PrepaymentRow[]>`
    UPDATE prepayments SET state = 'consumed', consumed_session_id = ${sessionId}, consumed_at = ${at}, updated_at = now()
    WHERE prepayment_id = ${p.prepaymentId} RETURNING *`;
  return row;
}
