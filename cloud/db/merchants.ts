/**
 * Merchants, their one-use validation codes and what they cost (issue 18), and the lost-ticket
 * declarations: the rows of migration 18 (./migrations-commerce.ts). The rules (which code, which
 * session, how much) are cloud/flows/validations.ts's and lost-ticket.ts's; here only the
 * queries, each one guarded so a replay or a race acts once (a code goes issued → used in ONE
 * conditional UPDATE, a budget is charged only while it covers the cost).
 */
import { createHash, randomBytes, randomInt } from "node:crypto";
import { NotFoundError } from "./errors";
import type { Q, Tx } from "./types";

export const MERCHANT_KINDS = ["shop", "cinema", "hotel", "other"] as const;
export type MerchantKind = (typeof MERCHANT_KINDS)[number];
export type ValidationVia = "pay_station" | "pay_page" | "merchant_page";

export interface MerchantRow {
  merchantId: string;
  siteId: string;
  name: string;
  kind: MerchantKind;
  rule: string;
  budgetMinor: number;
  spentMinor: number;
  accessTokenHash: string;
  active: boolean;
  createdAt: Date;
}

export interface ValidationCodeRow {
  code: string;
  merchantId: string;
  siteId: string;
  rule: string;
  state: "issued" | "used" | "void";
  sessionId: string | null;
  usedAt: Date | null;
  usedVia: ValidationVia | null;
  costMinor: number | null;
  issueKey: string | null;
  createdAt: Date;
}

/** Validation codes: 12 characters of A-Z 0-9 from a CSPRNG (36^12 ≈ 2^62: not guessable at a keypad). */
const CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
export const VALIDATION_CODE_LENGTH = 12;
export function newValidationCode(): string {
  let s = "";
  for (let i = 0; i < VALIDATION_CODE_LENGTH; i++) s += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return s;
}

export function hashMerchantToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export interface NewMerchant {
  siteId: string;
  name: string;
  kind: MerchantKind;
  rule: string;
  budgetMinor: number;
}

/** Creates a merchant; returns it with the secret of its page link (only its hash is stored: shown once). */
export async function createMerchant(q: Q, m: NewMerchant): Promise<{ merchant: MerchantRow; token: string }> {
  const token = randomBytes(24).toString("base64url");
  const merchantId = `m_${randomBytes(9).toString("base64url")}`;
  const [merchant] = await q<MerchantRow[]>`
    INSERT INTO merchants (merchant_id, site_id, name, kind, rule, budget_minor, access_token_hash)
    VALUES (${merchantId}, ${m.siteId}, ${m.name}, ${m.kind}, ${m.rule}, ${m.budgetMinor}, ${hashMerchantToken(token)})
    RETURNING *`;
  return { merchant, token };
}

export async function getMerchant(q: Q, merchantId: string): Promise<MerchantRow> {
  const [row] = await q<MerchantRow[]>`SELECT * FROM merchants WHERE merchant_id = ${merchantId}`;
  if (!row) throw new NotFoundError("merchant", merchantId);
  return row;
}

/** The active merchant whose page link carries `token`, if any (the hash is the lookup key: no timing on the secret). */
export async function merchantByToken(q: Q, token: string): Promise<MerchantRow | undefined> {
  const [row] = await q<MerchantRow[]>`SELECT * FROM merchants WHERE access_token_hash = ${hashMerchantToken(token)} AND active`;
  return row;
}

export async function listMerchants(q: Q, siteId?: string): Promise<MerchantRow[]> {
  return siteId === undefined
    ? q<MerchantRow[]>`SELECT * FROM merchants ORDER BY site_id, name, merchant_id`
    : q<MerchantRow[]>`SELECT * FROM merchants WHERE site_id = ${siteId} ORDER BY name, merchant_id`;
}

/** The merchant's row locked for the rest of the transaction (its budget is charged under this lock). */
export async function lockMerchant(tx: Tx, merchantId: string): Promise<MerchantRow> {
  const [row] = await tx<MerchantRow[]>`SELECT * FROM merchants WHERE merchant_id = ${merchantId} FOR UPDATE`;
  if (!row) throw new NotFoundError("merchant", merchantId);
  return row;
}

/** Charges `cost` to the merchant's budget, only while the budget covers it; false otherwise (nothing written). */
export async function chargeMerchant(tx: Tx, merchantId: string, cost: number): Promise<boolean> {
  const rows = await tx`UPDATE merchants SET spent_minor = spent_minor + ${cost} WHERE merchant_id = ${merchantId} AND spent_minor + ${cost} <= budget_minor RETURNING merchant_id`;
  return rows.length === 1;
}

