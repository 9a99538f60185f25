/**
 * Reservations (issue 18): a pre-booked, prepaid stay for a plate or a QR code. (being written)
 */
import type { Tx } from "../db/index";

export type ReservationAtEntry =
  | { kind: "none" }
  | { kind: "ok"; reservationId: string; plate: string | null }
  | { kind: "outside_window"; reservationId: string };

/** The reservation an entry presents (identity reservation = its QR code, or a plate with a booking), at `at`. */
export async function reservationForEntry(_tx: Tx, _siteId: string, _identity: { method: string; value: string }, _at: Date): Promise<ReservationAtEntry> {
  return { kind: "none" };
}

/** The reservation's car entered: its session is `sessionId` (once; a second claim is a no-op). */
export async function claimReservation(_tx: Tx, _reservationId: string, _sessionId: string): Promise<void> {}
