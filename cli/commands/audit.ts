/**
 * `syspark audit export|verify`: on the cloud's database as cli-support.ts resolves it (named on
 * stderr; opened existing-only, never created), or through a cloud's API (--url, or the cloud
 * that holds the PGlite directory).
 */
import type { Command } from "commander";
import { loginPrompt } from "../prompt";

interface Common {
  url?: string;
  dataDir?: string;
  schema?: string;
}

function isoOption(name: string): (v: string) => string {
  return (v: string) => {
    if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(v) || Number.isNaN(Date.parse(v))) throw new Error(`${name} must be an ISO-8601 date or instant (e.g. 2025-03-01 or 2025-03-01T08:00:00Z), got "${v}"`);
    return v;
  };
}

function progress(rows: number, bytes: number, done = false): void {
  if (!process.stderr.isTTY && !done) return;
  process.stderr.write(`\r  ${rows} rows, ${(bytes / 1024).toFixed(0)} KiB${done ? "\n" : ""}`);
}

export function register(program: Command): void {
  const audit = program.command("audit").description("the cloud's hash-chained audit log: export it, verify the chain");
  const common = (c: Command) =>
    c
      .option("--url <url>", "go through a running cloud's API (env SYSPARK_CLOUD_URL; auth: SYSPARK_OPERATOR_TOKEN, SYSPARK_OPERATOR_USERNAME/_PASSWORD, or the terminal)")
      .option("--data-dir <dir>", "the site folder of `syspark up` (e.g. .data/site) or a cloud PGlite data directory; default: .data/site here, else ~/.syspark/cloud. A running cloud is reached through its API")
      .option("--schema <name>", "PostgreSQL schema (with DATABASE_URL)");

  common(
    audit
      .command("export")
      .description("export audit rows between two instants as CSV or NDJSON (progress on stderr)")
      .option("--from <iso>", "from this instant (inclusive)", isoOption("--from"))
      .option("--to <iso>", "to this instant (exclusive)", isoOption("--to"))
      .option("--format <fmt>", "csv or ndjson", (v: string) => {
        if (v !== "csv" && v !== "ndjson") throw new Error(`--format must be csv or ndjson, got "${v}"`);
        return v;
      }, "ndjson")
      .option("--out <file>", "write to this file instead of stdout"),
  ).action(async (opts: Common & { from?: string; to?: string; format: "csv" | "ndjson"; out?: string }) => {
    const { createWriteStream } = await import("node:fs");
    // Opened at the first byte (or at the end): a command refused before reading leaves no file behind.
    let out: NodeJS.WritableStream | undefined;
    const sink = () => (out ??= opts.out ? createWriteStream(opts.out) : process.stdout);
    const write = (s: string | Uint8Array) => new Promise<void>((resolve, reject) => sink().write(s, (err) => (err ? reject(err) : resolve())));
    let rows = 0;
    let bytes = 0;
    const { withCloud, apiError } = await import("../../cloud/server/cli-support");
    const head = await withCloud(
      opts,
      {
        api: async (api) => {
          const q = new URLSearchParams({ format: opts.format, ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}) });
          const r = await api.fetch(`/api/audit/export?${q.toString()}`);
          if (!r.ok || !r.body) throw await apiError(r, "export");
          for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
            bytes += chunk.length;
            for (const b of chunk) if (b === 10) rows++;
            await write(chunk);
            progress(rows, bytes);
          }
          if (opts.format === "csv") rows = Math.max(0, rows - 1);
          return r.headers.get("x-audit-head") ?? "?";
        },
        db: async (db) => {
          const { streamAudit } = await import("../../cloud/db/index");
          const { csvHeaderLine, formatRows } = await import("../../cloud/server/audit-export");
          if (opts.format === "csv") await write(csvHeaderLine());
          for await (const batch of streamAudit(db.sql, { ...(opts.from ? { from: new Date(opts.from) } : {}), ...(opts.to ? { to: new Date(opts.to) } : {}), batchSize: 2000 })) {
            const text = formatRows(batch, opts.format);
            rows += batch.length;
            bytes += Buffer.byteLength(text);
            await write(text);
            progress(rows, bytes);
          }
          const [h] = await db.sql<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton`;
          return `${h.seq}:${h.hash}`;
        },
      },
      loginPrompt(),
    );
    process.stderr.write(`audit head: ${head}\n`);
    progress(rows, bytes, true);
    const done = sink();
    if (opts.out) await new Promise<void>((resolve) => done.end(resolve));
    process.stderr.write(`exported ${rows} rows (${opts.format})${opts.out ? ` to ${opts.out}` : ""}\n`);
  });

  common(audit.command("verify").description("check the whole hash chain; names the first broken row and exits non-zero if any")).action(async (opts: Common) => {
    type V = { ok: boolean; checked: number; head: { seq: number; hash: string }; firstBroken?: { seq: number; reason: string } };
    const { withCloud, apiError } = await import("../../cloud/server/cli-support");
    const v = await withCloud<V>(
      opts,
      {
        api: async (api) => {
          process.stderr.write("verifying the audit chain through the cloud's API…\n");
          const r = await api.fetch("/api/audit/verify");
          if (r.status !== 200 && r.status !== 409) throw await apiError(r, "verify");
          return (await r.json()) as V;
        },
        db: async (db) => {
          const { verifyAuditChain } = await import("../../cloud/db/index");
          const result = await verifyAuditChain(db.sql, { onProgress: (n) => process.stderr.isTTY && process.stderr.write(`\r  ${n} rows checked`) });
          if (process.stderr.isTTY) process.stderr.write("\n");
          return result;
        },
      },
      loginPrompt(),
    );
    if (v.ok) {
      console.log(`audit chain OK: ${v.checked} rows, head ${v.head.seq}:${v.head.hash}`);
      return;
    }
    console.log(`audit chain BROKEN at row ${v.firstBroken?.seq}: ${v.firstBroken?.reason} (${v.checked} rows checked, head ${v.head.seq}:${v.head.hash})`);
    process.exitCode = 1;
  });
}
