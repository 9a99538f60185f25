/**
 * Operators (dashboard users), their audited overrides, and the per-site access list (trusted
 * badges / exit PINs pushed to sites for offline exits, ARCHITECTURE §3 parking/acl/*).
 *
 * Passwords and PINs are stored only as hashes. `hashSecret` / `verifySecret` use scrypt
 * (memory-hard, node:crypto) with a per-secret salt; the stored string carries its parameters
 * so they can be raised later without breaking existing hashes.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { z } from "zod";
import { ConflictError, NotFoundError, UNIQUE_VIOLATION, ValidationError, pgCode } from "./errors";
import type { Q, Tx } from "./types";

function scrypt(secret: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(secret, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Default scrypt cost: N=2^15, r=8, p=1 (32 MiB, ~50–100 ms on the CI machine). */
export const SCRYPT_DEFAULT = { N: 1 << 15, r: 8, p: 1 } as const;

/** "scrypt$N$r$p$salt_b64$hash_b64". `cost` is for tests only (lower N is faster and weaker). */
export async function hashSecret(secret: string, cost: { N: number; r: number; p: number } = SCRYPT_DEFAULT): Promise<string> {
  if (secret.length === 0) throw new ValidationError("secret must not be empty");
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, 32, { ...cost, maxmem: 256 * cost.N * cost.r + 1024 * 1024 });
  return ["scrypt", cost.N, cost.r, cost.p, salt.toString("base64"), key.toString("base64")].join("$");
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every(Number.isSafeInteger)) return false;
  const expected = Buffer.from(parts[5], "base64");
  const key = await scrypt(secret, Buffer.from(parts[4], "base64"), expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export const OPERATOR_ROLES = ["admin", "operator", "viewer"] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];
export const UsernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]{1,63}$/, "username: 2–64 characters, lowercase letters, digits, . _ -");

