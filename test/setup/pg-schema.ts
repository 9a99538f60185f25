/**
 * A suite's database on the PostgreSQL server: a fresh schema, created on open and dropped on
 * close. Unreachable server → the suite is skipped with a message (a failure when
 * SYSPARK_REQUIRE_POSTGRES=1, as in CI). The suites that run on PGlite and on the server
 * (billing, alerts, weather, admin, revenue…) share it.
 */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { DatabaseConnectionError, openDatabase, type Database } from "../../cloud/db/index";

export const PG_TEST_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface ServerSchema {
  /** The schema's name, for the suite's title. */
  schema: string;
  open(ctx: Mocha.Context): Promise<Database>;
  close(db: Database): Promise<void>;
}

export function serverSchema(prefix: string, opts: { max?: number } = {}): ServerSchema {
  const schema = `${prefix}_${randomBytes(6).toString("hex")}`;
  return {
    schema,
    async open(ctx) {
      try {
        return await openDatabase({ databaseUrl: PG_TEST_URL, schema, createSchema: true, max: opts.max ?? 8, connectTimeoutS: 5 });
      } catch (err) {
        if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
          console.warn(`      skipped: PostgreSQL not reachable at ${PG_TEST_URL}: ${err.message}`);
          ctx.skip();
        }
        throw err;
      }
    },
    async close(db) {
      await db.close();
      const admin = postgres(PG_TEST_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
      try {
        await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}
