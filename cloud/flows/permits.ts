/**
 * Monthly and annual permits (issue 16 item 5, seed 003): plans per site sold through Stripe
 * Checkout in `subscription` mode. A permit is ACTIVE EXACTLY WHILE Stripe says its subscription
 * is `active` (or `trialing`); while it is, its badge is a subscriber entry of the site's access
 * list (exits priced by the ONE pricing function with the subscriber discount, and known to the
 * gateway offline through the signed parking/acl/* path); when it is not, the entry is removed.
 *
 * The webhooks (checkout.session.completed in subscription mode, customer.subscription.*,
 * invoice.paid, invoice.payment_failed) arrive through PaymentService.handleWebhook (the webhook
 * table: a replay acts once) and land in applyPermitEvent, in its transaction.
 */
import type Stripe from "stripe";
import { z } from "zod";
import { signAcl } from "../../contracts/acl-signature";
import {
  activePermitOfPlate,
  activePermitPlanOfBadge,
  findSubscriberBadge,
  applySubscriptionState,
  cancelPendingPermit,
  createPendingPermit,
  findPermitForSubscription,
  getPermitPlan,
  lockPermit,
  recentPendingPermit,
  removeAccessEntry,
  setPermitCheckout,
  setPlanPrice,
  upsertAccessEntry,
  upsertPermitPlan,
  type Database,
  type PermitPlanRow,
  type PermitRow,
  type Tx,
} from "../db/index";
import { enqueueForSite } from "../db/site-outbox";
import { permitStateOfSubscription, type PermitState } from "../domain/state-machines";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import type { Discount } from "../tariffs/index";
import { aclEntry } from "./access";
import { invoicePaidPeriod } from "../billing/permit-invoices";
import { canonicalPlate } from "../domain/plates";

export interface PermitContext {
  stripe: Stripe;
  auditMode: AuditMode;
  /** `src` of the access-list messages. */
  src: string;
  /** SYSPARK_ACL_HMAC_KEY; absent → the entry is written (exit pricing) but nothing is sent to the site. */
  aclHmacKey?: string;
}

/** The subscription events that concern permits (payments.ts dispatches them here). */
export const PERMIT_EVENT_TYPES = new Set(["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed"]);

export type PermitOutcome = "permit" | "stale" | "ignored";

/** The label of the access entry a permit owns (so a lapse removes only what the permit added). */
const entryLabel = (p: PermitRow): string => `permit ${p.permitId}`;

function idOf(v: string | { id: string } | null | undefined): string | null {
  return typeof v === "string" ? v : (v?.id ?? null);
}

/** Subscription id and the permit id in its metadata, from any of the permit events. */
function subscriptionRef(event: Stripe.Event): { subscriptionId: string | null; permitId: string | undefined } {
  const o = event.data.object as unknown as Record<string, unknown>;
  if (event.type.startsWith("customer.subscription.")) {
    const sub = o as unknown as Stripe.Subscription;
    return { subscriptionId: sub.id, permitId: sub.metadata?.permit_id };
  }
  if (event.type.startsWith("invoice.")) {
    const details = (o as unknown as Stripe.Invoice).parent?.subscription_details;
    return { subscriptionId: idOf(details?.subscription), permitId: details?.metadata?.permit_id };
  }
  const cs = o as unknown as Stripe.Checkout.Session;
  return { subscriptionId: idOf(cs.subscription as string | null), permitId: cs.client_reference_id ?? cs.metadata?.permit_id };
}

/** Is the badge's subscriber entry at the site owned by this permit and live? */
async function ownedEntry(tx: Tx, p: PermitRow): Promise<boolean> {
  const [row] = await tx<{ label: string; deleted: boolean }[]>`SELECT label, deleted FROM access_list_entries WHERE site_id = ${p.siteId} AND entry_id = ${p.badgeUid} FOR UPDATE`;
  return Boolean(row && !row.deleted && row.label === entryLabel(p));
}

/**
 * Puts the permit's badge into the site's access list as a subscriber (active) or takes it out
 * (not active), with the signed parking/acl/add|del in the same transaction.
 */
