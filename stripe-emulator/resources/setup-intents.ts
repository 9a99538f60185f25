/**
 * SetupIntents (https://docs.stripe.com/api/setup_intents): saving a card for later without
 * charging it — create, retrieve, list, confirm, cancel, and the 3-D Secure step of the
 * emulator's page (setup-intent-pages.ts). As Stripe documents:
 *
 *   requires_payment_method ─(payment_method)─▶ requires_confirmation ─confirm─▶
 *     ├─ card needs 3-D Secure ─▶ requires_action ─(authenticated)─▶ succeeded
 *     │                                            └(failed)─▶ requires_payment_method + last_setup_error
 *     ├─ card declined ─▶ requires_payment_method + last_setup_error (402; declining test cards cannot be saved)
 *     └─ succeeded: the card is attached to the customer and set up for future use
 *   cancel: from any state but succeeded / canceled.
 *
 * Events: setup_intent.created, setup_intent.requires_action, setup_intent.succeeded,
 * setup_intent.setup_failed, setup_intent.canceled. A success in a Checkout Session (mode=setup)
 * completes that session.
 */
import type Stripe from "stripe";
import { z } from "zod";
import { notFound, paramError, requestError, StripeApiError } from "../errors";
import { clone, newId, randomToken } from "../ids";
import * as P from "../params";
import { ID, list, type Route } from "../route";
import { PAGE_CONTEXT, type EmulatorState, type PaymentMethodRecord, type RequestContext, type SetupIntentRecord } from "../state";
import { completeSetupSession } from "./checkout-completion";
import { attachPaymentMethod, customerRecord } from "./customers";
import { resolvePaymentMethodId } from "./payment-methods";

const text = (max: number) => z.string().max(max, { error: `This value must be at most ${max} characters long.` });
const bool = z.enum(["true", "false"], { error: (iss) => `Invalid boolean: ${String(iss.input)}` }).transform((v) => v === "true");
const expand = z.array(z.string().max(200)).max(20).optional();

export const setupIntentCreate = z.strictObject({
  customer: text(200).optional(),
  usage: z.enum(["off_session", "on_session"], { error: (iss) => `Invalid value "${String(iss.input)}": must be one of off_session, on_session` }).optional(),
  payment_method: text(200).optional(),
  payment_method_types: z.array(z.enum(["card"])).min(1).optional(),
  confirm: bool.optional(),
  return_url: text(5000).optional(),
  description: text(1000).optional(),
  metadata: P.metadataParam.optional(),
  expand,
});
export type SetupIntentCreate = z.infer<typeof setupIntentCreate>;
const setupIntentConfirm = z.strictObject({ payment_method: text(200).optional(), return_url: text(5000).optional(), expand });
const setupIntentCancel = z.strictObject({ cancellation_reason: z.enum(["abandoned", "duplicate", "requested_by_customer"]).optional(), expand });
const setupIntentList = P.listParams.extend({ customer: z.string().optional(), payment_method: z.string().optional() });

export function setupIntentRecord(s: EmulatorState, id: string, param = "intent"): SetupIntentRecord {
  const rec = s.setupIntents.get(id);
  if (!rec) throw notFound("setup_intent", id, param);
  return rec;
}

export function createSetupIntent(s: EmulatorState, p: SetupIntentCreate, ctx: RequestContext, checkoutSession: string | null = null): Stripe.SetupIntent {
  if (p.customer !== undefined) customerRecord(s, p.customer, "customer");
  const pmId = p.payment_method !== undefined ? resolvePaymentMethodId(s, p.payment_method, "payment_method") : null;
  const id = newId("seti");
  const si = {
    id,
    object: "setup_intent",
    allowed_payment_method_types: null,
    application: null,
    automatic_payment_methods: null,
    cancellation_reason: null,
    client_secret: `${id}_secret_${randomToken(25)}`,
    created: s.seconds(),
    customer: p.customer ?? null,
    description: p.description ?? null,
    excluded_payment_method_types: null,
    flow_directions: null,
    last_setup_error: null,
    latest_attempt: null,
    livemode: false,
    mandate: null,
    metadata: P.applyMetadata({}, p.metadata),
    next_action: null,
    on_behalf_of: null,
    payment_method: pmId,
    payment_method_configuration_details: null,
    payment_method_options: { card: { mandate_options: null, network: null, request_three_d_secure: "automatic" } },
    payment_method_types: p.payment_method_types ?? ["card"],
    single_use_mandate: null,
    status: pmId ? "requires_confirmation" : "requires_payment_method",
    usage: p.usage ?? "off_session",
  } as Stripe.SetupIntent;
  s.setupIntents.set(id, { si, returnUrl: p.return_url ?? null, checkoutSession });
  s.emit("setup_intent.created", si, id, ctx);
  if (p.confirm) return confirmSetupIntent(s, id, { return_url: p.return_url }, ctx);
  return clone(si);
}

