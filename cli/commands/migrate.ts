/**
 * `syspark migrate [--schema S]` (issue 19): applies the cloud's migrations to DATABASE_URL and
 * says which database and what it did — the deployment's pre-deploy command (Render's
 * `preDeployCommand`), so that a release whose migration fails never takes traffic. Idempotent
 * (an applied migration is skipped; concurrent runs are serialised by the migrations' advisory
 * lock). It never creates a database or a server: only the schema given with --schema, inside
 * the database DATABASE_URL names. The cloud still migrates on start, as before.
 */
import type { Command } from "commander";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function register(program: Command): void {
  program
    .command("migrate")
    .description("apply the cloud database's migrations to DATABASE_URL (PostgreSQL) and exit; idempotent — the pre-deploy command. Never creates a database or a server")
    .option("--schema <name>", "PostgreSQL schema to migrate (created inside the database if missing; default: the server's search_path, normally public)", (v: string) => {
      if (!SCHEMA_NAME.test(v)) throw new Error(`--schema must be a plain lowercase identifier (a-z, 0-9, _; at most 63 characters), got "${v.slice(0, 70)}"`);
      return v;
    })
    .action(async (opts: { schema?: string }) => {
      const url = process.env.DATABASE_URL?.trim();
      if (!url) throw new Error("DATABASE_URL is not set: syspark migrate applies the migrations to a PostgreSQL server's database (postgres://…); it never creates one, and the embedded PGlite database migrates itself when the cloud starts");
      const { openDatabase, redactUrl } = await import("../../cloud/db/index");
      const where = `${redactUrl(url)}, schema ${opts.schema ?? "public"}`;
      console.error(`syspark migrate: database ${where} (DATABASE_URL)`);
      const db = await openDatabase({ databaseUrl: url, ...(opts.schema ? { schema: opts.schema, createSchema: true } : {}), max: 1, migrate: true });
      const { applied, version } = db.migrations;
      await db.close();
      const what = applied.length === 0 ? "already up to date, nothing applied" : `applied ${applied.length} migration${applied.length === 1 ? "" : "s"} (${applied.join(", ")})`;
      console.log(`syspark migrate: ${where}: ${what}; schema version ${version}`);
    });
}
