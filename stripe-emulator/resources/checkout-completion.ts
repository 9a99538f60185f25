/**
 * A Checkout Session's end when its PaymentIntent is paid: kept apart from checkout-sessions.ts
 * because confirming a PaymentIntent completes its session, and the session pays through a
 * PaymentIntent (one import direction each way would be a circle).
 */
import type Stripe from "stripe";
import type { EmulatorState, RequestContext } from "../state";

/** The session's payment succeeded (or was authorised): it is complete. */
export function completeSession(state: EmulatorState, id: string, ctx: RequestContext): void {
  const rec = state.sessions.get(id);
  if (!rec || rec.session.status !== "open") return;
  const s = rec.session;
  const pi = state.paymentIntents.get(s.payment_intent as string)?.pi;
  s.status = "complete";
  s.payment_status = pi?.status === "succeeded" ? "paid" : "unpaid";
  s.url = null;
  s.customer_details = { address: null, business_name: null, email: s.customer_email, individual_name: null, name: null, phone: null, tax_exempt: "none", tax_ids: [] } as unknown as Stripe.Checkout.Session.CustomerDetails;
  state.emit("checkout.session.completed", s, s.id, ctx);
}

/** A manual-capture payment of the session was captured: the session is paid. */
export function markSessionPaid(state: EmulatorState, id: string): void {
  const rec = state.sessions.get(id);
  if (rec) rec.session.payment_status = "paid";
}

/** A Checkout Session in setup mode: its SetupIntent succeeded (the card is saved), so it is complete. */
export function completeSetupSession(state: EmulatorState, id: string, si: Stripe.SetupIntent, ctx: RequestContext): void {
  const rec = state.sessions.get(id);
  if (!rec || rec.session.status !== "open") return;
  const s = rec.session;
  s.status = "complete";
  s.payment_status = "no_payment_required";
  s.setup_intent = si.id;
  s.url = null;
  s.customer_details = { address: null, business_name: null, email: s.customer_email, individual_name: null, name: null, phone: null, tax_exempt: "none", tax_ids: [] } as unknown as Stripe.Checkout.Session.CustomerDetails;
  state.emit("checkout.session.completed", s, s.id, ctx);
}
