/**
 * Frame grammar of the serial link (docs/protocol.md):
 *
 *   frame = seq SP type *(SP key "=" value) "*" crc LF
 *   seq   = "0" / %x31-39 0*4DIGIT            ; 0..65535, no leading zero
 *   type  = UPPER 0*15(UPPER / DIGIT / "_")
 *   key   = LOWER 0*15(LOWER / DIGIT / "_")
 *   value = 0*(%x21-7E except "%" "*" "=") with "%" HEXDIG HEXDIG escapes
 *   crc   = 4HEXDIG                            ; CRC-16/CCITT-FALSE of everything before "*"
 *
 * Everything here is plain string work so that it runs unchanged on Moddable XS.
 */
import { crc16, hex4 } from "./crc16";
import { MAX_FIELDS, MAX_FRAME_LENGTH, MAX_SEQ } from "./limits";

export type Fields = Record<string, string>;

export interface Frame {
  seq: number;
  type: string;
  fields: Fields;
}

/** Why a line was refused; each reason has its own counter on the link. */
export type FrameError = "crc" | "syntax" | "overlong";

export type DecodeResult = { ok: true; frame: Frame } | { ok: false; error: FrameError; detail: string };

const HEX = "0123456789ABCDEF";

function isUpper(c: number): boolean { return c >= 65 && c <= 90; }
function isLower(c: number): boolean { return c >= 97 && c <= 122; }
function isDigit(c: number): boolean { return c >= 48 && c <= 57; }
function isHex(c: number): boolean { return isDigit(c) || (c >= 65 && c <= 70); }

function isName(text: string, upper: boolean): boolean {
  if (text.length < 1 || text.length > 16) return false;
  const first = text.charCodeAt(0);
  if (upper ? !isUpper(first) : !isLower(first)) return false;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!(upper ? isUpper(c) : isLower(c)) && !isDigit(c) && c !== 95) return false;
  }
  return true;
}

/** Escape a field value: anything outside printable ASCII, and the four reserved characters. */
export function escapeValue(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`link: character U+${hex4(c)} cannot be sent; transliterate to Latin-1 first`);
    if (c <= 0x20 || c >= 0x7f || c === 0x25 || c === 0x2a || c === 0x3d) {
      out += "%" + HEX[c >> 4] + HEX[c & 15];
    } else {
      out += value[i];
    }
  }
  return out;
}

function unescapeValue(text: string): string | undefined {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= text.length) return undefined;
      const h = text.charCodeAt(i + 1), l = text.charCodeAt(i + 2);
      if (!isHex(h) || !isHex(l)) return undefined;
      out += String.fromCharCode(parseInt(text.substring(i + 1, i + 3), 16));
      i += 2;
    } else if (c <= 0x20 || c >= 0x7f || c === 0x2a || c === 0x3d) {
      return undefined;
    } else {
      out += text[i];
    }
  }
  return out;
}

/** Encode a frame as one line, without the terminating LF. Throws if the result would be over-long. */
export function encodeFrame(frame: Frame): string {
  if (!(frame.seq >= 0 && frame.seq <= MAX_SEQ && Math.floor(frame.seq) === frame.seq)) {
    throw new RangeError(`link: sequence ${frame.seq} is outside 0..${MAX_SEQ}`);
  }
  if (!isName(frame.type, true)) throw new RangeError(`link: bad frame type "${frame.type}"`);
  let body = String(frame.seq) + " " + frame.type;
  let count = 0;
  for (const key in frame.fields) {
    if (!isName(key, false)) throw new RangeError(`link: bad field name "${key}"`);
    if (++count > MAX_FIELDS) throw new RangeError(`link: more than ${MAX_FIELDS} fields`);
    body += " " + key + "=" + escapeValue(frame.fields[key]);
  }
  const line = body + "*" + hex4(crc16(body));
  if (line.length + 1 > MAX_FRAME_LENGTH) {
    throw new RangeError(`link: ${frame.type} frame is ${line.length + 1} bytes, over the ${MAX_FRAME_LENGTH}-byte limit`);
  }
  return line;
}

/** Decode one line (LF removed; a trailing CR is tolerated). Never throws. */
export function decodeFrame(input: string): DecodeResult {
  const line = input.length > 0 && input.charCodeAt(input.length - 1) === 13 ? input.substring(0, input.length - 1) : input;
  if (line.length + 1 > MAX_FRAME_LENGTH) return { ok: false, error: "overlong", detail: `${line.length + 1} bytes` };
  const star = line.lastIndexOf("*");
  if (star < 0 || line.length - star !== 5) return { ok: false, error: "syntax", detail: "no *CRC trailer" };
  for (let i = star + 1; i < line.length; i++) {
    if (!isHex(line.charCodeAt(i))) return { ok: false, error: "syntax", detail: "CRC is not 4 upper-case hex digits" };
  }
  for (let i = 0; i < star; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return { ok: false, error: "syntax", detail: `non-printable byte 0x${hex4(c).substring(2)} at ${i}` };
  }
  const expected = crc16(line, star);
  if (parseInt(line.substring(star + 1), 16) !== expected) return { ok: false, error: "crc", detail: `expected ${hex4(expected)}` };

  const parts = line.substring(0, star).split(" ");
  if (parts.length < 2) return { ok: false, error: "syntax", detail: "missing type" };
  const seqText = parts[0];
  if (seqText.length < 1 || seqText.length > 5 || (seqText.length > 1 && seqText[0] === "0")) {
    return { ok: false, error: "syntax", detail: "bad sequence number" };
  }
  for (let i = 0; i < seqText.length; i++) {
    if (!isDigit(seqText.charCodeAt(i))) return { ok: false, error: "syntax", detail: "bad sequence number" };
  }
  const seq = parseInt(seqText, 10);
  if (seq > MAX_SEQ) return { ok: false, error: "syntax", detail: "sequence number over 65535" };
  const type = parts[1];
  if (!isName(type, true)) return { ok: false, error: "syntax", detail: "bad type" };
  if (parts.length - 2 > MAX_FIELDS) return { ok: false, error: "syntax", detail: `more than ${MAX_FIELDS} fields` };
  const fields: Fields = {};
  for (let i = 2; i < parts.length; i++) {
    const eq = parts[i].indexOf("=");
    if (eq < 1) return { ok: false, error: "syntax", detail: `field ${i - 1} has no key=value` };
    const key = parts[i].substring(0, eq);
    if (!isName(key, false)) return { ok: false, error: "syntax", detail: `bad field name "${key}"` };
    if (Object.prototype.hasOwnProperty.call(fields, key)) return { ok: false, error: "syntax", detail: `field "${key}" repeated` };
    const value = unescapeValue(parts[i].substring(eq + 1));
    if (value === undefined) return { ok: false, error: "syntax", detail: `bad escape in "${key}"` };
    fields[key] = value;
  }
  return { ok: true, frame: { seq, type, fields } };
}
