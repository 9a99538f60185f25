import type { Command } from "commander";

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
      .option("--url <url>", "go through a running cloud's API (env SYSPARK_CLOUD_URL; auth: SYSPARK_OPERATOR_TOKEN or SYSPARK_OPERATOR_USERNAME/_PASSWORD)")
      .option("--data-dir <dir>", "embedded PGlite data directory when not using --url or DATABASE_URL (the cloud must be stopped)")
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
    const out = opts.out ? createWriteStream(opts.out) : process.stdout;
    const write = (s: string | Uint8Array) => new Promise<void>((resolve, reject) => (out.write(s, (err) => (err ? reject(err) : resolve()))));
    let rows = 0;
    let bytes = 0;
    const url = opts.url ?? process.env.SYSPARK_CLOUD_URL;
    if (url) {
      const { operatorToken } = await import("../../cloud/server/cli-support");
      const token = await operatorToken(url);
      const u = new URL("/api/audit/export", url);
      u.searchParams.set("format", opts.format);
      if (opts.from) u.searchParams.set("from", opts.from);
      if (opts.to) u.searchParams.set("to", opts.to);
      const r = await fetch(u, { headers: { Authorization: `Bearer ${token}` } });
      if (!r.ok || !r.body) throw new Error(`export failed (${r.status}): ${await r.text()}`);
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        for (const b of chunk) if (b === 10) rows++;
        await write(chunk);
        progress(rows, bytes);
      }
      if (opts.format === "csv") rows = Math.max(0, rows - 1);
      process.stderr.write(`audit head: ${r.headers.get("x-audit-head") ?? "?"}\n`);
    } else {
      const { openCloudDatabase } = await import("../../cloud/server/cli-support");
      const { streamAudit } = await import("../../cloud/db/index");
      const { csvHeaderLine, formatRows } = await import("../../cloud/server/audit-export");
      const db = await openCloudDatabase(opts);
      try {
        if (opts.format === "csv") await write(csvHeaderLine());
        for await (const batch of streamAudit(db.sql, { ...(opts.from ? { from: new Date(opts.from) } : {}), ...(opts.to ? { to: new Date(opts.to) } : {}), batchSize: 2000 })) {
          const text = formatRows(batch, opts.format);
          rows += batch.length;
          bytes += Buffer.byteLength(text);
          await write(text);
          progress(rows, bytes);
        }
        const [head] = await db.sql<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton`;
        process.stderr.write(`audit head: ${head.seq}:${head.hash}\n`);
      } finally {
        await db.close();
      }
    }
    progress(rows, bytes, true);
    if (opts.out) await new Promise<void>((resolve) => out.end(resolve));
    process.stderr.write(`exported ${rows} rows (${opts.format})${opts.out ? ` to ${opts.out}` : ""}\n`);
  });

  common(audit.command("verify").description("check the whole hash chain; names the first broken row and exits non-zero if any")).action(async (opts: Common) => {
    const url = opts.url ?? process.env.SYSPARK_CLOUD_URL;
    type V = { ok: boolean; checked: number; head: { seq: number; hash: string }; firstBroken?: { seq: number; reason: string } };
    let v: V;
    if (url) {
      const { operatorToken } = await import("../../cloud/server/cli-support");
      const token = await operatorToken(url);
      process.stderr.write("verifying the audit chain through the cloud's API…\n");
      const r = await fetch(new URL("/api/audit/verify", url), { headers: { Authorization: `Bearer ${token}` } });
      if (r.status !== 200 && r.status !== 409) throw new Error(`verify failed (${r.status}): ${await r.text()}`);
      v = (await r.json()) as V;
    } else {
      const { openCloudDatabase } = await import("../../cloud/server/cli-support");
      const { verifyAuditChain } = await import("../../cloud/db/index");
      const db = await openCloudDatabase(opts);
      try {
        v = await verifyAuditChain(db.sql, { onProgress: (n) => process.stderr.isTTY && process.stderr.write(`\r  ${n} rows checked`) });
        if (process.stderr.isTTY) process.stderr.write("\n");
      } finally {
        await db.close();
      }
    }
    if (v.ok) {
      console.log(`audit chain OK: ${v.checked} rows, head ${v.head.seq}:${v.head.hash}`);
      return;
    }
    console.log(`audit chain BROKEN at row ${v.firstBroken?.seq}: ${v.firstBroken?.reason} (${v.checked} rows checked, head ${v.head.seq}:${v.head.hash})`);
    process.exitCode = 1;
  });
}
