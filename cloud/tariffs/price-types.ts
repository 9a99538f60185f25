// The pricing function's public types (priceStay in ./price.ts, re-exported there and from
// ./index.ts): what a caller passes and what the quote or charge looks like.
import type { Locale } from "./money";
import type { Discount, Tariff } from "./schema";

export type Instant = Date | string | number;

export interface PriceStayInput {
  tariff: Tariff;
  entry: Instant;
  /** The exit instant (for a quote: "now"). */
  exit: Instant;
  /** Validation codes presented (shop, cinema…), keys of tariff.discounts.validations. Duplicates count once. */
  discounts?: readonly string[];
  lostTicket?: boolean;
  /** The identity holds a subscription on this site: tariff.discounts.subscriber applies. */
  subscriber?: boolean;
  /**
   * With `subscriber`: the discount of the holder's permit plan (cloud/flows/permits.ts), used
   * instead of tariff.discounts.subscriber — the plan the holder bought says what it covers.
   */
  subscriberDiscount?: Discount;
  /** Language of labels and human lines (default "en"). */
  locale?: Locale;
}

export type BreakdownKind =
  | "grace" | "time" | "element_flat" | "flat_rate" | "daily_cap" | "max_per_stay" | "discount" | "lost_ticket"
  /** Added after pricing by the exit flow (cloud/flows/prepay.ts), never by priceStay: a prepayment used. */
  | "prepaid";

export interface BreakdownLine {
  kind: BreakdownKind;
  label: string;
  /** Signed minor units: charges are ≥ 0, adjustments (cap, maximum, discount) may be < 0. Lines sum to the amount. */
  amount: number;
  /** time lines: number of started steps, their unit price and size. */
  quantity?: number;
  unit_amount?: number;
  step_size?: number;
  /** Real time covered (ISO instants, UTC) for time, flat-rate and cap lines. */
  from?: string;
  to?: string;
}

export interface PriceResult {
  amount: number;
  currency: string;
  tariff_id: string;
  tariff_version: number;
  entry: string;
  exit: string;
  /** Real elapsed seconds between entry and exit (floored). */
  duration_s: number;
  /** End of the priced stay: exit minus any free-time validation. */
  priced_until: string;
  breakdown: BreakdownLine[];
  human: string[];
}