/** POST /v1/setup_intents/:id/confirm. A declining card throws a 402 card_error carrying the intent. */
export function confirmSetupIntent(s: EmulatorState, id: string, p: z.infer<typeof setupIntentConfirm>, ctx: RequestContext): Stripe.SetupIntent {
  const rec = setupIntentRecord(s, id);
  const si = rec.si;
  if (si.status !== "requires_payment_method" && si.status !== "requires_confirmation") {
    throw requestError("setup_intent_unexpected_state", `You cannot confirm this SetupIntent because it has a status of ${si.status}. Only a SetupIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method.`, { setup_intent: clone(si) });
  }
  const pmId = p.payment_method !== undefined ? resolvePaymentMethodId(s, p.payment_method, "payment_method") : si.payment_method;
  if (typeof pmId !== "string") {
    throw requestError("setup_intent_unexpected_state", "You cannot confirm this SetupIntent because it's missing a payment method: confirm it with a payment_method.", { param: "payment_method" });
  }
  const pmRec = s.paymentMethods.get(pmId) as PaymentMethodRecord;
  if (pmRec.detached) throw paramError("payment_method_unexpected_state", "payment_method", `The PaymentMethod ${pmId} was previously detached from a Customer and cannot be used again.`);
  if (pmRec.pm.customer !== null && pmRec.pm.customer !== si.customer) throw paramError("payment_method_unexpected_state", "payment_method", `The PaymentMethod ${pmId} is already attached to customer ${String(pmRec.pm.customer)}.`);
  if (p.return_url !== undefined) rec.returnUrl = p.return_url;
  si.payment_method = pmId;
  si.status = "requires_confirmation";
  const error = attemptSetup(s, rec, pmRec, false, ctx);
  if (error) throw error;
  return clone(si);
}

