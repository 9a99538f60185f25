/**
 * Reservations (issue 18): a pre-booked, prepaid stay for a plate or a QR code (`SPR1.<code>`).
 * Booked on the public page (../http/reservations.ts): the window is priced by the ONE pricing
 * function and paid through the prepay path (./prepay.ts: the PaymentIntent, the card page, the
 * verified webhook or the server-side retrieve), its prepayment keyed by the reservation code.
 * The entry decision (H3's entry flow) asks reservationForEntry and, once the car is in,
 * claimReservation; the exit prices the stay from the end of the window (pricing-extras.ts
 * prepaidUntil): free within it, the overstay priced from its end.
 */
import type Stripe from "stripe";
import { linkIdentity, type Json, type Tx } from "../db/index";
import { getPrepayment } from "../db/prepayments";
import { claimReservationRow, createReservation, getReservation, lockPaidReservations, newReservationCode, newReservationId, syncPaidReservations, type ReservationRow } from "../db/reservations";
import { canonicalPlate, PLATE_FORM } from "../domain/plates";
import { writeAudit } from "../server/audit-chain";
import type { Locale } from "../tariffs/index";
import { HttpError } from "./errors";
import { PREPAY_EARLY_ENTRY_MS, PrepayService, type PrepayServiceOptions } from "./prepay";
import { MAX_PREPAY_MINUTES } from "./quotes";

export type ReservationAtEntry =
  | { kind: "none" }
  | { kind: "ok"; reservationId: string; plate: string | null }
  | { kind: "outside_window"; reservationId: string };

/** A reserved car may come in this long before its window (the same margin as a prepaid plate). */
export const RESERVATION_EARLY_ENTRY_MS = PREPAY_EARLY_ENTRY_MS;

function inWindow(r: ReservationRow, at: Date): boolean {
  return at.getTime() >= r.startsAt.getTime() - RESERVATION_EARLY_ENTRY_MS && at.getTime() <= r.endsAt.getTime();
}

/** The reservation an entry presents (identity reservation = its QR code, or a plate with a booking), at `at`. */
export async function reservationForEntry(tx: Tx, siteId: string, identity: { method: string; value: string }, at: Date): Promise<ReservationAtEntry> {
  let by: { code: string } | { plate: string };
  if (identity.method === "reservation") {
    const code = identity.value.trim().replace(/^SPR1\./, "").toUpperCase();
    if (!/^[A-Z0-9]{8,32}$/.test(code)) return { kind: "none" };
    by = { code };
  } else if (identity.method === "plate") {
    const plate = canonicalPlate(identity.value);
    if (!PLATE_FORM.test(plate)) return { kind: "none" };
    by = { plate };
  } else return { kind: "none" };
  await syncPaidReservations(tx, siteId);
  const rows = await lockPaidReservations(tx, siteId, by, at);
  const ok = rows.find((r) => inWindow(r, at));
  if (ok) return { kind: "ok", reservationId: ok.reservationId, plate: ok.plate };
  return rows.length ? { kind: "outside_window", reservationId: rows[0].reservationId } : { kind: "none" };
}

/**
 * The reservation's car entered: its session is `sessionId` (once; a second claim is a no-op).
 * The reservation's QR code and its plate become identities of the session, so the car leaves by
 * either, whichever it came in with.
 */
export async function claimReservation(tx: Tx, reservationId: string, sessionId: string): Promise<void> {
  if (!(await claimReservationRow(tx, reservationId, sessionId))) return;
  const r = await getReservation(tx, reservationId);
  await linkIdentity(tx, { siteId: r.siteId, sessionId, identity: { method: "reservation", value: r.code }, source: "reservation" });
  if (r.plate) await linkIdentity(tx, { siteId: r.siteId, sessionId, identity: { method: "plate", value: r.plate }, source: "reservation" });
}

/** What the reservation service needs: the prepay path's (it books through it). */
export type ReservationServiceOptions = PrepayServiceOptions;