async function syncAccessEntry(ctx: PermitContext, tx: Tx, p: PermitRow, active: boolean): Promise<"added" | "removed" | "unchanged"> {
  if (!p.badgeUid) return "unchanged"; // a plate-only permit: the plate has no access-list form
  const owned = await ownedEntry(tx, p);
  if (active === owned) return "unchanged";
  const now = Date.now();
  if (active) {
    const row = await upsertAccessEntry(tx, { siteId: p.siteId, entryId: p.badgeUid, badgeUid: p.badgeUid, label: entryLabel(p), subscriber: true });
    const version = Number(row.version);
    if (ctx.aclHmacKey) {
      const payload = { ts: now, src: ctx.src, version, entries: [aclEntry(row)] };
      await enqueueForSite(tx, p.siteId, "aclAdd", { ...payload, sig: signAcl(payload, ctx.aclHmacKey) }, `acl:${p.siteId}:${version}`);
    }
    return "added";
  }
  const row = await removeAccessEntry(tx, p.siteId, p.badgeUid);
  const version = Number(row.version);
  if (ctx.aclHmacKey) {
    const payload = { ts: now, src: ctx.src, version, ids: [p.badgeUid] };
    await enqueueForSite(tx, p.siteId, "aclDel", { ...payload, sig: signAcl(payload, ctx.aclHmacKey) }, `acl:${p.siteId}:${version}`);
  }
  return "removed";
}

/**
 * One permit webhook, in the webhook's transaction. The permit row is locked FIRST, then the
 * subscription is RETRIEVED from Stripe and its current status applied — not the status inside
 * the event: Stripe does not guarantee the order of events, and `created` has a one-second
 * granularity (a renewal's invoice.payment_failed and subscription.updated share it), so an
 * event's own copy may be older than what we already applied. Retrieving under the lock makes
 * concurrent deliveries apply in order, each the newest truth; PERMIT_MACHINE refuses a move
 * back out of `canceled`. Replays never reach here (the webhook table acts once).
 */
export async function applyPermitEvent(ctx: PermitContext, tx: Tx, event: Stripe.Event): Promise<PermitOutcome> {
  const ref = subscriptionRef(event);
  const found = await findPermitForSubscription(tx, ref.permitId, ref.subscriptionId);
  if (!found) return "ignored"; // not a SysPark permit (another product on the same Stripe account)
  const locked = await lockPermit(tx, found.permitId);
  if (event.type === "checkout.session.expired") {
    const { verdict, permit } = await cancelPendingPermit(tx, locked);
    if (verdict === "apply") await writeAudit(ctx.auditMode, tx, { kind: "permit.canceled", payload: { ...auditBase(permit, event), from: locked.status, to: permit.status, reason: "checkout expired unpaid" } });
    return verdict === "apply" ? "permit" : "stale";
  }
  const subscriptionId = ref.subscriptionId ?? locked.stripeSubscriptionId;
  if (!subscriptionId) return "ignored"; // a Checkout completed without a subscription (never in subscription mode)
  const outcome = await syncLocked(ctx, tx, locked, subscriptionId, event);
  if (event.type === "invoice.paid") await invoicePaidPeriod(tx, locked, event.data.object); // a paid period: its one invoice (cloud/billing/permit-invoices.ts)
  return outcome;
}

/** Applies the subscription's current status (retrieved now) to the locked permit. */
async function syncLocked(ctx: PermitContext, tx: Tx, locked: PermitRow, subscriptionId: string, cause: Stripe.Event | { id: null; type: string }): Promise<PermitOutcome> {
  const sub = await ctx.stripe.subscriptions.retrieve(subscriptionId);
  const to: PermitState = permitStateOfSubscription(sub.status);
  const periodEnd = sub.items.data[0]?.current_period_end;
  const { verdict, permit } = await applySubscriptionState(tx, locked, { to, subscriptionId, customerId: idOf(sub.customer as string), subscriptionStatus: sub.status, periodEnd: periodEnd ? new Date(periodEnd * 1000) : null });
  const access = await syncAccessEntry(ctx, tx, permit, permit.status === "active");
  await auditPermitEvent(ctx, tx, cause, locked, permit, { verdict, access, subscriptionStatus: sub.status });
  return verdict === "stale" ? "stale" : "permit";
}

