/**
 * What an RDM6300-class 125 kHz reader sends on its UART when a badge is held in front of it:
 * STX, the 10 hex digits of the EM4100 UID, their XOR checksum as 2 hex digits, ETX — the frame
 * firmware/common/io/rdm6300.ts assembles and firmware/exit-controller/core/badge.ts checks.
 */
export function rdm6300Frame(uid10hex: string): Uint8Array {
  const body = uid10hex.toUpperCase();
  if (!/^[0-9A-F]{10}$/.test(body)) throw new Error("presentBadge: 10 hex digits (EM4100 UID)");
  let xor = 0;
  for (let i = 0; i < 10; i += 2) xor ^= parseInt(body.substring(i, i + 2), 16);
  const frame = `\x02${body}${xor.toString(16).toUpperCase().padStart(2, "0")}\x03`;
  return new Uint8Array([...frame].map((c) => c.charCodeAt(0)));
}
