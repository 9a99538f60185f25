/**
 * Badge UIDs, normalised to upper-case hex without separators, whatever the reader:
 * - UART readers (RDM6300 / EM4100 class): STX, 10 hex digits of data, 2 hex digits of XOR
 *   checksum, ETX;
 * - Wiegand 26 / 34: leading even parity over the first half, trailing odd parity over the
 *   second half (bits given MSB first as a string of 0/1 or as a number array).
 */

const HEX = "0123456789ABCDEF";

/** Normalise a UID typed as text ("04:a2:1f:9c", "04-A2-1F-9C", "04a21f9c"): undefined if invalid. */
export function normaliseUid(text: string): string | undefined {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 58 || c === 45 || c === 32) continue; // : - space
    if (c >= 48 && c <= 57) out += text[i];
    else if (c >= 65 && c <= 70) out += text[i];
    else if (c >= 97 && c <= 102) out += String.fromCharCode(c - 32);
    else return undefined;
  }
  return out.length >= 8 && out.length <= 20 && out.length % 2 === 0 ? out : undefined;
}

/** Decode an RDM6300 frame body (the 12 ASCII characters between STX and ETX). */
export function decodeRdm6300(body: string): string | undefined {
  if (body.length !== 12) return undefined;
  let xor = 0;
  for (let i = 0; i < 12; i += 2) {
    const byte = parseInt(body.substring(i, i + 2), 16);
    if (!(byte >= 0) || !/^[0-9A-Fa-f]{2}$/.test(body.substring(i, i + 2))) return undefined;
    if (i < 10) xor ^= byte;
    else if (byte !== xor) return undefined;
  }
  return normaliseUid(body.substring(0, 10));
}

/** Decode a Wiegand 26 or 34 frame (bits MSB first). undefined on a parity error or wrong length. */
export function decodeWiegand(bits: readonly (0 | 1)[]): string | undefined {
  const n = bits.length;
  if (n !== 26 && n !== 34) return undefined;
  const half = (n - 2) / 2;
  let even = 0, odd = 1;
  for (let i = 1; i <= half; i++) even ^= bits[i];
  for (let i = half + 1; i <= 2 * half; i++) odd ^= bits[i];
  if (bits[0] !== even || bits[n - 1] !== odd) return undefined;
  let out = "";
  // Data bits padded on the left to whole bytes: 24 bits → 3 bytes, 32 bits → 4 bytes,
  // then left-padded with a zero byte for 26-bit cards so every UID has 8+ hex digits.
  for (let i = 1; i <= 2 * half; i += 4) {
    const nibble = (bits[i] << 3) | (bits[i + 1] << 2) | (bits[i + 2] << 1) | bits[i + 3];
    out += HEX[nibble];
  }
  return normaliseUid(n === 26 ? "00" + out : out);
}