/**
 * Asks Stripe now (never the browser's redirect) and applies it: the page after Checkout while
 * the webhook is late, and the operators' resync ("the permit is not updated"). A pending permit
 * whose Checkout expired unpaid is canceled.
 */
export async function resyncPermit(ctx: PermitContext & { db: Database }, permitId: string): Promise<PermitRow> {
  return ctx.db.tx(async (tx) => {
    const locked = await lockPermit(tx, permitId);
    let subscriptionId = locked.stripeSubscriptionId;
    if (!subscriptionId && locked.checkoutSessionId) {
      const cs = await ctx.stripe.checkout.sessions.retrieve(locked.checkoutSessionId);
      subscriptionId = idOf(cs.subscription as string | null);
      if (!subscriptionId && cs.status === "expired") await cancelPendingPermit(tx, locked);
    }
    if (subscriptionId) await syncLocked(ctx, tx, locked, subscriptionId, { id: null, type: "resync" });
    return lockPermit(tx, permitId);
  });
}

function auditBase(p: PermitRow, cause: { id: string | null; type: string }) {
  return { permit_id: p.permitId, plan_id: p.planId, site_id: p.siteId, badge_uid: p.badgeUid, plate: p.plate, subscription: p.stripeSubscriptionId, event_id: cause.id, event_type: cause.type };
}

async function auditPermitEvent(ctx: PermitContext, tx: Tx, cause: Stripe.Event | { id: null; type: string }, before: PermitRow, after: PermitRow, o: { verdict: string; access: string; subscriptionStatus: string }): Promise<void> {
  const base = auditBase(after, cause);
  if ("data" in cause && (cause.type === "invoice.paid" || cause.type === "invoice.payment_failed")) {
    // A money movement (or a failed attempt at one): audited with its amount.
    const inv = cause.data.object as Stripe.Invoice;
    await writeAudit(ctx.auditMode, tx, { kind: cause.type === "invoice.paid" ? "permit.invoice_paid" : "permit.invoice_failed", payload: { ...base, invoice: inv.id ?? null, amount: cause.type === "invoice.paid" ? inv.amount_paid : inv.amount_due, currency: inv.currency.toUpperCase(), billing_reason: inv.billing_reason ?? null, attempt_count: inv.attempt_count } });
  }
  if (before.status !== after.status || o.access !== "unchanged") {
    await writeAudit(ctx.auditMode, tx, { kind: `permit.${after.status}`, payload: { ...base, from: before.status, to: after.status, subscription_status: o.subscriptionStatus, access_entry: o.access, verdict: o.verdict } });
  }
}

/**
 * The subscriber discount of a badge's subscriber entry when a permit owns it: the plan's benefit
 * (free exits = 100 %, or its percent), passed to the ONE pricing function (priceStay's
 * subscriberDiscount). An entry an operator added by hand keeps the tariff's subscriber discount.
 */
export async function permitDiscountFor(q: Tx, siteId: string, entry: { label: string; badgeUid: string | null }): Promise<Discount | undefined> {
  if (!entry.badgeUid || !entry.label.startsWith("permit pmt_")) return undefined;
  const plan = await activePermitPlanOfBadge(q, siteId, entry.badgeUid);
  if (!plan) return undefined;
  return planDiscount(plan);
}

function planDiscount(plan: PermitPlanRow): Discount {
  const percent = plan.benefit === "free" ? 100 : (plan.discountPercent as number);
  return { kind: "percent", percent, label: { en: `Permit: ${plan.name}`, fr: `Abonnement : ${plan.name}` } };
}

/** A plate as permits store it (upper case, no spaces or dashes). */

/**
 * Is the exiting identity a subscriber, and with which discount? A badge: its live subscriber
 * entry in the access list (a permit's entry brings its plan's benefit; an operator's entry the
 * tariff's subscriber discount). A plate: an ACTIVE permit of that plate (online only: a plate has
 * no form in the offline access list). The price itself is always priceStay's.
 */