/** Runs the card for a setup; `authenticated`: the 3-D Secure challenge was just passed. Returns the decline, if any. */
function attemptSetup(s: EmulatorState, rec: SetupIntentRecord, pmRec: PaymentMethodRecord, authenticated: boolean, ctx: RequestContext): StripeApiError | null {
  const si = rec.si;
  const outcome = pmRec.outcome;
  si.last_setup_error = null;
  if (outcome.kind === "authenticate" && !authenticated) {
    const url = `${s.opts.publicBaseUrl()}/emulator/3ds/${si.id}?client_secret=${encodeURIComponent(si.client_secret as string)}`;
    si.status = "requires_action";
    si.next_action = (rec.returnUrl
      ? { type: "redirect_to_url", redirect_to_url: { url, return_url: rec.returnUrl } }
      : { type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect", stripe_js: url, source: pmRec.pm.id } }) as unknown as Stripe.SetupIntent.NextAction;
    s.emit("setup_intent.requires_action", si, si.id, ctx);
    return null;
  }
  if (outcome.kind === "decline") {
    const body = { type: "card_error" as const, code: outcome.code, decline_code: outcome.declineCode, message: outcome.message, doc_url: `https://docs.stripe.com/error-codes/${outcome.code.replace(/_/g, "-")}` };
    failSetup(s, rec, { ...body, payment_method: clone(pmRec.pm) }, ctx);
    return new StripeApiError(402, { ...body, payment_method: clone(pmRec.pm), setup_intent: clone(si) });
  }
  si.status = "succeeded";
  si.next_action = null;
  pmRec.setUp = true;
  s.paymentMethods.set(pmRec.pm.id, pmRec);
  if (typeof si.customer === "string" && pmRec.pm.customer === null) attachPaymentMethod(s, pmRec.pm.id, si.customer, ctx);
  s.emit("setup_intent.succeeded", si, si.id, ctx);
  if (rec.checkoutSession) completeSetupSession(s, rec.checkoutSession, si, ctx);
  return null;
}

function failSetup(s: EmulatorState, rec: SetupIntentRecord, error: Record<string, unknown>, ctx: RequestContext): void {
  const si = rec.si;
  si.last_setup_error = error as unknown as Stripe.SetupIntent.LastSetupError;
  si.payment_method = null;
  si.next_action = null;
  si.status = "requires_payment_method";
  s.emit("setup_intent.setup_failed", si, si.id, ctx);
}

/** The emulator's 3-D Secure page for a SetupIntent: pass (the card is saved) or fail the challenge. */
export function authenticateSetup(s: EmulatorState, id: string, success: boolean): Stripe.SetupIntent {
  const rec = setupIntentRecord(s, id);
  const si = rec.si;
  if (si.status !== "requires_action") throw requestError("setup_intent_unexpected_state", `This SetupIntent has a status of ${si.status}: there is no authentication to complete.`);
  const pmRec = s.paymentMethods.get(si.payment_method as string) as PaymentMethodRecord;
  if (success) {
    attemptSetup(s, rec, pmRec, true, PAGE_CONTEXT);
  } else {
    failSetup(s, rec, {
      type: "invalid_request_error",
      code: "setup_intent_authentication_failure",
      message: "The latest attempt to set up the payment method has failed because authentication failed.",
      doc_url: "https://docs.stripe.com/error-codes/setup-intent-authentication-failure",
      payment_method: clone(pmRec.pm),
    }, PAGE_CONTEXT);
  }
  return clone(si);
}

/** Saves a card typed on an emulator page (Checkout in setup mode) through this SetupIntent. */
export function setUpWithPaymentMethod(s: EmulatorState, id: string, pmId: string): Stripe.SetupIntent {
  const rec = setupIntentRecord(s, id);
  rec.si.payment_method = pmId;
  rec.si.status = "requires_confirmation";
  attemptSetup(s, rec, s.paymentMethods.get(pmId) as PaymentMethodRecord, false, PAGE_CONTEXT);
  return clone(rec.si);
}

export function cancelSetupIntent(s: EmulatorState, id: string, reason: Stripe.SetupIntent.CancellationReason | undefined, ctx: RequestContext): Stripe.SetupIntent {
  const rec = setupIntentRecord(s, id);
  const si = rec.si;
  if (si.status === "succeeded" || si.status === "canceled") {
    throw requestError("setup_intent_unexpected_state", `You cannot cancel this SetupIntent because it has a status of ${si.status}.`);
  }
  si.status = "canceled";
  si.cancellation_reason = reason ?? null;
  si.next_action = null;
  s.emit("setup_intent.canceled", si, si.id, ctx);
  return clone(si);
}

export function setupIntentRoutes(s: EmulatorState): Route[] {
  const path = (tail = "") => new RegExp(`^/v1/setup_intents/${ID}${tail}$`);
  return [
    { method: "POST", pattern: /^\/v1\/setup_intents$/, handler: (p, ctx) => createSetupIntent(s, P.parseParams(setupIntentCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/setup_intents$/,
      handler: (p) =>
        list([...s.setupIntents.values()].map((r) => r.si), p, setupIntentList, "/v1/setup_intents", (q, si) => (q.customer === undefined || si.customer === q.customer) && (q.payment_method === undefined || si.payment_method === q.payment_method)),
    },
    {
      method: "GET",
      pattern: path(),
      handler: (p, _ctx, [id]) => {
        const q = P.parseParams(P.retrieveParams, p);
        const si = clone(setupIntentRecord(s, id).si);
        if (q.client_secret !== undefined && q.client_secret !== si.client_secret) throw notFound("setup_intent", id, "intent");
        return si;
      },
    },
    { method: "POST", pattern: path("/confirm"), handler: (p, ctx, [id]) => confirmSetupIntent(s, id, P.parseParams(setupIntentConfirm, p), ctx) },
    { method: "POST", pattern: path("/cancel"), handler: (p, ctx, [id]) => cancelSetupIntent(s, id, P.parseParams(setupIntentCancel, p).cancellation_reason, ctx) },
  ];
}
