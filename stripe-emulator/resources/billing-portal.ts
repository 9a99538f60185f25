/**
 * The customer portal (https://docs.stripe.com/api/customer_portal/sessions): the cloud creates a
 * session for a Customer and sends the driver to its `url`, a simple emulator page where they
 * see their subscriptions, cancel one (at once; Stripe's portal can be configured either way)
 * or replace the card (attached, made the default of the customer and of its subscriptions:
 * the next renewal or retry charges it). A link returns to `return_url`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Stripe from "stripe";
import { z } from "zod";
import { luhnValid } from "../cards";
import { notFound } from "../errors";
import { localeOf, pageForm, parseCardForm, redirect, sendHtml, type HttpEnv } from "../http";
import { clone, randomToken } from "../ids";
import { formatAmount } from "../money";
import { cardForm, escapeHtml, layout, messagePage, type Locale } from "../pages";
import * as P from "../params";
import type { Route } from "../route";
import { PAGE_CONTEXT, type EmulatorState } from "../state";
import { attachPaymentMethod, customerRecord, updateCustomer } from "./customers";
import { createCardPaymentMethod } from "./payment-methods";
import { cancelSubscription, currentPeriod, emitUpdated } from "./subscriptions";

const url = z.string().max(5000).refine((s) => /^https?:\/\//.test(s), { error: "Not a valid URL" });
const portalCreate = z.strictObject({ customer: z.string(), return_url: url.optional(), locale: z.enum(["auto", "en", "fr"]).optional(), configuration: z.string().optional(), expand: z.array(z.string()).max(20).optional() });

function createPortalSession(s: EmulatorState, p: z.infer<typeof portalCreate>): Stripe.BillingPortal.Session {
  customerRecord(s, p.customer, "customer");
  const id = `bps_${randomToken(24)}`;
  const session = { id, object: "billing_portal.session", configuration: "bpc_emulator_default", created: s.seconds(), customer: p.customer, customer_account: null, flow: null, livemode: false, locale: p.locale ?? null, on_behalf_of: null, return_url: p.return_url ?? null, url: `${s.opts.publicBaseUrl()}/emulator/portal/${id}` } as Stripe.BillingPortal.Session;
  s.portalSessions.set(id, session);
  // Stripe sends billing_portal.session.created only to Connect platforms; none here.
  return clone(session);
}

export function portalRoutes(s: EmulatorState): Route[] {
  return [{ method: "POST", pattern: /^\/v1\/billing_portal\/sessions$/, handler: (p) => createPortalSession(s, P.parseParams(portalCreate, p)) }];
}

const T = {
  en: { title: "Your subscriptions", cancel: "Cancel this subscription", card: "Replace the card", save: "Use this card", back: "Return", until: "Current period ends", none: "No subscription.", canceled: "The subscription is canceled.", cardSaved: "The new card is saved." },
  fr: { title: "Vos abonnements", cancel: "Résilier cet abonnement", card: "Changer de carte", save: "Utiliser cette carte", back: "Retour", until: "Fin de la période en cours", none: "Aucun abonnement.", canceled: "L'abonnement est résilié.", cardSaved: "La nouvelle carte est enregistrée." },
} as const;

function portalPage(s: EmulatorState, session: Stripe.BillingPortal.Session, locale: Locale, notice?: string, error?: string): string {
  const t = T[locale];
  const action = `/emulator/portal/${session.id}`;
  const subs = [...s.subscriptions.values()].filter((r) => r.sub.customer === session.customer && r.sub.status !== "canceled" && r.sub.status !== "incomplete_expired");
  const rows = subs
    .map((r) => {
      const price = r.sub.items.data[0].price;
      const end = new Date(currentPeriod(r.sub).end * 1000).toISOString().slice(0, 10);
      return `<div class="card" data-subscription="${escapeHtml(r.sub.id)}"><p><b>${escapeHtml(price.nickname ?? price.id)}</b> — ${escapeHtml(formatAmount(price.unit_amount ?? 0, price.currency))} / ${escapeHtml(price.recurring?.interval ?? "")} — <span class="status">${escapeHtml(r.sub.status)}</span></p><p class="muted">${escapeHtml(t.until)}: ${end}</p>
<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="action" value="cancel"><input type="hidden" name="subscription" value="${escapeHtml(r.sub.id)}"><input type="hidden" name="locale" value="${locale}"><button type="submit" class="secondary" id="cancel-${escapeHtml(r.sub.id)}">${escapeHtml(t.cancel)}</button></form></div>`;
    })
    .join("");
  const back = session.return_url ? `<p><a id="return" href="${escapeHtml(session.return_url)}">${escapeHtml(t.back)}</a></p>` : "";
  const banner = (notice ? `<div class="card" id="notice" role="status">${escapeHtml(notice)}</div>` : "") + (error ? `<div class="error" id="error" role="alert">${escapeHtml(error)}</div>` : "");
  return layout(t.title, locale, `<h1>${escapeHtml(t.title)}</h1>${banner}${rows || `<p>${escapeHtml(t.none)}</p>`}
<div class="card"><h2>${escapeHtml(t.card)}</h2>${cardForm(action, locale, { action: "card", locale }, undefined, t.save)}</div>${back}`);
}

/** Replaces the customer's card: attached, default for the customer and its live subscriptions. */
function replaceCard(s: EmulatorState, customerId: string, pmId: string): void {
  attachPaymentMethod(s, pmId, customerId, PAGE_CONTEXT);
  updateCustomer(s, customerId, { invoice_settings: { default_payment_method: pmId } }, PAGE_CONTEXT);
  for (const r of s.subscriptions.values()) {
    if (r.sub.customer !== customerId || r.sub.status === "canceled" || r.sub.default_payment_method === null) continue;
    const previous = { default_payment_method: r.sub.default_payment_method };
    r.sub.default_payment_method = pmId;
    emitUpdated(s, r, previous, PAGE_CONTEXT);
  }
}

export async function handlePortalPage({ state, now, commit }: HttpEnv, req: IncomingMessage, res: ServerResponse, url: URL, id: string): Promise<void> {
  const form = await pageForm(req, url);
  const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
  const session = state.portalSessions.get(id);
  if (!session) {
    sendHtml(res, 404, messagePage("Not found", "No such customer portal session.", locale));
    return;
  }
  if (req.method !== "POST") {
    sendHtml(res, 200, portalPage(state, session, locale));
    return;
  }
  if (form.get("action") === "cancel") {
    const rec = state.subscriptions.get(form.get("subscription") ?? "");
    if (!rec || rec.sub.customer !== session.customer) throw notFound("subscription", form.get("subscription") ?? "", "subscription");
    if (rec.sub.status !== "canceled") cancelSubscription(state, rec, "cancellation_requested", PAGE_CONTEXT, "canceled in the customer portal");
    await commit();
    sendHtml(res, 200, portalPage(state, session, locale, T[locale].canceled));
    return;
  }
  const parsed = parseCardForm(form, now());
  if ("error" in parsed || !luhnValid(parsed.card.number)) {
    sendHtml(res, 400, portalPage(state, session, locale, undefined, "error" in parsed ? parsed.error : "Your card number is incorrect."));
    return;
  }
  const pm = createCardPaymentMethod(state, parsed.card);
  replaceCard(state, session.customer, pm.pm.id);
  await commit();
  if (form.get("return") === "1" && session.return_url) redirect(res, session.return_url);
  else sendHtml(res, 200, portalPage(state, session, locale, T[locale].cardSaved));
}

