/**
 * Pricing an exit (ARCHITECTURE §4 step 3), once the session is found and locked: the tariff in
 * force, what the identity arranged before (permit, prepayment, hold), what was declared or
 * presented on the way (a lost ticket, merchant validations, a reservation: ./pricing-extras.ts),
 * then a zero fee straight to payment/success or a payment/req with a fresh pay link. Called by
 * the exit request, the lost-ticket declaration and a validation presented at the pay station, in
 * their transaction.
 */
import { withoutControlChars } from "../../contracts/text";
import type { Payload } from "../../contracts/mqtt-topics";
import { priceSession, tariffInForce, type Json, type SessionRow, type Tx } from "../db/index";
import { prearrangedFor } from "../db/prearranged";
import { enqueueForSite } from "../db/site-outbox";
import { canonicalPlate } from "../domain/plates";
import { writeAudit } from "../server/audit-chain";
import { priceStay } from "../tariffs/index";
import { answerWithoutBilling } from "./billing-off";
import { eventInstant, tariffOf, type FlowContext, type StoredQuote } from "./flow-context";
import { subscriberPricingFor } from "./permits";
import { NO_EXTRAS, pricingExtrasFor } from "./pricing-extras";
import { PREPAID_LABEL, prepaidCreditFor } from "./prepay";
import { LOCALES, labelsInEveryLocale } from "./quote-labels";

export interface PriceExitArgs {
  siteId: string;
  /** The session, locked (FOR UPDATE) by the caller, active or pending_payment. */
  session: SessionRow;
  /** The lane's id as the site wrote it (answers go back with it) and its database id. */
  wireLane: string;
  lane: string;
  eventId: string;
  /** The site's event time (epoch ms). */
  ts: number;
}

