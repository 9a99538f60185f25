/**
 * Reservations (issue 18): a stay booked and prepaid for a plate or a QR code (`SPR1.<code>`).
 * Paid through the prepay path: the reservation holds its prepayment (cloud/db/prepayments.ts),
 * whose verified webhook or server-side retrieve makes it paid; the reservation reads that
 * state (syncPaidReservations) instead of being told, so no provider event is handled twice.
 * States: pending → paid → entered (claimed by ONE session) → exited; canceled, expired.
 */
import { randomBytes, randomInt } from "node:crypto";
import { NotFoundError } from "./errors";
import type { Q, Tx } from "./types";

export type ReservationState = "pending" | "paid" | "entered" | "exited" | "canceled" | "expired";

export interface ReservationRow {
  reservationId: string;
  siteId: string;
  code: string;
  plate: string | null;
  startsAt: Date;
  endsAt: Date;
  amount: number;
  currency: string;
  state: ReservationState;
  prepaymentId: string | null;
  sessionId: string | null;
  createdAt: Date;
}

export function newReservationId(): string {
  return `rsv_${randomBytes(18).toString("base64url")}`;
}

/**
 * 16 characters A-Z 0-9 starting with R (a CSPRNG, ≈ 2^77): the QR's secret, and the key of the
 * reservation's prepayment in place of a plate — longer than any real plate, so the pay-at-exit
 * prepayment credit (cloud/flows/prepay.ts, by plate) never counts a reservation a second time.
 */
export function newReservationCode(): string {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let s = "R";
  while (s.length < 16) s += abc[randomInt(abc.length)];
  return s;
}

export type NewReservation = Pick<ReservationRow, "reservationId" | "siteId" | "code" | "plate" | "startsAt" | "endsAt" | "amount" | "currency" | "prepaymentId">;

export async function createReservation(q: Q, r: NewReservation): Promise<ReservationRow> {
  const [row] = await q<ReservationRow[]>`
    INSERT INTO reservations (reservation_id, site_id, code, plate, starts_at, ends_at, amount, currency, prepayment_id)
    VALUES (${r.reservationId}, ${r.siteId}, ${r.code}, ${r.plate}, ${r.startsAt}, ${r.endsAt}, ${r.amount}, ${r.currency}, ${r.prepaymentId})
    RETURNING *`;
  return row;
}

export async function getReservation(q: Q, reservationId: string): Promise<ReservationRow> {
  const [row] = await q<ReservationRow[]>`SELECT * FROM reservations WHERE reservation_id = ${reservationId}`;
  if (!row) throw new NotFoundError("reservation", reservationId);
  return row;
}

/** pending → paid for the site's reservations whose prepayment the provider confirmed (idempotent). */
export async function syncPaidReservations(q: Q, siteId: string, reservationId?: string): Promise<void> {
  await q`
    UPDATE reservations r SET state = 'paid'
    FROM prepayments p
    WHERE r.prepayment_id = p.prepayment_id AND r.site_id = ${siteId} AND r.state = 'pending' AND p.state = 'paid'
      ${reservationId === undefined ? q`` : q`AND r.reservation_id = ${reservationId}`}`;
}

/** The paid, unclaimed reservations an entry may present: by code, or by plate (nearest window first), locked. */
export async function lockPaidReservations(tx: Tx, siteId: string, by: { code: string } | { plate: string }, at: Date): Promise<ReservationRow[]> {
  return "code" in by
    ? tx<ReservationRow[]>`SELECT * FROM reservations WHERE site_id = ${siteId} AND code = ${by.code} AND state = 'paid' FOR UPDATE`
    : tx<ReservationRow[]>`
        SELECT * FROM reservations WHERE site_id = ${siteId} AND plate = ${by.plate} AND state = 'paid'
        ORDER BY abs(extract(epoch FROM (starts_at - ${at}::timestamptz))), reservation_id FOR UPDATE`;
}

/** paid → entered by this session; false when it was not `paid` (claimed already, canceled). */
export async function claimReservationRow(tx: Tx, reservationId: string, sessionId: string): Promise<boolean> {
  const rows = await tx`UPDATE reservations SET state = 'entered', session_id = ${sessionId} WHERE reservation_id = ${reservationId} AND state = 'paid' RETURNING reservation_id`;
  return rows.length === 1;
}

/** Paid reservations of the site whose window covers `at` and whose car has not come in yet: the places held back. */
export async function countHeldReservations(q: Q, siteId: string, at: Date, earlyMs: number): Promise<number> {
  const [row] = await q<{ n: number }[]>`
    SELECT count(*)::int AS n FROM reservations r
    LEFT JOIN prepayments p ON p.prepayment_id = r.prepayment_id
    WHERE r.site_id = ${siteId} AND (r.state = 'paid' OR (r.state = 'pending' AND p.state = 'paid'))
      AND r.starts_at - make_interval(secs => ${earlyMs / 1000}) <= ${at} AND r.ends_at > ${at}`;
  return row?.n ?? 0;
}

/** The reservation's car left: entered → exited, once (the session's close calls it in its transaction). */
export async function markReservationExited(tx: Tx, sessionId: string): Promise<boolean> {
  const rows = await tx`UPDATE reservations SET state = 'exited' WHERE session_id = ${sessionId} AND state = 'entered' RETURNING reservation_id`;
  return rows.length > 0;
}

/** The session a reservation paid by this prepayment let in, if its car came in: such a prepayment is used, not refundable. */
export async function sessionOfPrepaidReservation(q: Q, prepaymentId: string): Promise<string | undefined> {
  const [r] = await q<{ sessionId: string }[]>`SELECT session_id FROM reservations WHERE prepayment_id = ${prepaymentId} AND session_id IS NOT NULL`;
  return r?.sessionId;
}
