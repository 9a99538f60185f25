/**
 * Site-broker passwords: either the plain secret from an environment variable, or an scrypt
 * hash in the config file (`scrypt$N$r$p$salt$hash`, base64 salt and hash — the same shape as
 * the contract's pin_hash). Comparisons are constant-time.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";

const KEYLEN = 32;

/** Hash a password for the config file: `npx tsx -e 'import {hashPassword} from "./gateway/broker/passwords"; console.log(hashPassword("…"))'`. */
export function hashPassword(password: string, opts: { N?: number; r?: number; p?: number } = {}): string {
  const N = opts.N ?? 16384, r = opts.r ?? 8, p = opts.p ?? 1;
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, KEYLEN, { N, r, p, maxmem: 256 * N * r });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export function verifyScrypt(password: string | Buffer, encoded: string): boolean {
  const parts = encoded.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], "base64");
  const expected = Buffer.from(parts[5], "base64");
  if (!Number.isInteger(N) || N < 2 || N > 1 << 20 || expected.length < 16) return false;
  const got = scryptSync(password, salt, expected.length, { N, r, p, maxmem: 256 * N * r + 1024 });
  return timingSafeEqual(got, expected);
}

export function verifyPlain(password: string | Buffer, expected: string): boolean {
  // Compare digests so that the lengths never leak and timingSafeEqual gets equal sizes.
  const a = createHash("sha256").update(password).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}
