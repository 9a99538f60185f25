/**
 * One outbox record per line: `<crc32 as 8 hex> <json>\n`, where the JSON is
 * `{"s":seq,"i":event id,"t":site topic,"ts":ms,"p":"payload JSON as a string"}`.
 * JSON.stringify never emits a raw newline, so a line is a record; the CRC covers the JSON so a
 * torn or corrupted line is recognised and never published.
 */
import { crc32 } from "node:zlib";

export interface OutboxEntry {
  /** Monotonic per outbox, never reused (gaps are possible after a failed write). */
  seq: number;
  /** Event id consumers de-duplicate on: the payload's event_id when it has one. */
  id: string;
  /** Site topic (`parking/…`); the bridge maps it to the cloud prefix. */
  topic: string;
  /** When the entry was appended (ms). */
  ts: number;
  /** The payload, already validated against the contract, as it will be published. */
  payload: string;
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

export function encodeRecord(e: OutboxEntry): string {
  const json = `{"s":${e.seq},"i":${JSON.stringify(e.id)},"t":${JSON.stringify(e.topic)},"ts":${e.ts},"p":${JSON.stringify(e.payload)}}`;
  return `${hex8(crc32(json))} ${json}\n`;
}

/** Decode one line (without its `\n`). Returns undefined for a torn or corrupted line. */
export function decodeRecord(line: string): OutboxEntry | undefined {
  if (line.length < 10 || line[8] !== " ") return undefined;
  const json = line.slice(9);
  if (hex8(crc32(json)) !== line.slice(0, 8)) return undefined;
  try {
    const o = JSON.parse(json) as { s: unknown; i: unknown; t: unknown; ts: unknown; p: unknown };
    if (typeof o.s !== "number" || typeof o.i !== "string" || typeof o.t !== "string" || typeof o.ts !== "number" || typeof o.p !== "string") return undefined;
    return { seq: o.s, id: o.i, topic: o.t, ts: o.ts, payload: o.p };
  } catch {
    return undefined;
  }
}