export async function priceExit(tx: Tx, ctx: FlowContext, a: PriceExitArgs): Promise<string> {
  const { siteId, session, lane } = a;
  const now = new Date();
  const tariffRow = await tariffInForce(tx, siteId, now);
  if (!tariffRow) {
    await enqueueForSite(tx, siteId, "displayText", { ts: now.getTime(), src: ctx.src, msg_id: `m${a.eventId}`.slice(0, 64), lane_id: a.wireLane, lines: ["Tarif indisponible", "No tariff", "Appel operateur"] });
    await writeAudit(ctx.auditMode, tx, { kind: "exit.no_tariff", sessionId: session.sessionId, payload: { site_id: siteId, lane_id: a.wireLane, event_id: a.eventId } });
    return "no_tariff";
  }
  const tariff = tariffOf(tariffRow.tariffId, tariffRow.document);
  const exitAt = eventInstant(a.ts, session.entryTs, now);
  // What the identity arranged before (permit, prepayment, hold): asked once, then only the
  // modules concerned are called (cloud/db/prearranged.ts: the pay-at-exit path pays nothing for them).
  // Subscriber pricing: a badge with a live subscriber entry in the site's access list (the
  // tariff's subscriber discount, or its permit plan's), or a plate with an active permit.
  const plate = session.identityMethod === "plate" ? session.identityValue : null;
  const pre = await prearrangedFor(tx, { siteId, sessionId: session.sessionId, identityMethod: session.identityMethod, identityValue: session.identityValue, plate: plate && canonicalPlate(plate) });
  const subscriber = plate !== null && !pre.permit ? undefined : await subscriberPricingFor(tx, siteId, { method: session.identityMethod, value: session.identityValue }, exitAt);
  // A lost ticket, merchant validations, a prepaid reservation (./pricing-extras.ts): a reserved
  // stay is priced from the end of what was prepaid, so an exit within the window costs nothing.
  const extras = pre.extras ? await pricingExtrasFor(tx, session) : NO_EXTRAS;
  const pricedFrom = extras.prepaidUntil && extras.prepaidUntil > session.entryTs ? new Date(Math.min(extras.prepaidUntil.getTime(), exitAt.getTime())) : session.entryTs;
  const priceInput = {
    tariff, entry: pricedFrom, exit: exitAt,
    ...(subscriber ? { subscriber: true } : {}), ...(subscriber?.discount ? { subscriberDiscount: subscriber.discount } : {}),
    ...(extras.discounts.length ? { discounts: extras.discounts } : {}), ...(extras.lostTicket ? { lostTicket: true } : {}),
  };
  const stayPrice = priceStay({ ...priceInput, locale: "fr" });
  // A prepaid plate (cloud/flows/prepay.ts): its prepayment is consumed here, once, and credited
  // as a line after the stay's lines; the labels in every language get that line too.
  const price = pre.prepaid ? await prepaidCreditFor(tx, ctx.auditMode, session, stayPrice, exitAt) : stayPrice;
  const labels = labelsInEveryLocale(priceInput, stayPrice, "fr");
  for (const l of LOCALES) labels[l] = [...labels[l], ...price.breakdown.slice(stayPrice.breakdown.length).map(() => PREPAID_LABEL[l])];
  const quote: StoredQuote = { lane_id: a.wireLane, price, labels };
  const r = await priceSession(tx, {
    sessionId: session.sessionId,
    amount: price.amount,
    currency: price.currency,
    tariffId: tariffRow.tariffId,
    tariffVersion: tariffRow.version,
    breakdown: quote as unknown as Json,
    pricedAt: now,
    exitLaneId: lane,
  });
  const common = { site_id: siteId, lane_id: a.wireLane, event_id: a.eventId, identity_method: session.identityMethod, amount: price.amount, currency: price.currency, tariff_id: tariffRow.tariffId, tariff_version: tariffRow.version, duration_s: price.duration_s, breakdown: price.human, ...(subscriber ? { pricing: "subscriber", subscriber_entry: subscriber.entryId } : {}) };
  if (r.outcome === "paid") {
    if (pre.hold) await ctx.holds?.atExit(tx, r.session, null); // a free stay releases a card held at entry
    await enqueueForSite(tx, siteId, "paymentSuccess", { ts: now.getTime(), src: ctx.src, session_id: session.sessionId, lane_id: a.wireLane, provider_ref: "no_charge", amount: 0, currency: price.currency }, `payment_success:${session.sessionId}`);
    await writeAudit(ctx.auditMode, tx, { kind: "payment.validated", sessionId: session.sessionId, payload: { ...common, payment_req_ts: now.toISOString(), payment_validated_ts: now.toISOString(), provider: "none", provider_ref: "no_charge", validation_result: subscriber ? "zero fee (subscriber)" : price.breakdown.some((l) => l.kind === "prepaid") ? "zero fee (prepaid)" : "zero fee (grace period or free stay)" } });
    return "zero_fee";
  }
  const payUrl = `${ctx.publicBaseUrl}/pay/${session.sessionId}?t=${r.payToken}`;
  // The tariff's name is an admin's text: a stray newline in it must not make the request break the contract.
  const frName = (tariff.name as { fr?: string; en?: string } | undefined)?.fr;
  const label = frName === undefined ? undefined : withoutControlChars(frName).slice(0, 64);
  if (ctx.billingEnabled === false) {
    return answerWithoutBilling(tx, ctx, { siteId, sessionId: session.sessionId, wireLane: a.wireLane, eventId: a.eventId, amount: price.amount, currency: price.currency, durationS: price.duration_s, ...(label !== undefined ? { label } : {}), ...(session.identityMethod === "plate" ? { plate: session.identityValue.slice(0, 16) } : {}), common });
  }
  const paymentReq: Payload<"paymentReq"> = {
    ts: now.getTime(),
    src: ctx.src,
    session_id: session.sessionId,
    lane_id: a.wireLane,
    amount: price.amount,
    currency: price.currency,
    label,
    ...(session.identityMethod === "plate" ? { plate: session.identityValue.slice(0, 16) } : {}),
    duration: price.duration_s,
    pay_url: payUrl,
  };
  // A card authorised at entry pays this exit with no phone; the lane hears the outcome later (hold-exit.ts).
  if (ctx.holds && pre.hold && (await ctx.holds.atExit(tx, r.session, paymentReq))) return "hold_capture";
  // Two independent inserts sent together: postgres.js pipelines them in one write (issue 20).
  await Promise.all([
    enqueueForSite(tx, siteId, "paymentReq", paymentReq),
    writeAudit(ctx.auditMode, tx, { kind: "payment.requested", sessionId: session.sessionId, payload: { ...common, payment_req_ts: now.toISOString() } }),
  ]);
  return "payment_requested";
}
