/**
 * Merchant validations (issue 18): a merchant (shop, cinema, hotel) pays part of its customers'
 * parking with ONE discount rule of the tariff (discounts.validations), within a budget. It
 * issues one-use codes (printed or shown as the QR `SPV1.<code>`), entered at the pay station
 * (parking/exit/validation), on the pay page, or it validates a session directly on its own page.
 *
 * A code acts once: issued → used in one conditional UPDATE (cloud/db/merchants.ts), after the
 * session and the merchant's row are locked, in that order (no deadlock between two
 * validations). Its cost to the operator is the price before less the price after, charged to
 * the budget only while the budget covers it. Every outcome is audited: `validation.applied` or
 * `validation.refused` with the reason.
 */
import type { Payload } from "../../contracts/mqtt-topics";
import { getSession, lockSession, tariffInForce, type Database, type SessionRow, type Tx } from "../db/index";
import {
  chargeMerchant,
  createMerchant,
  claimValidationCode,
  findValidationCode,
  insertValidationCode,
  lockMerchant,
  type MerchantRow,
  type ValidationCodeRow,
  type ValidationVia,
} from "../db/merchants";
import { enqueueForSite } from "../db/site-outbox";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { priceStay, type Tariff } from "../tariffs/index";
import { priceExit } from "./exit-pricing";
import { eventInstant, tariffOf, wireLaneOf, type FlowContext } from "./flow-context";
import { pricingExtrasFor, type PricingExtras } from "./pricing-extras";
import { ensureLane } from "./site-registry";
import { siteTx } from "./site-tx";

export type ValidationRefusal =
  | "unknown_code" | "already_used" | "void" | "wrong_site" | "unknown_session" | "session_not_open"
  | "unknown_rule" | "already_applied" | "nothing_to_pay" | "over_budget" | "merchant_inactive" | "no_tariff";

export type ValidationOutcome =
  | { ok: true; code: string; rule: string; merchantId: string; cost: number; before: number; after: number; session: SessionRow }
  | { ok: false; reason: ValidationRefusal; message: string };

/** A refusal in the words of a 20-character lane display (the pages add the message). */
export const REFUSAL_TEXT: Record<ValidationRefusal, { fr: string; en: string }> = {
  unknown_code: { fr: "Code inconnu", en: "Unknown code" },
  already_used: { fr: "Code deja utilise", en: "Code already used" },
  void: { fr: "Code annule", en: "Code cancelled" },
  wrong_site: { fr: "Code autre parking", en: "Code of other site" },
  unknown_session: { fr: "Session inconnue", en: "Unknown session" },
  session_not_open: { fr: "Deja regle", en: "Already settled" },
  unknown_rule: { fr: "Code hors tarif", en: "Code not in tariff" },
  already_applied: { fr: "Deja validee", en: "Already validated" },
  nothing_to_pay: { fr: "Rien a payer", en: "Nothing to pay" },
  over_budget: { fr: "Budget epuise", en: "Budget spent" },
  merchant_inactive: { fr: "Commercant inactif", en: "Merchant inactive" },
  no_tariff: { fr: "Tarif indisponible", en: "No tariff" },
};

function refused(reason: ValidationRefusal, message: string): ValidationOutcome {
  return { ok: false, reason, message };
}

/** The stay's price at `at` with these extras (the exit's price without permit, prepayment or hold: what a validation changes). */
function stayAmount(tariff: Tariff, session: SessionRow, extras: PricingExtras, at: Date): number {
  const entry = extras.prepaidUntil && extras.prepaidUntil > session.entryTs ? new Date(Math.min(extras.prepaidUntil.getTime(), at.getTime())) : session.entryTs;
  return priceStay({ tariff, entry, exit: at < entry ? entry : at, ...(extras.discounts.length ? { discounts: extras.discounts } : {}), ...(extras.lostTicket ? { lostTicket: true } : {}) }).amount;
}

/** Why this code cannot be used at this site, before anything is locked (undefined: it may be). */
function codeProblem(row: ValidationCodeRow | undefined, code: string, siteId: string): ValidationOutcome | undefined {
  if (!row) return refused("unknown_code", `code ${code} is not a validation code`);
  if (row.siteId !== siteId) return refused("wrong_site", `code ${code} belongs to another car park`);
  if (row.state === "used") return refused("already_used", `code ${code} was already used${row.usedAt ? ` on ${row.usedAt.toISOString()}` : ""}`);
  if (row.state === "void") return refused("void", `code ${code} was cancelled`);
  return undefined;
}

export interface ApplyValidationInput {
  siteId: string;
  sessionId: string;
  code: string;
  via: ValidationVia;
  at?: Date;
}