export interface OperatorRow {
  operatorId: number;
  username: string;
  passwordHash: string;
  role: OperatorRole;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** Creates an operator; the password must already be hashed (hashSecret). Username taken → ConflictError. */
export async function createOperator(q: Q, o: { username: string; passwordHash: string; role: OperatorRole }): Promise<OperatorRow> {
  const username = UsernameSchema.parse(o.username);
  if (!o.passwordHash.startsWith("scrypt$")) throw new ValidationError("passwordHash must come from hashSecret (never store a plain password)");
  try {
    const [row] = await q<OperatorRow[]>`
      INSERT INTO operators (username, password_hash, role) VALUES (${username}, ${o.passwordHash}, ${o.role}) RETURNING *`;
    return row;
  } catch (err) {
    if (pgCode(err) === UNIQUE_VIOLATION) throw new ConflictError(`operator "${username}" already exists`);
    throw err;
  }
}

export async function findOperatorByUsername(q: Q, username: string): Promise<OperatorRow | undefined> {
  const [row] = await q<OperatorRow[]>`SELECT * FROM operators WHERE username = ${username.trim().toLowerCase()}`;
  return row;
}

export async function getOperator(q: Q, operatorId: number): Promise<OperatorRow> {
  const [row] = await q<OperatorRow[]>`SELECT * FROM operators WHERE operator_id = ${operatorId}`;
  if (!row) throw new NotFoundError("operator", String(operatorId));
  return row;
}

export async function listOperators(q: Q): Promise<Omit<OperatorRow, "passwordHash">[]> {
  return [...(await q<Omit<OperatorRow, "passwordHash">[]>`
    SELECT operator_id, username, role, disabled, created_at, updated_at FROM operators ORDER BY username`)];
}

export async function countOperators(q: Q): Promise<number> {
  const [row] = await q<{ n: number }[]>`SELECT count(*)::int4 AS n FROM operators`;
  return row.n;
}

export async function updateOperator(
  q: Q,
  operatorId: number,
  patch: { role?: OperatorRole; passwordHash?: string; disabled?: boolean },
): Promise<OperatorRow> {
  if (patch.passwordHash !== undefined && !patch.passwordHash.startsWith("scrypt$")) throw new ValidationError("passwordHash must come from hashSecret");
  const [row] = await q<OperatorRow[]>`
    UPDATE operators SET
      role = COALESCE(${patch.role ?? null}, role),
      password_hash = COALESCE(${patch.passwordHash ?? null}, password_hash),
      disabled = COALESCE(${patch.disabled ?? null}::boolean, disabled),
      updated_at = now()
    WHERE operator_id = ${operatorId} RETURNING *`;
  if (!row) throw new NotFoundError("operator", String(operatorId));
  return row;
}

/** Deletes an operator who never acted; one referenced by an override must be disabled instead. */
export async function deleteOperator(q: Q, operatorId: number): Promise<void> {
  try {
    const r = await q`DELETE FROM operators WHERE operator_id = ${operatorId}`;
    if (r.count === 0) throw new NotFoundError("operator", String(operatorId));
  } catch (err) {
    if (pgCode(err) === "23503") throw new ConflictError(`operator ${operatorId} has audited actions: disable it instead of deleting it`);
    throw err;
  }
}

export interface OverrideRow {
  overrideId: number;
  cmdId: string;
  siteId: string;
  laneId: string;
  sessionId: string | null;
  operatorId: number;
  action: "open" | "reset";
  reason: string;
  createdAt: Date;
}

/** Records an operator override, idempotent by `cmdId` (the id the barrier command carries). */
export async function recordOverride(
  tx: Tx,
  o: { cmdId: string; siteId: string; laneId: string; sessionId?: string; operatorId: number; action: "open" | "reset"; reason: string },
): Promise<{ override: OverrideRow; created: boolean }> {
  if (o.reason.trim().length < 3) throw new ValidationError("an override needs a reason (at least 3 characters)");
  const [row] = await tx<OverrideRow[]>`
    INSERT INTO overrides (cmd_id, site_id, lane_id, session_id, operator_id, action, reason)
    VALUES (${o.cmdId}, ${o.siteId}, ${o.laneId}, ${o.sessionId ?? null}, ${o.operatorId}, ${o.action}, ${o.reason.trim()})
    ON CONFLICT (cmd_id) DO NOTHING RETURNING *`;
  if (row) return { override: row, created: true };
  const [existing] = await tx<OverrideRow[]>`SELECT * FROM overrides WHERE cmd_id = ${o.cmdId}`;
  return { override: existing, created: false };
}

export interface AccessEntryRow {
  siteId: string;
  entryId: string;
  kind: "badge" | "pin";
  badgeUid: string | null;
  pinHash: string | null;
  label: string;
  validFrom: Date | null;
  validUntil: Date | null;
  /** Badge of a subscription holder at the site (exits priced with the tariff's subscriber discount). */
  subscriber: boolean;
  version: number;
  deleted: boolean;
  updatedAt: Date;
}

async function bumpAccessVersion(tx: Tx, siteId: string): Promise<number> {
  const [row] = await tx<{ version: number }[]>`
    INSERT INTO access_list_versions (site_id, version) VALUES (${siteId}, 1)
    ON CONFLICT (site_id) DO UPDATE SET version = access_list_versions.version + 1
    RETURNING version`;
  return row.version;
}

/**
 * Adds or replaces a trusted badge or exit PIN (PINs are passed already hashed: hashSecret).
 * Bumps the site's access-list version; returns the entry with that version.
 */
export async function upsertAccessEntry(
  tx: Tx,
  e: { siteId: string; entryId: string; badgeUid?: string; pinHash?: string; label?: string; validFrom?: Date; validUntil?: Date; subscriber?: boolean },
): Promise<AccessEntryRow> {
  if (e.subscriber && e.badgeUid === undefined) throw new ValidationError("only a badge can be a subscriber");
  if (e.validFrom && e.validUntil && e.validFrom >= e.validUntil) throw new ValidationError("valid_from must be before valid_until");
  if ((e.badgeUid === undefined) === (e.pinHash === undefined)) throw new ValidationError("an access entry is either a badge (badgeUid) or a PIN (pinHash)");
  if (e.pinHash !== undefined && !e.pinHash.startsWith("scrypt$")) throw new ValidationError("pinHash must come from hashSecret (never store a plain PIN)");
  const badge = e.badgeUid?.toUpperCase().replace(/[\s:-]/g, "");
  if (badge !== undefined && !/^[0-9A-F]{4,32}$/.test(badge)) throw new ValidationError(`badge UID "${e.badgeUid}" must be 4–32 hex digits`);
  const version = await bumpAccessVersion(tx, e.siteId);
  try {
    const [row] = await tx<AccessEntryRow[]>`
      INSERT INTO access_list_entries (site_id, entry_id, kind, badge_uid, pin_hash, label, valid_from, valid_until, subscriber, version, deleted)
      VALUES (${e.siteId}, ${e.entryId}, ${badge ? "badge" : "pin"}, ${badge ?? null}, ${e.pinHash ?? null}, ${e.label ?? ""},
              ${e.validFrom ?? null}, ${e.validUntil ?? null}, ${e.subscriber ?? false}, ${version}, false)
      ON CONFLICT (site_id, entry_id) DO UPDATE SET kind = EXCLUDED.kind, badge_uid = EXCLUDED.badge_uid, pin_hash = EXCLUDED.pin_hash,
        label = EXCLUDED.label, valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until, subscriber = EXCLUDED.subscriber,
        version = EXCLUDED.version, deleted = false, updated_at = now()
      RETURNING *`;
    return row;
  } catch (err) {
    if (pgCode(err) === UNIQUE_VIOLATION) throw new ConflictError(`badge ${badge} is already in the access list of ${e.siteId}`);
    throw err;
  }
}

/** Removes an entry (kept as a tombstone with the new version, so sites can sync deletions). */
export async function removeAccessEntry(tx: Tx, siteId: string, entryId: string): Promise<AccessEntryRow> {
  const [cur] = await tx<AccessEntryRow[]>`SELECT * FROM access_list_entries WHERE site_id = ${siteId} AND entry_id = ${entryId} FOR UPDATE`;
  if (!cur) throw new NotFoundError("access entry", `${siteId}/${entryId}`);
  if (cur.deleted) return cur;
  const version = await bumpAccessVersion(tx, siteId);
  const [row] = await tx<AccessEntryRow[]>`
    UPDATE access_list_entries SET deleted = true, version = ${version}, updated_at = now()
    WHERE site_id = ${siteId} AND entry_id = ${entryId} RETURNING *`;
  return row;
}

/**
 * The site's access list at its current version: all live entries (full sync), or with
 * `sinceVersion` every entry changed after it, tombstones included (incremental sync).
 */
export async function getAccessList(q: Q, siteId: string, sinceVersion?: number): Promise<{ version: number; entries: AccessEntryRow[] }> {
  const [v] = await q<{ version: number }[]>`SELECT version FROM access_list_versions WHERE site_id = ${siteId}`;
  const entries =
    sinceVersion === undefined
      ? await q<AccessEntryRow[]>`SELECT * FROM access_list_entries WHERE site_id = ${siteId} AND NOT deleted ORDER BY entry_id`
      : await q<AccessEntryRow[]>`SELECT * FROM access_list_entries WHERE site_id = ${siteId} AND version > ${sinceVersion} ORDER BY version`;
  return { version: v?.version ?? 0, entries: [...entries] };
}

/** Normalised badge UID (upper-case hex, separators removed), or undefined when it is not 4–32 hex digits. */
export function normaliseBadgeUid(uid: string): string | undefined {
  const badge = uid.toUpperCase().replace(/[\s:-]/g, "");
  return /^[0-9A-F]{4,32}$/.test(badge) ? badge : undefined;
}

/** The live subscriber entry of this badge at the site at instant `at` (validity respected), if any. */
export async function findSubscriberBadge(q: Q, siteId: string, badgeUid: string, at: Date): Promise<AccessEntryRow | undefined> {
  const badge = normaliseBadgeUid(badgeUid);
  if (!badge) return undefined;
  const [row] = await q<AccessEntryRow[]>`
    SELECT * FROM access_list_entries
    WHERE site_id = ${siteId} AND badge_uid = ${badge} AND subscriber AND NOT deleted
      AND (valid_from IS NULL OR valid_from <= ${at}) AND (valid_until IS NULL OR valid_until > ${at})`;
  return row;
}

/**
 * Operator sessions (issue 15): each login token names a session row; logout deletes it, so a
 * token stops working at once on every instance sharing the database, not at its expiry.
 */
export async function createOperatorSession(q: Q, s: { sessionId: string; operatorId: number; expiresAt: Date }): Promise<void> {
  await q`DELETE FROM operator_sessions WHERE expires_at < now()`;
  await q`INSERT INTO operator_sessions (session_id, operator_id, expires_at) VALUES (${s.sessionId}, ${s.operatorId}, ${s.expiresAt})`;
}

/** The operator of a live session (the token's operator id must match the session's). */
export async function operatorForSession(q: Q, sessionId: string, operatorId: number): Promise<OperatorRow | undefined> {
  const [row] = await q<OperatorRow[]>`
    SELECT o.* FROM operator_sessions s JOIN operators o ON o.operator_id = s.operator_id
    WHERE s.session_id = ${sessionId} AND s.operator_id = ${operatorId} AND s.expires_at > now()`;
  return row;
}

export async function deleteOperatorSession(q: Q, sessionId: string): Promise<void> {
  await q`DELETE FROM operator_sessions WHERE session_id = ${sessionId}`;
}

/**
 * Login throttling (issue 15): failed logins are rows keyed by account or client address, so
 * every instance sharing the database sees the same count. A key is locked for `windowS` after
 * the failure that made `limit` failures within `windowS`; failures while locked are not
 * recorded (the lock is not extended by the attacker's own retries).
 */
export async function loginLockSeconds(q: Q, key: string, limit: number, windowS: number): Promise<number | undefined> {
  const [row] = await q<{ n: number | null; remaining: number | null }[]>`
    SELECT (SELECT count(*)::int4 FROM login_failures f WHERE f.key = ${key} AND f.failed_at > x.l - ${windowS} * interval '1 second' AND f.failed_at <= x.l) AS n,
           EXTRACT(EPOCH FROM (x.l + ${windowS} * interval '1 second' - now()))::float8 AS remaining
    FROM (SELECT max(failed_at) AS l FROM login_failures WHERE key = ${key} AND failed_at > now() - ${windowS} * interval '1 second') x`;
  if (!row || row.n === null || row.remaining === null || row.n < limit || row.remaining <= 0) return undefined;
  return Math.ceil(row.remaining);
}

export async function recordLoginFailure(q: Q, keys: readonly string[], keepS: number): Promise<void> {
  await q`DELETE FROM login_failures WHERE failed_at < now() - ${keepS} * interval '1 second'`;
  for (const key of keys) await q`INSERT INTO login_failures (key) VALUES (${key})`;
}

export async function clearLoginFailures(q: Q, key: string): Promise<void> {
  await q`DELETE FROM login_failures WHERE key = ${key}`;
}