export async function subscriberPricingFor(tx: Tx, siteId: string, identity: { method: string; value: string }, at: Date): Promise<{ entryId: string; discount?: Discount } | undefined> {
  if (identity.method === "badge") {
    const entry = await findSubscriberBadge(tx, siteId, identity.value, at);
    if (!entry) return undefined;
    const discount = await permitDiscountFor(tx, siteId, entry);
    return { entryId: entry.entryId, ...(discount ? { discount } : {}) };
  }
  if (identity.method !== "plate") return undefined;
  const found = await activePermitOfPlate(tx, siteId, canonicalPlate(identity.value));
  return found ? { entryId: `permit:${found.permit.permitId}`, discount: planDiscount(found.plan) } : undefined;
}

// ------------------------------------------------------------------ buying

/** The plan's Stripe Price, created once per (amount, currency, period) with an idempotency key. */
export async function ensurePlanPrice(stripe: Stripe, db: Pick<Database, "sql">, plan: PermitPlanRow): Promise<string> {
  if (plan.stripePriceId) return plan.stripePriceId;
  const key = `syspark-plan-price:${plan.planId}:${plan.amount}:${plan.currency}:${plan.period}`;
  const price = await stripe.prices.create(
    { currency: plan.currency.toLowerCase(), unit_amount: plan.amount, recurring: { interval: plan.period }, nickname: plan.name, product_data: { name: `${plan.name} (${plan.siteId})`, metadata: { site_id: plan.siteId, plan_id: plan.planId } }, metadata: { site_id: plan.siteId, plan_id: plan.planId } },
    { idempotencyKey: key },
  );
  if (price.unit_amount !== plan.amount || price.currency.toUpperCase() !== plan.currency) throw new Error(`Stripe Price ${price.id} does not match plan ${plan.planId}`);
  await setPlanPrice(db.sql, plan.planId, price.id);
  return price.id;
}

export interface BuyInput {
  planId: string;
  siteId: string;
  email: string;
  badgeUid: string | null;
  plate: string | null;
  lang: "fr" | "en";
  baseUrl: string;
}

/**
 * Takes a seat (a pending permit, the plan locked) and opens a Stripe Checkout Session in
 * subscription mode for the plan's Price — never an amount from the browser. The permit id
 * travels in client_reference_id and the subscription's metadata, so every later event finds it.
 */
export async function startPermitCheckout(ctx: PermitContext & { db: Database }, input: BuyInput): Promise<{ permit: PermitRow; url: string }> {
  const plan = await getPermitPlan(ctx.db.sql, input.planId);
  if (plan.siteId !== input.siteId) throw new Error(`plan ${plan.planId} is not sold at ${input.siteId}`);
  const priceId = await ensurePlanPrice(ctx.stripe, ctx.db, plan);
  // The same holder submitting twice (a double tap, the back button): the Checkout still open is
  // handed out again instead of a second seat being taken.
  const again = await recentPendingPermit(ctx.db.sql, { planId: plan.planId, holderEmail: input.email, badgeUid: input.badgeUid, plate: input.plate, now: new Date() });
  if (again?.checkoutSessionId) {
    const open = await ctx.stripe.checkout.sessions.retrieve(again.checkoutSessionId);
    if (open.status === "open" && open.url) return { permit: again, url: open.url };
  }
  const permit = await ctx.db.tx((tx) => createPendingPermit(tx, { planId: plan.planId, holderEmail: input.email, badgeUid: input.badgeUid, plate: input.plate, now: new Date() }));
  const cs = await createCheckout(ctx, plan, priceId, permit, input).catch(async (err: unknown) => {
    // Stripe refused or is out of reach: the pending permit must not hold the seat for a day.
    await ctx.db.tx(async (tx) => cancelPendingPermit(tx, await lockPermit(tx, permit.permitId)));
    throw err;
  });
  await setPermitCheckout(ctx.db.sql, permit.permitId, cs.id);
  await ctx.db.tx((tx) => writeAudit(ctx.auditMode, tx, { kind: "permit.checkout", payload: { permit_id: permit.permitId, plan_id: plan.planId, site_id: plan.siteId, badge_uid: permit.badgeUid, plate: permit.plate, amount: plan.amount, currency: plan.currency, period: plan.period, checkout_session: cs.id } }));
  return { permit: { ...permit, checkoutSessionId: cs.id }, url: cs.url as string };
}