/** Applies a one-use code to a session, in the caller's transaction; audited whatever the outcome. */
export async function applyValidation(tx: Tx, auditMode: AuditMode, a: ApplyValidationInput): Promise<ValidationOutcome> {
  const out = await tryApply(tx, a);
  const base = { site_id: a.siteId, session_id: a.sessionId, code: a.code, via: a.via };
  const known = await getSession(tx, a.sessionId).then((s) => s.siteId === a.siteId, () => false);
  if (out.ok) {
    await writeAudit(auditMode, tx, { kind: "validation.applied", sessionId: a.sessionId, payload: { ...base, rule: out.rule, merchant_id: out.merchantId, cost: out.cost, amount_before: out.before, amount_after: out.after } });
  } else {
    await writeAudit(auditMode, tx, { kind: "validation.refused", sessionId: known ? a.sessionId : null, payload: { ...base, reason: out.reason, message: out.message } });
  }
  return out;
}

async function tryApply(tx: Tx, a: ApplyValidationInput): Promise<ValidationOutcome> {
  const code = a.code.trim().toUpperCase();
  const early = codeProblem(await findValidationCode(tx, code), code, a.siteId);
  if (early) return early;
  const session = await lockSession(tx, a.sessionId).catch(() => undefined);
  if (!session || session.siteId !== a.siteId) return refused("unknown_session", `session ${a.sessionId} is not a stay at ${a.siteId}`);
  if (session.status !== "active" && session.status !== "pending_payment") return refused("session_not_open", `session ${a.sessionId} is ${session.status}: nothing left to validate`);
  const row = await findValidationCode(tx, code);
  const merchant = await lockMerchant(tx, (row as ValidationCodeRow).merchantId);
  // Read again under the merchant's lock: a concurrent use of the same code committed meanwhile shows here.
  const late = codeProblem(await findValidationCode(tx, code), code, a.siteId);
  if (late) return late;
  return applyLocked(tx, a, session, merchant, code, (row as ValidationCodeRow).rule);
}

async function applyLocked(tx: Tx, a: ApplyValidationInput, session: SessionRow, merchant: MerchantRow, code: string, rule: string): Promise<ValidationOutcome> {
  if (!merchant.active) return refused("merchant_inactive", `merchant ${merchant.name} is not active`);
  const at = a.at ?? new Date();
  const tariffRow = await tariffInForce(tx, a.siteId, at);
  if (!tariffRow) return refused("no_tariff", `no tariff in force at ${a.siteId}`);
  const tariff = tariffOf(tariffRow.tariffId, tariffRow.document);
  const known = tariff.discounts?.validations ?? {};
  if (!Object.hasOwn(known, rule)) return refused("unknown_rule", `rule ${rule} is not a validation of tariff ${tariff.id} v${tariff.version} (known: ${Object.keys(known).join(", ") || "none"})`);
  const extras = await pricingExtrasFor(tx, session);
  if (extras.discounts.includes(rule)) return refused("already_applied", `validation ${rule} is already applied to this stay`);
  const before = stayAmount(tariff, session, extras, at);
  if (before === 0) return refused("nothing_to_pay", "this stay costs nothing now: the code is kept");
  const after = stayAmount(tariff, session, { ...extras, discounts: [...extras.discounts, rule] }, at);
  const cost = Math.max(0, before - after);
  if (merchant.spentMinor + cost > merchant.budgetMinor) return refused("over_budget", `merchant ${merchant.name}'s validation budget cannot cover ${cost} more (spent ${merchant.spentMinor} of ${merchant.budgetMinor})`);
  const claimed = await claimValidationCode(tx, { code, sessionId: session.sessionId, via: a.via, cost, at });
  if (!claimed) return refused("already_used", `code ${code} was already used`);
  if (!(await chargeMerchant(tx, merchant.merchantId, cost))) throw new Error(`merchant ${merchant.merchantId} budget changed under its lock`);
  return { ok: true, code, rule, merchantId: merchant.merchantId, cost, before, after, session };
}

/** Why a merchant may not issue a code now (undefined: it may). */
export function issueProblem(m: MerchantRow): string | undefined {
  if (!m.active) return "this merchant is not active";
  if (m.spentMinor >= m.budgetMinor) return "the validation budget is spent";
  return undefined;
}

/** A fresh one-use code for the merchant (its rule), audited `validation.issued`. */
export async function issueValidationCode(tx: Tx, auditMode: AuditMode, merchantId: string, issueKey?: string): Promise<{ ok: true; code: ValidationCodeRow } | { ok: false; message: string }> {
  const m = await lockMerchant(tx, merchantId);
  const problem = issueProblem(m);
  if (problem) return { ok: false, message: problem };
  const code = await insertValidationCode(tx, m, issueKey);
  await writeAudit(auditMode, tx, { kind: "validation.issued", payload: { site_id: m.siteId, merchant_id: m.merchantId, code: code.code, rule: m.rule } });
  return { ok: true, code };
}

/**
 * The merchant page's direct validation: the merchant names a session (its ticket's short code or
 * its plate, found by the caller) and its rule applies through a code issued and used at once —
 * the same once-only path; a refused one leaves its code void.
 */
