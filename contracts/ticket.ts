/**
 * Entry tickets (issue 18): what a ticket is and how it is signed. One implementation for both
 * ends: the gateway issues and signs (gateway/lane/), the cloud verifies (cloud/flows/).
 *
 * - `id`: "T" + 26 base32 characters of 16 random bytes — the unguessable identity printed as the
 *   QR code (`SPK1.<id>`), scanned by the exit's reader or a phone.
 * - `code`: 8 digits, the short code printed under the QR for a keypad; unique among the site's
 *   open sessions in practice (10^8), and never enough alone: the keypad is at a lane with a car.
 * - `sig`: HMAC-SHA256 over `site|id|code|issued_ts` with a key derived from the access-list key
 *   (SYSPARK_ACL_HMAC_KEY, which both ends already hold): a ticket issued while the cloud was
 *   unreachable is accepted later, a forged one is refused.
 * Host code only (node:crypto).
 */
import { createHmac, randomBytes, randomInt, timingSafeEqual } from "node:crypto";

export interface Ticket {
  id: string;
  code: string;
  issued_ts: number;
  sig: string;
}

/** What the ticket's QR code says (the exit's scanner reads it back). */
export const TICKET_QR_PREFIX = "SPK1.";
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let out = "", bits = 0, value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) { out += BASE32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** The ticket key, derived from the access-list key so no new secret has to be provisioned. */
export function ticketKey(aclHmacKey: string): Buffer {
  return createHmac("sha256", aclHmacKey).update("syspark-ticket-v1").digest();
}

function mac(siteId: string, t: Omit<Ticket, "sig">, key: Buffer): string {
  return createHmac("sha256", key).update(`${siteId}|${t.id}|${t.code}|${t.issued_ts}`).digest("hex");
}

/** A new signed ticket for `siteId`. */
export function issueTicket(siteId: string, aclHmacKey: string, now: number): Ticket {
  const id = `T${base32(randomBytes(16))}`;
  const code = String(randomInt(0, 100_000_000)).padStart(8, "0");
  const t = { id, code, issued_ts: now };
  return { ...t, sig: mac(siteId, t, ticketKey(aclHmacKey)) };
}

/** Was this ticket signed for this site with this key? (constant-time comparison) */
export function ticketSignatureOk(siteId: string, t: Ticket, aclHmacKey: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(t.sig)) return false;
  const want = Buffer.from(mac(siteId, t, ticketKey(aclHmacKey)), "hex");
  return timingSafeEqual(want, Buffer.from(t.sig, "hex"));
}

/** The QR text of a ticket, and back: the ticket id, or undefined for anything else a scanner read. */
export function ticketQr(id: string): string {
  return TICKET_QR_PREFIX + id;
}
export function ticketIdFromQr(text: string): string | undefined {
  const m = /^SPK1\.(T[A-Z2-7]{26})$/.exec(text.trim());
  return m ? m[1] : undefined;
}

/** Merchant validation QR codes: `SPV1.<code>`. */
export const VALIDATION_QR_PREFIX = "SPV1.";
export function validationCodeFromQr(text: string): string | undefined {
  const m = /^SPV1\.([A-Z0-9]{6,32})$/.exec(text.trim());
  return m ? m[1] : undefined;
}

/** Reservation QR codes: `SPR1.<code>`. */
export const RESERVATION_QR_PREFIX = "SPR1.";
export function reservationCodeFromQr(text: string): string | undefined {
  const m = /^SPR1\.([A-Z0-9]{8,32})$/.exec(text.trim());
  return m ? m[1] : undefined;
}
