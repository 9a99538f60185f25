/**
 * Signature of the access-list messages (ARCHITECTURE §3 `parking/acl/add|del|full`): HMAC-SHA256
 * over the canonical JSON of the message without `sig` (keys sorted at every level, undefined
 * values left out), hex. One implementation for both ends: the cloud signs with it
 * (cloud/flows/access.ts), the gateway verifies with it (gateway/lane/access-list.ts).
 * Host code only (node:crypto); the key comes from SYSPARK_ACL_HMAC_KEY on both sides.
 */
import { createHmac } from "node:crypto";

/** Canonical JSON: keys sorted at every level, so both ends sign the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The `sig` of an access-list message (any `sig` already in `payload` is ignored). */
export function signAcl(payload: Record<string, unknown>, key: string): string {
  const { sig: _sig, ...rest } = payload;
  return createHmac("sha256", key).update(canonicalJson(rest)).digest("hex");
}
