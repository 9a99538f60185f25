/** Object ids and tokens in Stripe's shape (`pi_…`, `cs_test_…`), and the copy every answer is made of. */
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function randomToken(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i] % ALPHABET.length];
  return out;
}

export const newId = (prefix: string, length = 24): string => `${prefix}_${randomToken(length)}`;

/** Answers and events are copies: a caller can never change the state through them. */
export const clone = <T>(v: T): T => structuredClone(v);
