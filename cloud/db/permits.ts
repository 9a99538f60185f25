/**
 * Permit plans and permits (issue 16 item 5). A plan is sold per site as a Stripe recurring
 * Price; a permit is one holder's subscription to it. Permit status changes go through
 * PERMIT_MACHINE on a locked row (`SELECT … FOR UPDATE`), like payments; the seat limit is
 * checked with the plan row locked, so two buyers cannot take the last seat together.
 */
import { randomBytes } from "node:crypto";
import { PERMIT_MACHINE, classify, type PermitState, type TransitionVerdict } from "../domain/state-machines";
import { ConflictError, NotFoundError } from "./errors";
import type { Q, Tx } from "./types";

export interface PermitPlanRow {
  planId: string;
  siteId: string;
  name: string;
  period: "month" | "year";
  amount: number;
  currency: string;
  benefit: "free" | "discount";
  discountPercent: number | null;
  maxPermits: number;
  stripePriceId: string | null;
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface PermitRow {
  permitId: string;
  planId: string;
  siteId: string;
  holderEmail: string;
  badgeUid: string | null;
  plate: string | null;
  status: PermitState;
  manageToken: string;
  checkoutSessionId: string | null;
  stripeCustomerId: string | null;
  stripeSubscriptionId: string | null;
  subscriptionStatus: string | null;
  currentPeriodEnd: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type PlanInput = Pick<PermitPlanRow, "planId" | "siteId" | "name" | "period" | "amount" | "currency" | "benefit" | "discountPercent" | "maxPermits" | "active">;

/** A pending permit holds its seat this long (a Checkout Session lives at most 24 h). */
export const PENDING_HOLDS_SEAT_MS = 24 * 3600_000;

/** Creates or replaces a plan; a changed amount, currency or period forgets the Stripe Price (a new one is made). */
export async function upsertPermitPlan(q: Q, p: PlanInput): Promise<PermitPlanRow> {
  const [row] = await q<PermitPlanRow[]>`
    INSERT INTO permit_plans (plan_id, site_id, name, period, amount, currency, benefit, discount_percent, max_permits, active)
    VALUES (${p.planId}, ${p.siteId}, ${p.name}, ${p.period}, ${p.amount}, ${p.currency}, ${p.benefit}, ${p.discountPercent}, ${p.maxPermits}, ${p.active})
    ON CONFLICT (plan_id) DO UPDATE SET name = EXCLUDED.name, benefit = EXCLUDED.benefit, discount_percent = EXCLUDED.discount_percent,
      max_permits = EXCLUDED.max_permits, active = EXCLUDED.active, amount = EXCLUDED.amount, currency = EXCLUDED.currency, period = EXCLUDED.period,
      stripe_price_id = CASE WHEN permit_plans.amount = EXCLUDED.amount AND permit_plans.currency = EXCLUDED.currency AND permit_plans.period = EXCLUDED.period
                             THEN permit_plans.stripe_price_id ELSE NULL END,
      updated_at = now()
    WHERE permit_plans.site_id = EXCLUDED.site_id
    RETURNING *`;
  if (!row) throw new ConflictError(`plan ${p.planId} belongs to another site`);
  return { ...row, amount: Number(row.amount) };
}

export async function getPermitPlan(q: Q, planId: string): Promise<PermitPlanRow> {
  const [row] = await q<PermitPlanRow[]>`SELECT * FROM permit_plans WHERE plan_id = ${planId}`;
  if (!row) throw new NotFoundError("permit plan", planId);
  return { ...row, amount: Number(row.amount) };
}

export async function listPermitPlans(q: Q, siteId: string, onlyActive = false): Promise<PermitPlanRow[]> {
  const rows = await q<PermitPlanRow[]>`SELECT * FROM permit_plans WHERE site_id = ${siteId} AND (${!onlyActive} OR active) ORDER BY period, amount, plan_id`;
  return rows.map((r) => ({ ...r, amount: Number(r.amount) }));
}

export async function setPlanPrice(q: Q, planId: string, priceId: string): Promise<void> {
  await q`UPDATE permit_plans SET stripe_price_id = ${priceId}, updated_at = now() WHERE plan_id = ${planId}`;
}

/** Permits holding a seat of the plan: active, past_due, or pending for less than a day. */
export async function seatsTaken(q: Q, planId: string, now: Date): Promise<number> {
  const [{ n }] = await q<{ n: number }[]>`
    SELECT count(*)::int AS n FROM permits WHERE plan_id = ${planId}
      AND (status IN ('active', 'past_due') OR (status = 'pending' AND created_at > ${new Date(now.getTime() - PENDING_HOLDS_SEAT_MS)}))`;
  return Number(n);
}

export class PlanFullError extends ConflictError {}

/** A pending permit, if the plan (locked) still has a seat. */
export async function createPendingPermit(tx: Tx, p: { planId: string; holderEmail: string; badgeUid: string | null; plate: string | null; now: Date }): Promise<PermitRow> {
  const [plan] = await tx<PermitPlanRow[]>`SELECT * FROM permit_plans WHERE plan_id = ${p.planId} FOR UPDATE`;
  if (!plan || !plan.active) throw new NotFoundError("permit plan", p.planId);
  if ((await seatsTaken(tx, plan.planId, p.now)) >= plan.maxPermits) throw new PlanFullError(`plan ${plan.planId} has sold all its ${plan.maxPermits} permits`);
  const permitId = `pmt_${randomBytes(12).toString("hex")}`;
  const [row] = await tx<PermitRow[]>`
    INSERT INTO permits (permit_id, plan_id, site_id, holder_email, badge_uid, plate, status, manage_token, created_at, updated_at)
    VALUES (${permitId}, ${plan.planId}, ${plan.siteId}, ${p.holderEmail}, ${p.badgeUid}, ${p.plate}, 'pending', ${randomBytes(18).toString("base64url")}, ${p.now}, ${p.now})
    RETURNING *`;
  return row;
}

/** The holder's pending permit of this plan for the same badge / plate, bought in the last hour (a double submit). */
export async function recentPendingPermit(q: Q, p: { planId: string; holderEmail: string; badgeUid: string | null; plate: string | null; now: Date }): Promise<PermitRow | undefined> {
  const [row] = await q<PermitRow[]>`
    SELECT * FROM permits WHERE plan_id = ${p.planId} AND status = 'pending' AND lower(holder_email) = lower(${p.holderEmail})
      AND badge_uid IS NOT DISTINCT FROM ${p.badgeUid} AND plate IS NOT DISTINCT FROM ${p.plate}
      AND checkout_session_id IS NOT NULL AND created_at > ${new Date(p.now.getTime() - 3600_000)}
    ORDER BY created_at DESC LIMIT 1`;
  return row;
}

export async function setPermitCheckout(q: Q, permitId: string, checkoutSessionId: string): Promise<void> {
  await q`UPDATE permits SET checkout_session_id = ${checkoutSessionId}, updated_at = now() WHERE permit_id = ${permitId} AND checkout_session_id IS NULL`;
}

export async function getPermit(q: Q, permitId: string): Promise<PermitRow> {
  const [row] = await q<PermitRow[]>`SELECT * FROM permits WHERE permit_id = ${permitId}`;
  if (!row) throw new NotFoundError("permit", permitId);
  return row;
}

/** The permit of a subscription event: by the permit id Stripe carries in metadata, else by the subscription id. */
export async function findPermitForSubscription(q: Q, permitId: string | undefined, subscriptionId: string | null): Promise<PermitRow | undefined> {
  if (permitId) {
    const [row] = await q<PermitRow[]>`SELECT * FROM permits WHERE permit_id = ${permitId}`;
    if (row) return row;
  }
  if (!subscriptionId) return undefined;
  const [row] = await q<PermitRow[]>`SELECT * FROM permits WHERE stripe_subscription_id = ${subscriptionId}`;
  return row;
}

/** The holder's latest permit for this badge or plate at the site (for /renew-subscription). */
export async function latestPermitOf(q: Q, siteId: string, email: string, badgeUid: string | null, plate: string | null): Promise<PermitRow | undefined> {
  const [row] = await q<PermitRow[]>`
    SELECT * FROM permits WHERE site_id = ${siteId} AND lower(holder_email) = lower(${email})
      AND ((${badgeUid}::text IS NOT NULL AND badge_uid = ${badgeUid}) OR (${plate}::text IS NOT NULL AND plate = ${plate}))
    ORDER BY created_at DESC LIMIT 1`;
  return row;
}

/** The site's permits, newest first (the operators' API). */
export async function listPermitsOfSite(q: Q, siteId: string, limit = 500): Promise<PermitRow[]> {
  return [...(await q<PermitRow[]>`SELECT * FROM permits WHERE site_id = ${siteId} ORDER BY created_at DESC LIMIT ${limit}`)];
}

/** The plan of the ACTIVE permit that owns the badge's access entry at the site, if any. */
export async function activePermitPlanOfBadge(q: Q, siteId: string, badgeUid: string): Promise<PermitPlanRow | undefined> {
  const [row] = await q<PermitPlanRow[]>`
    SELECT pp.* FROM permits p JOIN permit_plans pp ON pp.plan_id = p.plan_id
    WHERE p.site_id = ${siteId} AND p.badge_uid = ${badgeUid} AND p.status = 'active'
    ORDER BY p.updated_at DESC LIMIT 1`;
  return row ? { ...row, amount: Number(row.amount) } : undefined;
}

/** The plan and id of the ACTIVE permit of a plate at the site, if any (plates have no access-list form). */
export async function activePermitOfPlate(q: Q, siteId: string, plate: string): Promise<{ permit: PermitRow; plan: PermitPlanRow } | undefined> {
  const [p] = await q<PermitRow[]>`SELECT * FROM permits WHERE site_id = ${siteId} AND plate = ${plate} AND status = 'active' ORDER BY updated_at DESC LIMIT 1`;
  if (!p) return undefined;
  return { permit: p, plan: await getPermitPlan(q, p.planId) };
}

export async function lockPermit(tx: Tx, permitId: string): Promise<PermitRow> {
  const [row] = await tx<PermitRow[]>`SELECT * FROM permits WHERE permit_id = ${permitId} FOR UPDATE`;
  if (!row) throw new NotFoundError("permit", permitId);
  return row;
}

/** A pending permit whose Checkout expired unpaid: canceled (its seat is free again). */
export async function cancelPendingPermit(tx: Tx, locked: PermitRow): Promise<{ verdict: TransitionVerdict; permit: PermitRow }> {
  const verdict = locked.status === "pending" ? classify(PERMIT_MACHINE, locked.status, "canceled") : "stale";
  if (verdict !== "apply") return { verdict, permit: locked };
  const [row] = await tx<PermitRow[]>`UPDATE permits SET status = 'canceled', updated_at = now() WHERE permit_id = ${locked.permitId} RETURNING *`;
  return { verdict, permit: row };
}

/**
 * Applies what Stripe says of the permit's subscription to the locked row: the ids and period
 * are recorded; the status moves only where PERMIT_MACHINE allows ("stale" never moves back).
 */
export async function applySubscriptionState(
  tx: Tx,
  locked: PermitRow,
  s: { to: PermitState; subscriptionId: string; customerId: string | null; subscriptionStatus: string; periodEnd: Date | null },
): Promise<{ verdict: TransitionVerdict; permit: PermitRow }> {
  const verdict = classify(PERMIT_MACHINE, locked.status, s.to);
  const status = verdict === "apply" ? s.to : locked.status;
  const [row] = await tx<PermitRow[]>`
    UPDATE permits SET status = ${status}, stripe_subscription_id = ${s.subscriptionId}, stripe_customer_id = COALESCE(${s.customerId}, stripe_customer_id),
      subscription_status = ${verdict === "stale" ? locked.subscriptionStatus : s.subscriptionStatus}, current_period_end = COALESCE(${s.periodEnd}, current_period_end), updated_at = now()
    WHERE permit_id = ${locked.permitId} RETURNING *`;
  return { verdict, permit: row };
}
