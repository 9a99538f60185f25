/**
 * The sites' access lists for offline exits (ARCHITECTURE §3 `parking/acl/*`, §4 offline policy):
 * trusted badges and exit PINs that a site gateway may honour while the cloud is unreachable,
 * and subscriber badges (exits priced with the tariff's subscriber discount).
 *
 * Every change is ONE transaction: the site's version is bumped (cloud/db/operators.ts), the
 * entry written, a signed `parking/acl/add` or `parking/acl/del` enqueued in the outbox (the relay
 * publishes it under `syspark/<site>/`, the gateway's bridge delivers it), and an audit row
 * appended (`access.added` / `access.revoked`, who did it — never the PIN). `parking/sync/req`
 * (a gateway booting or reconnecting) is answered with a signed `parking/acl/full` of every live
 * entry at the current version. Signature: contracts/acl-signature.ts, key SYSPARK_ACL_HMAC_KEY
 * (the same on the cloud and every gateway). PINs are hashed here with scrypt in the format the
 * gateway verifies (`scrypt$N$r$p$salt$hash`) and never stored, logged, audited or returned.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { signAcl } from "../../contracts/acl-signature";
import { withoutControlChars } from "../../contracts/text";
import type { Payload } from "../../contracts/mqtt-topics";
import type { Logger } from "../../host/log";
import {
  getAccessList,
  getSite,
  hashSecret,
  normaliseBadgeUid,
  removeAccessEntry,
  upsertAccessEntry,
  type AccessEntryRow,
  type Json,
  type Q,
  type Tx,
} from "../db/index";
import { writeAudit, type AuditMode } from "../server/audit-chain";
import { enqueueForSite } from "../db/site-outbox";

/** scrypt cost of exit PINs: the gateway checks a typed PIN against every PIN entry, so cheaper than passwords (N=2^14, 16 MiB). */
export const PIN_SCRYPT = { N: 1 << 14, r: 8, p: 1 } as const;

/** The gateway's bridge drops bigger cloud → site messages by default (bridge.max_payload_bytes). */
const GATEWAY_MAX_PAYLOAD = 65_536;

export const ACL_DISABLED_MESSAGE = "offline access lists are disabled: SYSPARK_ACL_HMAC_KEY is not set (the key the site gateways verify parking/acl/* with); set it on the cloud and the gateways and restart";

export interface AccessContext {
  db: { tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>; sql: Q };
  /** `src` of the published messages. */
  src: string;
  auditMode: AuditMode;
  aclHmacKey: string;
  /** PIN hashing cost (tests lower it); default PIN_SCRYPT. */
  pinCost?: { N: number; r: number; p: number };
}

/** Who made the change, for the audit row. */
export interface Actor {
  username: string;
  operatorId: number | null;
  role: string | null;
  via: "api" | "cli";
  requestId?: string | null;
}

const INSTANT = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), "must be an ISO-8601 date or instant, e.g. 2026-01-31 or 2026-01-31T18:00:00Z")
  .transform((s) => new Date(s));
const LABEL = z.string().trim().min(1, "is required (who or what the entry is for)").max(64, "at most 64 characters");

export const SITE_ID_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const ENTRY_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

const BadgeBody = z.strictObject({
  kind: z.literal("badge"),
  badge_uid: z.string().max(64).refine((s) => normaliseBadgeUid(s) !== undefined, "must be 4–32 hex digits (spaces, : and - are ignored)"),
  label: LABEL,
  valid_from: INSTANT.optional(),
  valid_until: INSTANT.optional(),
  subscriber: z.boolean().optional(),
});
const PinBody = z.strictObject({
  kind: z.literal("pin"),
  pin: z.string().regex(/^\d{4,8}$/, "must be 4–8 digits"),
  label: LABEL,
  valid_until: INSTANT.optional(),
});
export const AccessAddBody = z
  .discriminatedUnion("kind", [BadgeBody, PinBody], { error: 'must be "badge" or "pin"' })
  // (zod runs these even when a field already failed: check the types first)
  .refine((b) => b.kind !== "badge" || !(b.valid_from instanceof Date) || !(b.valid_until instanceof Date) || b.valid_from < b.valid_until, { message: "valid_from must be before valid_until", path: ["valid_until"] })
  .refine((b) => !(b.valid_until instanceof Date) || b.valid_until.getTime() > Date.now(), { message: "is already past", path: ["valid_until"] });
export type AccessAdd = z.infer<typeof AccessAddBody>;