export async function merchantValidatesSession(tx: Tx, auditMode: AuditMode, merchantId: string, sessionId: string): Promise<ValidationOutcome> {
  const m = await lockMerchant(tx, merchantId);
  const problem = issueProblem(m);
  if (problem) return refused(m.active ? "over_budget" : "merchant_inactive", problem);
  const code = await insertValidationCode(tx, m);
  const out = await applyValidation(tx, auditMode, { siteId: m.siteId, sessionId, code: code.code, via: "merchant_page" });
  if (!out.ok) await tx`UPDATE validation_codes SET state = 'void' WHERE code = ${code.code} AND state = 'issued'`;
  return out;
}

/** parking/exit/validation: apply the code to the session being paid, then price the exit again (a new payment/req, or success at zero). */
export async function handleExitValidation(ctx: FlowContext, siteId: string, p: Payload<"exitValidation">): Promise<string> {
  return siteTx(ctx, siteId, "exitValidation", p.event_id, async (tx) => {
    const lane = await ensureLane(tx, ctx.db, siteId, p.lane_id, "exit");
    // Priced at the site's event time, as the exit request was (./flow-context.ts eventInstant): the cost is what that quote loses.
    const entry = await getSession(tx, p.session_id).then((s) => s.entryTs, () => undefined);
    const at = entry ? eventInstant(p.ts, entry, new Date()) : new Date();
    const out = await applyValidation(tx, ctx.auditMode, { siteId, sessionId: p.session_id, code: p.code, via: "pay_station", at });
    if (!out.ok) {
      const t = REFUSAL_TEXT[out.reason];
      await enqueueForSite(tx, siteId, "displayText", { ts: Date.now(), src: ctx.src, msg_id: `m${p.event_id}`.slice(0, 64), lane_id: p.lane_id, lines: [t.fr, t.en] });
      return `validation_${out.reason}`;
    }
    const priced = await priceExit(tx, ctx, { siteId, session: await lockSession(tx, p.session_id), wireLane: p.lane_id, lane, eventId: p.event_id, ts: p.ts });
    return `validated+${priced}`;
  });
}


export interface ValidateAndRepriceInput {
  siteId: string;
  sessionId: string;
  via: ValidationVia;
  /** A code presented (pay page); without one, the merchant's own rule applied directly (merchant page). */
  code?: string;
  merchantId?: string;
}

/**
 * A validation from a page (the pay page, the merchant's page), in one transaction: applied, then
 * — when the driver is already being asked to pay — the exit priced again through the one path,
 * so the lane and the pay page show the lower amount. `payUrl` is the new pay link (a re-quote
 * has a fresh pay token); absent when nothing is left to pay or the stay is not at the exit yet.
 */
export async function validateAndReprice(ctx: FlowContext, a: ValidateAndRepriceInput): Promise<{ outcome: ValidationOutcome; priced?: string; payUrl?: string }> {
  const r = await ctx.db.tx(async (tx) => {
    const outcome = a.code !== undefined
      ? await applyValidation(tx, ctx.auditMode, { siteId: a.siteId, sessionId: a.sessionId, code: a.code, via: a.via })
      : await merchantValidatesSession(tx, ctx.auditMode, a.merchantId as string, a.sessionId);
    if (!outcome.ok || outcome.session.status !== "pending_payment") return { outcome };
    const session = await lockSession(tx, a.sessionId);
    const wireLane = wireLaneOf(session);
    const priced = await priceExit(tx, ctx, { siteId: a.siteId, session, wireLane, lane: session.exitLaneId ?? wireLane.toLowerCase(), eventId: `val-${outcome.code}`, ts: Date.now() });
    const [req] = await tx<{ payUrl: string | null }[]>`
      SELECT payload->>'pay_url' AS pay_url FROM outbox WHERE topic LIKE '%parking/payment/req' AND payload->>'session_id' = ${a.sessionId} ORDER BY id DESC LIMIT 1`;
    return { outcome, priced, ...(priced === "payment_requested" && req?.payUrl ? { payUrl: req.payUrl } : {}) };
  });
  ctx.wake();
  return r;
}

/** An admin creates a merchant, audited (`merchant.created`); its page token is returned once. */
export async function addMerchant(ctx: { db: Database; auditMode: AuditMode }, m: Parameters<typeof createMerchant>[1], by: { username: string; operatorId: number }): Promise<Awaited<ReturnType<typeof createMerchant>>> {
  return ctx.db.tx(async (tx) => {
    const r = await createMerchant(tx, m);
    await writeAudit(ctx.auditMode, tx, { kind: "merchant.created", payload: { site_id: m.siteId, merchant_id: r.merchant.merchantId, name: r.merchant.name, kind: r.merchant.kind, rule: r.merchant.rule, budget: m.budgetMinor, operator: by.username, operator_id: by.operatorId } });
    return r;
  });
}

/** A merchant issues a one-use code from its page, in its own transaction (./issueValidationCode). */
export async function issueCodeForMerchant(ctx: { db: Database; auditMode: AuditMode }, merchantId: string, issueKey?: string): ReturnType<typeof issueValidationCode> {
  return ctx.db.tx((tx) => issueValidationCode(tx, ctx.auditMode, merchantId, issueKey));
}
