/**
 * What the cloud bench reads around its load window, to say what limits the rate rather than
 * guess: the bench database's transaction counters and the server's WAL syncs (pg_stat_database,
 * pg_stat_wal), what its backends wait on (pg_stat_activity sampled), the cloud's own /metrics
 * (event-loop lag, server-side durations), and the one-row-commit anchor on the same server.
 *
 * The sampler and the counters read through a connection to ANOTHER database of the server, so
 * that their own statements are not counted as the cloud's.
 */
import postgres from "postgres";
import { BENCH_PG_URL } from "./_cloud-parts";

export interface PgCounters {
  xactCommit: number;
  xactRollback: number;
  walSync: number;
  walRecords: number;
}

export interface StatsReader {
  /** After settleMs: backends publish their counters when they go idle, at most once a second. */
  counters: (settleMs: number) => Promise<PgCounters>;
  /** Samples pg_stat_activity every periodMs until the returned stop(); mean backends per state. */
  sampleWaits: (periodMs: number) => () => Record<string, number>;
  setting: (name: string) => Promise<string>;
  close: () => Promise<void>;
}

export function statsReader(dbName: string): StatsReader {
  const sql = postgres(BENCH_PG_URL, { max: 2, onnotice: () => undefined });
  return {
    counters: async (settleMs) => {
      await new Promise((r) => setTimeout(r, settleMs));
      const [d] = await sql<{ c: string; r: string }[]>`SELECT xact_commit::text AS c, xact_rollback::text AS r FROM pg_stat_database WHERE datname = ${dbName}`;
      const [w] = await sql<{ s: string; n: string }[]>`SELECT wal_sync::text AS s, wal_records::text AS n FROM pg_stat_wal`;
      return { xactCommit: Number(d?.c ?? NaN), xactRollback: Number(d?.r ?? NaN), walSync: Number(w?.s ?? NaN), walRecords: Number(w?.n ?? NaN) };
    },
    sampleWaits: (periodMs) => {
      const seen: Record<string, number> = {};
      let samples = 0;
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void sql<{ w: string }[]>`
          SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type, 'cpu') ELSE 'idle_in_tx' END AS w
          FROM pg_stat_activity WHERE datname = ${dbName} AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()`
          .then((rows) => {
            samples++;
            for (const { w } of rows) seen[w] = (seen[w] ?? 0) + 1;
          })
          .catch(() => undefined)
          .finally(() => (busy = false));
      }, periodMs);
      return () => {
        clearInterval(timer);
        return Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, +(v / Math.max(1, samples)).toFixed(2)]));
      };
    },
    setting: async (name) => (await sql<{ v: string }[]>`SELECT current_setting(${name}) AS v`)[0].v,
    close: () => sql.end({ timeout: 5 }),
  };
}

/**
 * One-row durable commits per second on that database, over `connections` connections of their
 * own, closed afterwards (a closing backend publishes its counters at once, before the load).
 */
export async function anchorCommitsPerS(dbUrl: string, connections: number, commits: number): Promise<number> {
  const sql = postgres(dbUrl, { max: connections, onnotice: () => undefined });
  try {
    return await anchor(sql, connections, commits);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function anchor(sql: postgres.Sql, connections: number, commits: number): Promise<number> {
  await sql`CREATE TABLE IF NOT EXISTS bench_anchor (id bigserial PRIMARY KEY, v int)`;
  const t0 = performance.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (i++ < commits) await sql.begin((tx) => tx`INSERT INTO bench_anchor (v) VALUES (1)`);
    }),
  );
  const rate = commits / ((performance.now() - t0) / 1000);
  await sql`DROP TABLE bench_anchor`;
  return rate;
}

/** The cloud's Prometheus text, as name{labels} → value (summed over label sets by `metric`). */
export async function scrapeMetrics(cloudUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${cloudUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[3]));
  }
  return out;
}

/** Mean of a histogram between two scrapes (ms). */
export function histogramMeanMs(before: Map<string, number>, after: Map<string, number>, name: string): number {
  const sum = (after.get(`${name}_sum`) ?? 0) - (before.get(`${name}_sum`) ?? 0);
  const count = (after.get(`${name}_count`) ?? 0) - (before.get(`${name}_count`) ?? 0);
  return count > 0 ? (1000 * sum) / count : NaN;
}
