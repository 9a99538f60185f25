/**
 * What was declared or presented for a session on its way out, and changes its price: a lost
 * ticket, merchant validations, a prepaid reservation. Read by the one exit-pricing path
 * (./exit-pricing.ts) every time the session is priced, so a later re-pricing (a validation added
 * after a lost-ticket declaration) keeps all of them.
 */
import type { SessionRow, Tx } from "../db/index";

export interface PricingExtras {
  /** Keys of the tariff's discounts.validations to apply (merchant validations), in the order presented. */
  discounts: string[];
  /** The tariff's lost-ticket rule applies. */
  lostTicket: boolean;
  /** A prepaid reservation covers the stay until this instant: an exit before it is free, a later one priced from it. */
  prepaidUntil?: Date;
}

/** A session with none of them (most: cloud/db/prearranged.ts tells, in the exit's one round trip). */
export const NO_EXTRAS: PricingExtras = Object.freeze({ discounts: Object.freeze([]) as unknown as string[], lostTicket: false });

/** All of them, in one round trip. */
export async function pricingExtrasFor(tx: Tx, session: SessionRow): Promise<PricingExtras> {
  const [row] = await tx<{ rules: string[] | null; lost: boolean; prepaidUntil: Date | null }[]>`
    SELECT
      (SELECT array_agg(rule ORDER BY applied_at, code) FROM session_validations WHERE session_id = ${session.sessionId}) AS rules,
      EXISTS (SELECT 1 FROM lost_ticket_declarations WHERE session_id = ${session.sessionId}) AS lost,
      (SELECT ends_at FROM reservations WHERE session_id = ${session.sessionId} AND state IN ('entered', 'exited')) AS prepaid_until`;
  return {
    discounts: row?.rules ?? [],
    lostTicket: row?.lost ?? false,
    ...(row?.prepaidUntil ? { prepaidUntil: row.prepaidUntil } : {}),
  };
}
