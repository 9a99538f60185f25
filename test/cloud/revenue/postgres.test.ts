/** The revenue suite on the PostgreSQL server, in a fresh schema dropped afterwards. */
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { DatabaseConnectionError, openDatabase } from "../../../cloud/db/index";
import { revenueSuite } from "./suite";

const URL_ = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `syspark_revenue_${randomBytes(6).toString("hex")}`;

revenueSuite(`revenue report on the PostgreSQL server (schema ${schema})`, {
  async open(ctx) {
    try {
      return await openDatabase({ databaseUrl: URL_, schema, createSchema: true, max: 4, connectTimeoutS: 5 });
    } catch (err) {
      if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
        console.warn(`      skipped: PostgreSQL not reachable at ${URL_}: ${err.message}`);
        ctx.skip();
      }
      throw err;
    }
  },
  async close(db) {
    await db.close();
    const admin = postgres(URL_, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
    try {
      await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  },
});
