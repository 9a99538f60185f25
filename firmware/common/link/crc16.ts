/**
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor).
 * Check value: crc16("123456789") === 0x29B1 (ARCHITECTURE §2, docs/protocol.md test vectors).
 * Table-free on purpose: 16 bytes of code beat a 512-byte table on a small MCU, and frames are short.
 */
export function crc16(text: string, end: number = text.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= (text.charCodeAt(i) & 0xff) << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

const HEX = "0123456789ABCDEF";

/** Four upper-case hex digits. */
export function hex4(value: number): string {
  return HEX[(value >> 12) & 15] + HEX[(value >> 8) & 15] + HEX[(value >> 4) & 15] + HEX[value & 15];
}