/** What the API and the CLI show of an entry: never the PIN hash. */
export interface AccessEntryView {
  entry_id: string;
  kind: "badge" | "pin";
  badge_uid?: string;
  label: string;
  subscriber: boolean;
  valid_from: string | null;
  valid_until: string | null;
  version: number;
  updated_at: string;
}

export function entryView(r: AccessEntryRow): AccessEntryView {
  return {
    entry_id: r.entryId,
    kind: r.kind,
    ...(r.badgeUid ? { badge_uid: r.badgeUid } : {}),
    label: r.label,
    subscriber: r.subscriber,
    valid_from: r.validFrom?.toISOString() ?? null,
    valid_until: r.validUntil?.toISOString() ?? null,
    version: Number(r.version),
    updated_at: r.updatedAt.toISOString(),
  };
}

type AclEntry = Payload<"aclFull">["entries"][number];

/** The contract's form of an entry (badge id = its UID, what the lane reads; PIN: entry id + hash). */
export function aclEntry(r: AccessEntryRow): AclEntry {
  return {
    kind: r.kind,
    id: r.kind === "badge" ? (r.badgeUid as string) : r.entryId,
    ...(r.kind === "pin" && r.pinHash ? { pin_hash: r.pinHash } : {}),
    // A label stored before the HTTP boundary refused control characters must not break the contract.
    ...(r.label ? { label: withoutControlChars(r.label).slice(0, 64) } : {}),
    ...(r.validUntil ? { valid_until: r.validUntil.getTime() } : {}),
  };
}

function signed<T extends Record<string, unknown>>(payload: T, key: string): T & { sig: string } {
  return { ...payload, sig: signAcl(payload, key) };
}

function actorAudit(a: Actor): Record<string, Json> {
  return { operator: a.username, operator_id: a.operatorId, role: a.role, via: a.via, request_id: a.requestId ?? null };
}

/** Adds (or replaces) a badge or a PIN; returns the entry and the site's new version. */
export async function addAccessEntry(ctx: AccessContext, siteId: string, body: AccessAdd, actor: Actor): Promise<{ entry: AccessEntryView; version: number; replaced: boolean }> {
  // Hash outside the transaction (scrypt takes tens of ms); the PIN goes no further than this.
  const pinHash = body.kind === "pin" ? await hashSecret(body.pin, ctx.pinCost ?? PIN_SCRYPT) : undefined;
  const now = Date.now();
  const r = await ctx.db.tx(async (tx) => {
    await getSite(tx, siteId);
    const badge = body.kind === "badge" ? (normaliseBadgeUid(body.badge_uid) as string) : undefined;
    const entryId = badge ?? `pin-${randomBytes(6).toString("hex")}`;
    const [prev] = await tx<{ deleted: boolean }[]>`SELECT deleted FROM access_list_entries WHERE site_id = ${siteId} AND entry_id = ${entryId} FOR UPDATE`;
    const row = await upsertAccessEntry(tx, {
      siteId,
      entryId,
      ...(badge ? { badgeUid: badge } : { pinHash: pinHash as string }),
      label: body.label,
      ...(body.kind === "badge" && body.valid_from ? { validFrom: body.valid_from } : {}),
      ...(body.valid_until ? { validUntil: body.valid_until } : {}),
      ...(body.kind === "badge" ? { subscriber: body.subscriber ?? false } : {}),
    });
    const version = Number(row.version);
    await enqueueForSite(tx, siteId, "aclAdd", signed({ ts: now, src: ctx.src, version, entries: [aclEntry(row)] }, ctx.aclHmacKey), `acl:${siteId}:${version}`);
    const view = entryView(row);
    await writeAudit(ctx.auditMode, tx, {
      kind: "access.added",
      payload: { site_id: siteId, entry_id: row.entryId, kind: row.kind, badge_uid: row.badgeUid, label: row.label, subscriber: row.subscriber, valid_from: view.valid_from, valid_until: view.valid_until, version, replaced: Boolean(prev && !prev.deleted), ...actorAudit(actor) },
    });
    return { entry: view, version, replaced: Boolean(prev && !prev.deleted) };
  });
  return r;
}

