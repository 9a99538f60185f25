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

export async function pricingExtrasFor(_tx: Tx, _session: SessionRow): Promise<PricingExtras> {
  return { discounts: [], lostTicket: false };
}