export interface BookingRequest {
  siteId: string;
  plate?: string;
  from: Date;
  to: Date;
  locale: Locale;
  now?: Date;
}

/** Booking and paying: the prepay path's service underneath (the same PaymentIntent, webhook and retrieve). */
export class ReservationService {
  private readonly prepay: PrepayService;
  constructor(private readonly o: ReservationServiceOptions) {
    this.prepay = new PrepayService(o);
  }

  /** Prices the window, records the reservation (pending) with its prepayment and PaymentIntent. */
  async book(r: BookingRequest): Promise<{ reservation: ReservationRow; pi: Stripe.PaymentIntent }> {
    const now = r.now ?? new Date();
    const plate = r.plate?.trim() ? canonicalPlate(r.plate) : null;
    if (plate !== null && !/^[A-Z0-9]{2,16}$/.test(plate)) throw new HttpError(400, "body.plate: a plate is 2 to 16 letters and digits (or leave it empty to book with the QR code only)", "invalid_input");
    if (r.to.getTime() <= r.from.getTime()) throw new HttpError(400, "body.to: the end must be after the start", "invalid_input");
    if (r.from.getTime() < now.getTime() - 5 * 60_000) throw new HttpError(400, "body.from: the start must not be in the past", "invalid_input");
    const durationMin = Math.round((r.to.getTime() - r.from.getTime()) / 60_000);
    if (durationMin < 15 || durationMin > MAX_PREPAY_MINUTES) throw new HttpError(400, `body.to: a reservation lasts 15 minutes to ${MAX_PREPAY_MINUTES / 1440} days`, "invalid_input");
    const code = newReservationCode();
    const created = await this.prepay.create({ siteId: r.siteId, plate: code, from: r.from, durationMin, locale: r.locale, now }).catch((err: unknown) => {
      // The prepay path names its own form's fields: a booking has `to` where the prepay form has `duration_min`.
      if (err instanceof HttpError && err.status === 400) throw new HttpError(400, err.message.replace("body.duration_min", "body.to").replace("query.from", "body.from"), "invalid_input");
      throw err;
    });
    const p = created.prepayment;
    const reservation = await this.o.db.tx(async (tx) => {
      const row = await createReservation(tx, { reservationId: newReservationId(), siteId: p.siteId, code, plate, startsAt: p.windowFrom, endsAt: p.windowUntil, amount: p.amount, currency: p.currency, prepaymentId: p.prepaymentId });
      await writeAudit(this.o.auditMode, tx, { kind: "reservation.booked", payload: reservationAudit(row) });
      return row;
    });
    return { reservation, pi: created.pi };
  }

  /** The reservation as it stands; back from the card page (`confirm`), the provider is asked server-side first. */
  async current(reservationId: string, confirm: boolean): Promise<ReservationRow> {
    let r = await getReservation(this.o.db.sql, reservationId);
    if (confirm && r.state === "pending" && r.prepaymentId) {
      await this.prepay.confirmByRetrieve(await getPrepayment(this.o.db.sql, r.prepaymentId));
    }
    if (r.state === "pending") {
      await syncPaidReservations(this.o.db.sql, r.siteId, r.reservationId);
      r = await getReservation(this.o.db.sql, reservationId);
    }
    return r;
  }

  /** The reservation's PaymentIntent (for a card page that needs its client secret). */
  async intentOf(r: ReservationRow): Promise<Stripe.PaymentIntent | undefined> {
    if (!r.prepaymentId) return undefined;
    return this.prepay.intentFor(await getPrepayment(this.o.db.sql, r.prepaymentId));
  }
}

function reservationAudit(r: ReservationRow): Json {
  return {
    reservation_id: r.reservationId, site_id: r.siteId, plate: r.plate, starts_at: r.startsAt.toISOString(), ends_at: r.endsAt.toISOString(),
    amount: r.amount, currency: r.currency, state: r.state, prepayment_id: r.prepaymentId,
  };
}
