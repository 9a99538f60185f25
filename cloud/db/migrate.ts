/**
 * Runs the versioned migrations of cloud/db/migrations.ts: one `schema_migrations` row per
 * version, each migration in its own transaction (a failure leaves the schema at the previous
 * version), idempotent (an applied version is skipped), serialised between cloud instances by an
 * advisory lock scoped to the current schema, and refusing to start when an applied migration's
 * text has changed since (checksum mismatch) — a released migration is never edited.
 */
import { createHash } from "node:crypto";
import { MIGRATIONS, type Migration } from "./migrations";
import type { Q, Sql } from "./types";

export interface MigrationReport {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** Schema version after the call. */
  version: number;
}

export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

function checksum(m: Migration): string {
  return createHash("sha256").update(m.sql).digest("hex");
}

/** Arbitrary constant: the first key of the two-key advisory lock that guards migrations. */
const MIGRATION_LOCK_KEY = 0x5953_5041; // "SYSPA"

export async function runMigrations(sql: Sql, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationReport> {
  const versions = migrations.map((m) => m.version);
  for (let i = 1; i < versions.length; i++) {
    if (versions[i] <= versions[i - 1]) throw new MigrationError(`migrations must have increasing versions (got ${versions[i - 1]} then ${versions[i]})`);
  }
  const applied: number[] = [];
  const lock = async (tx: Q) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}::int4, hashtext(current_schema()))`;
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version     integer PRIMARY KEY,
      name        text NOT NULL,
      checksum    text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    )`);
  };
  for (const m of migrations) {
    await sql.begin(async (tx) => {
      await lock(tx);
      const done = await tx<{ checksum: string }[]>`SELECT checksum FROM schema_migrations WHERE version = ${m.version}`;
      if (done.length > 0) {
        if (done[0].checksum !== checksum(m)) {
          throw new MigrationError(`migration ${m.version} (${m.name}) was changed after it was applied; add a new migration instead of editing a released one`);
        }
        return;
      }
      try {
        await tx.unsafe(m.sql);
      } catch (err) {
        throw new MigrationError(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      await tx`INSERT INTO schema_migrations (version, name, checksum) VALUES (${m.version}, ${m.name}, ${checksum(m)})`;
      applied.push(m.version);
    });
  }
  const [row] = await sql<{ version: number | null }[]>`SELECT max(version) AS version FROM schema_migrations`;
  const version = row.version ?? 0;
  const known = versions.at(-1) ?? 0;
  if (version > known) throw new MigrationError(`database schema is at version ${version}, newer than this program knows (${known}): upgrade SysPark`);
  return { applied, version };
}
