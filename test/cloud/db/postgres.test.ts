/**
 * The shared database suite against the PostgreSQL server (postgres://postgres@127.0.0.1:5432/test,
 * or SYSPARK_TEST_DATABASE_URL). Each run works in a fresh random schema, dropped afterwards, so
 * parallel runs do not clash. When the server is unreachable the suite is skipped with a message —
 * unless SYSPARK_REQUIRE_POSTGRES=1 (CI), where it fails.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import postgres from "postgres";
import { DatabaseConnectionError, openDatabase, type Database } from "../../../cloud/db/index";
import { databaseSuite } from "./suite";

const URL_ = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = `syspark_test_${randomBytes(6).toString("hex")}`;

async function dropSchema(): Promise<void> {
  const admin = postgres(URL_, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  try {
    await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

databaseSuite(`cloud/db on the PostgreSQL server (schema ${schema})`, {
  async open(ctx: Mocha.Context): Promise<Database> {
    try {
      return await openDatabase({ databaseUrl: URL_, schema, createSchema: true, max: 8, connectTimeoutS: 5 });
    } catch (err) {
      if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
        console.warn(`      skipped: PostgreSQL not reachable at ${URL_} (set SYSPARK_REQUIRE_POSTGRES=1 to make this a failure): ${err.message}`);
        ctx.skip();
      }
      throw err;
    }
  },
  async close(db: Database): Promise<void> {
    await db.close();
    await dropSchema();
  },
  concurrent: true,
});

describe("cloud/db connection errors", () => {
  it("tells the user what to do when DATABASE_URL points at nothing", async () => {
    try {
      await openDatabase({ databaseUrl: "postgres://postgres:s3cret@127.0.0.1:1/test", connectTimeoutS: 3 });
      expect.fail("should not connect");
    } catch (err) {
      expect(err).to.be.instanceOf(DatabaseConnectionError);
      const msg = (err as Error).message;
      expect(msg).to.match(/^DATABASE_URL is set but the server refused the connection: /);
      expect(msg).to.match(/unset DATABASE_URL to use the embedded PGlite/);
      expect(msg).not.to.contain("s3cret");
    }
  });

  it("rejects a URL that is not postgres://", async () => {
    try {
      await openDatabase({ databaseUrl: "mysql://x@127.0.0.1/test" });
      expect.fail("should throw");
    } catch (err) {
      expect((err as Error).message).to.match(/must start with postgres:\/\//);
    }
  });
});