/** A new code of the merchant's rule; with `issueKey` (the merchant page's form), the same key again returns the first code. */
export async function insertValidationCode(q: Q, m: Pick<MerchantRow, "merchantId" | "siteId" | "rule">, issueKey?: string): Promise<ValidationCodeRow> {
  const [row] = await q<ValidationCodeRow[]>`
    INSERT INTO validation_codes (code, merchant_id, site_id, rule, issue_key) VALUES (${newValidationCode()}, ${m.merchantId}, ${m.siteId}, ${m.rule}, ${issueKey ?? null})
    ON CONFLICT (merchant_id, issue_key) WHERE issue_key IS NOT NULL DO NOTHING RETURNING *`;
  if (row) return row;
  const [first] = await q<ValidationCodeRow[]>`SELECT * FROM validation_codes WHERE merchant_id = ${m.merchantId} AND issue_key = ${issueKey ?? null}`;
  return first;
}

export async function findValidationCode(q: Q, code: string): Promise<ValidationCodeRow | undefined> {
  const [row] = await q<ValidationCodeRow[]>`SELECT * FROM validation_codes WHERE code = ${code}`;
  return row;
}

/**
 * issued → used, once: the one conditional UPDATE a second use or a concurrent one cannot pass
 * (under PostgreSQL's row lock the loser re-reads `used` and updates nothing). Undefined when the
 * code was not `issued` any more.
 */
export async function claimValidationCode(tx: Tx, c: { code: string; sessionId: string; via: ValidationVia; cost: number; at: Date }): Promise<ValidationCodeRow | undefined> {
  const [row] = await tx<ValidationCodeRow[]>`
    UPDATE validation_codes SET state = 'used', session_id = ${c.sessionId}, used_at = ${c.at}, used_via = ${c.via}, cost_minor = ${c.cost}
    WHERE code = ${c.code} AND state = 'issued' RETURNING *`;
  if (!row) return undefined;
  await tx`INSERT INTO session_validations (session_id, code, merchant_id, rule, applied_at) VALUES (${c.sessionId}, ${row.code}, ${row.merchantId}, ${row.rule}, ${c.at})`;
  return row;
}

/** The validation rules applied to a session, in the order they were presented. */
export async function sessionValidationRules(q: Q, sessionId: string): Promise<string[]> {
  const rows = await q<{ rule: string }[]>`SELECT rule FROM session_validations WHERE session_id = ${sessionId} ORDER BY applied_at, code`;
  return rows.map((r) => r.rule);
}

export async function listMerchantCodes(q: Q, merchantId: string, limit = 50): Promise<ValidationCodeRow[]> {
  return q<ValidationCodeRow[]>`SELECT * FROM validation_codes WHERE merchant_id = ${merchantId} ORDER BY created_at DESC, code LIMIT ${limit}`;
}

export interface MerchantReportRow {
  merchantId: string;
  name: string;
  kind: MerchantKind;
  rule: string;
  budgetMinor: number;
  spentMinor: number;
  issued: number;
  used: number;
  /** What the validations used in the period cost the operator (minor units). */
  costMinor: number;
}

/** Per merchant of a site: codes issued and used in [from, to), and what they cost the operator. */
export async function merchantReport(q: Q, siteId: string, from: Date, to: Date): Promise<MerchantReportRow[]> {
  return q<MerchantReportRow[]>`
    SELECT m.merchant_id, m.name, m.kind, m.rule, m.budget_minor, m.spent_minor,
      (SELECT count(*) FROM validation_codes c WHERE c.merchant_id = m.merchant_id AND c.created_at >= ${from} AND c.created_at < ${to})::int AS issued,
      (SELECT count(*) FROM validation_codes c WHERE c.merchant_id = m.merchant_id AND c.state = 'used' AND c.used_at >= ${from} AND c.used_at < ${to})::int AS used,
      (SELECT coalesce(sum(c.cost_minor), 0) FROM validation_codes c WHERE c.merchant_id = m.merchant_id AND c.state = 'used' AND c.used_at >= ${from} AND c.used_at < ${to})::bigint AS cost_minor
    FROM merchants m WHERE m.site_id = ${siteId} ORDER BY m.name, m.merchant_id`;
}

export interface LostTicketDeclaration {
  sessionId: string;
  siteId: string;
  declaredBy: "pay_station" | "operator";
  operatorId: number | null;
  plate: string | null;
  lane: string | null;
  reason: string | null;
  declaredAt: Date;
}

/** Records the declaration; a second one for the same session is a no-op (false). */
export async function declareLostTicketRow(q: Q, d: Omit<LostTicketDeclaration, "declaredAt">): Promise<boolean> {
  const rows = await q`
    INSERT INTO lost_ticket_declarations (session_id, site_id, declared_by, operator_id, plate, lane, reason)
    VALUES (${d.sessionId}, ${d.siteId}, ${d.declaredBy}, ${d.operatorId}, ${d.plate}, ${d.lane}, ${d.reason})
    ON CONFLICT (session_id) DO NOTHING RETURNING session_id`;
  return rows.length === 1;
}

export async function lostTicketDeclared(q: Q, sessionId: string): Promise<boolean> {
  const rows = await q`SELECT 1 FROM lost_ticket_declarations WHERE session_id = ${sessionId}`;
  return rows.length === 1;
}
