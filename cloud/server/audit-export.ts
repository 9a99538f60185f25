/**
 * Audit export formats (issue 4): the hash-chained audit rows between two instants, as CSV
 * (one column per audited field, the full payload as JSON, and the chain hashes so a reader
 * can re-verify) or NDJSON (one row object per line). Shared by GET /api/audit/export and
 * `syspark audit export`.
 */
import type { AuditRow, Json } from "../db/index";

/** The fields every exit is explained by (user's doc 000 §8), first-class CSV columns. */
export const CSV_FIELDS = [
  "site_id",
  "lane_id",
  "identity_method",
  "exit_method",
  "entry_ts",
  "payment_req_ts",
  "payment_validated_ts",
  "exit_ts",
  "amount",
  "currency",
  "tariff_id",
  "tariff_version",
  "provider",
  "provider_ref",
  "validation_result",
  "barrier_result",
  "decided_by",
  "operator",
  "override_reason",
  "reason",
  "status",
  "event_id",
  "cmd_id",
] as const;

export const CSV_HEADER = ["seq", "ts", "kind", "session_id", ...CSV_FIELDS, "payload", "prev_hash", "hash"];

export type ExportFormat = "csv" | "ndjson";

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v);
  // Formula injection guard for spreadsheet users: a leading = + - @ is quoted with a '.
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvHeaderLine(): string {
  return `${CSV_HEADER.join(",")}\r\n`;
}

export function csvLine(row: AuditRow): string {
  const p = (row.payload ?? {}) as Record<string, Json>;
  const cells = [row.seq, row.ts.toISOString(), row.kind, row.sessionId, ...CSV_FIELDS.map((f) => (typeof p === "object" && p !== null && !Array.isArray(p) ? p[f] : undefined)), JSON.stringify(row.payload), row.prevHash, row.hash];
  return `${cells.map(csvCell).join(",")}\r\n`;
}

export function ndjsonLine(row: AuditRow): string {
  return `${JSON.stringify({ seq: row.seq, ts: row.ts.toISOString(), kind: row.kind, session_id: row.sessionId, payload: row.payload, prev_hash: row.prevHash, hash: row.hash })}\n`;
}

export function formatRows(rows: readonly AuditRow[], format: ExportFormat): string {
  return rows.map(format === "csv" ? csvLine : ndjsonLine).join("");
}

/** Parses a CSV line produced by csvLine (quoted cells with "" escapes). For tests and tools. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const s = line.replace(/\r?\n$/, "");
  while (i <= s.length) {
    if (s[i] === '"') {
      let v = "";
      i++;
      for (;;) {
        const j = s.indexOf('"', i);
        if (j === -1) throw new Error("unterminated quoted cell");
        v += s.slice(i, j);
        if (s[j + 1] === '"') {
          v += '"';
          i = j + 2;
        } else {
          i = j + 1;
          break;
        }
      }
      out.push(v);
      i++; // comma
    } else {
      const j = s.indexOf(",", i);
      if (j === -1) {
        out.push(s.slice(i));
        break;
      }
      out.push(s.slice(i, j));
      i = j + 1;
    }
  }
  return out;
}
