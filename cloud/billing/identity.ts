/**
 * How a session's identity and a card are printed for the driver (pages, receipts): a plate in full — it is
 * written on the car and shown on the lane's display; a badge UID or ticket number masked to its
 * last 4, since those open the barrier.
 */
import type { IdentityMethod } from "../db/sessions";
export function shownIdentity(method: IdentityMethod, value: string): string {
  if (method === "plate") return value;
  return value.length <= 4 ? "••••" : `•••• ${value.slice(-4)}`;
}

/** A card brand as printed ("visa" → "Visa", "amex" → "American Express"). */
export function brandName(brand: string): string {
  const known: Record<string, string> = { visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover", diners: "Diners Club", jcb: "JCB", unionpay: "UnionPay", cartes_bancaires: "CB" };
  return known[brand] ?? brand;
}