/** Revokes an entry (a tombstone; the site gets `parking/acl/del`). Revoking twice changes nothing. */
export async function revokeAccessEntry(ctx: AccessContext, siteId: string, entryId: string, actor: Actor): Promise<{ entry: AccessEntryView; version: number; alreadyRevoked: boolean }> {
  const now = Date.now();
  return ctx.db.tx(async (tx) => {
    await getSite(tx, siteId);
    const [cur] = await tx<{ deleted: boolean }[]>`SELECT deleted FROM access_list_entries WHERE site_id = ${siteId} AND entry_id = ${entryId}`;
    const row = await removeAccessEntry(tx, siteId, entryId); // NotFoundError → 404
    const version = Number(row.version);
    if (cur?.deleted) return { entry: entryView(row), version: await currentVersion(tx, siteId), alreadyRevoked: true };
    await enqueueForSite(tx, siteId, "aclDel", signed({ ts: now, src: ctx.src, version, ids: [aclEntry(row).id] }, ctx.aclHmacKey), `acl:${siteId}:${version}`);
    await writeAudit(ctx.auditMode, tx, {
      kind: "access.revoked",
      payload: { site_id: siteId, entry_id: row.entryId, kind: row.kind, badge_uid: row.badgeUid, label: row.label, subscriber: row.subscriber, version, ...actorAudit(actor) },
    });
    return { entry: entryView(row), version, alreadyRevoked: false };
  });
}

async function currentVersion(q: Q, siteId: string): Promise<number> {
  const [v] = await q<{ version: number }[]>`SELECT version FROM access_list_versions WHERE site_id = ${siteId}`;
  return Number(v?.version ?? 0);
}

/** The site's live entries (no hashes) and its current version. */
export async function listAccessEntries(q: Q, siteId: string): Promise<{ site_id: string; version: number; entries: AccessEntryView[] }> {
  await getSite(q, siteId);
  const l = await getAccessList(q, siteId);
  return { site_id: siteId, version: Number(l.version), entries: l.entries.map(entryView) };
}

/**
 * Answers a gateway's `parking/sync/req` in the caller's transaction: enqueues a signed
 * `parking/acl/full` with every live entry at the current version. Always answered (a full list
 * at the version the gateway already has is a duplicate there, and answering repairs a gateway
 * that missed an incremental message). Not answered while the site never had an entry and the
 * gateway is at 0 (nothing to say: the contract's versions start at 1). A gateway AHEAD of the
 * cloud (its list came from another cloud database, or this one was restored from a backup) would
 * refuse an older full list as stale: the cloud, the source of truth, moves its version past the
 * gateway's and sends its list at that version (audited `access.resync`).
 */
export async function answerSyncRequest(
  tx: Tx,
  o: { siteId: string; src: string; aclHmacKey: string; auditMode: AuditMode; logger: Logger; request: Payload<"syncReq"> },
): Promise<"empty" | "full_sent" | "full_sent_rebased"> {
  const { siteId } = o;
  const [row] = await tx<{ version: number }[]>`SELECT version FROM access_list_versions WHERE site_id = ${siteId} FOR UPDATE`;
  let version = Number(row?.version ?? 0);
  const gatewayVersion = o.request.acl_version;
  let rebased = false;
  if (gatewayVersion > version) {
    const before = version;
    const [v] = await tx<{ version: number }[]>`
      INSERT INTO access_list_versions (site_id, version) VALUES (${siteId}, ${gatewayVersion + 1})
      ON CONFLICT (site_id) DO UPDATE SET version = ${gatewayVersion + 1} RETURNING version`;
    version = Number(v.version);
    rebased = true;
    o.logger.warn({ site: siteId, gateway_version: gatewayVersion, cloud_version: before, version }, "access list: the gateway is ahead of the cloud; the cloud's list replaces it at a newer version");
    await writeAudit(o.auditMode, tx, { kind: "access.resync", payload: { site_id: siteId, gateway_version: gatewayVersion, cloud_version_before: before, version, reason: o.request.reason } });
  }
  if (version === 0) return "empty";
  const list = await getAccessList(tx, siteId);
  const payload = signed({ ts: Date.now(), src: o.src, version, entries: list.entries.map(aclEntry) }, o.aclHmacKey);
  const size = Buffer.byteLength(JSON.stringify(payload));
  if (size > GATEWAY_MAX_PAYLOAD - 1024) o.logger.warn({ site: siteId, bytes: size, entries: list.entries.length }, "access list: parking/acl/full is larger than a gateway accepts by default (raise bridge.max_payload_bytes on the site)");
  await enqueueForSite(tx, siteId, "aclFull", payload);
  return rebased ? "full_sent_rebased" : "full_sent";
}