function createCheckout(ctx: PermitContext, plan: PermitPlanRow, priceId: string, permit: PermitRow, input: BuyInput): Promise<Stripe.Checkout.Session> {
  const success = `${input.baseUrl}/permits/${encodeURIComponent(plan.siteId)}/done?permit=${permit.permitId}&t=${permit.manageToken}&lang=${input.lang}`;
  return ctx.stripe.checkout.sessions.create(
    {
      mode: "subscription",
      line_items: [{ price: priceId, quantity: 1 }],
      customer_email: input.email,
      client_reference_id: permit.permitId,
      subscription_data: { metadata: { permit_id: permit.permitId, site_id: plan.siteId, plan_id: plan.planId } },
      metadata: { permit_id: permit.permitId, site_id: plan.siteId },
      success_url: success,
      cancel_url: `${input.baseUrl}/permits/${encodeURIComponent(plan.siteId)}?lang=${input.lang}`,
      locale: input.lang,
    },
    { idempotencyKey: `syspark-permit-checkout:${permit.permitId}` },
  );
}

/** The Stripe customer portal for the permit's customer (card change, cancel). */
export async function portalUrl(stripe: Stripe, permit: PermitRow, returnUrl: string, lang: "fr" | "en"): Promise<string | null> {
  if (!permit.stripeCustomerId) return null;
  const s = await stripe.billingPortal.sessions.create({ customer: permit.stripeCustomerId, return_url: returnUrl, locale: lang });
  return s.url;
}

// ------------------------------------------------------------------ operators (API and CLI)

export const PlanBody = z
  .strictObject({
    plan_id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,47}$/, "1–48 of a-z 0-9 -, starting with a letter or digit"),
    name: z.string().trim().min(1).max(80),
    period: z.enum(["month", "year"]),
    amount: z.number().int("must be an integer number of minor units (cents)").min(1).max(99_999_999),
    currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code in capitals, e.g. EUR"),
    benefit: z.enum(["free", "discount"]),
    discount_percent: z.number().int().min(1).max(99).optional(),
    max_permits: z.number().int().min(1).max(100_000),
    active: z.boolean().optional(),
  })
  .refine((b) => (b.benefit === "discount") === (b.discount_percent !== undefined), { message: "is required with benefit \"discount\" and only then", path: ["discount_percent"] });
export type PlanBodyInput = z.infer<typeof PlanBody>;

/** Creates or replaces a plan of the site (its Stripe Price follows at the next sale). */
export async function setPermitPlan(db: Pick<Database, "sql">, siteId: string, b: PlanBodyInput): Promise<PermitPlanRow> {
  return upsertPermitPlan(db.sql, { planId: b.plan_id, siteId, name: b.name, period: b.period, amount: b.amount, currency: b.currency, benefit: b.benefit, discountPercent: b.discount_percent ?? null, maxPermits: b.max_permits, active: b.active ?? true });
}

export function planView(p: PermitPlanRow) {
  return { plan_id: p.planId, site_id: p.siteId, name: p.name, period: p.period, amount: p.amount, currency: p.currency, benefit: p.benefit, discount_percent: p.discountPercent, max_permits: p.maxPermits, active: p.active, stripe_price_id: p.stripePriceId };
}

export function permitView(p: PermitRow) {
  return { permit_id: p.permitId, plan_id: p.planId, status: p.status, subscription_status: p.subscriptionStatus, badge_uid: p.badgeUid, plate: p.plate, holder_email: p.holderEmail, stripe_subscription_id: p.stripeSubscriptionId, current_period_end: p.currentPeriodEnd?.toISOString() ?? null };
}
