/**
 * The shared database suite against the embedded PGlite (in memory), plus what only PGlite has:
 * persistence under a data directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { DatabaseConnectionError, MIGRATIONS, openDatabase } from "../../../cloud/db/index";
import { databaseSuite } from "./suite";

// A cached pristine data directory spares initdb on every run (see pgliteTemplateDir).
const pgliteTemplateDir = join(tmpdir(), "syspark-test-cache");

databaseSuite("cloud/db on embedded PGlite (in memory)", {
  open: () => openDatabase({ pgliteTemplateDir }),
  close: (db) => db.close(),
  concurrent: false,
});

describe("cloud/db PGlite persistence", function () {
  this.timeout(120_000);
  it("persists under dataDir across a close and a reopen, without re-running migrations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "syspark-pglite-"));
    try {
      const a = await openDatabase({ dataDir: join(dir, "db"), pgliteTemplateDir });
      expect(a.kind).to.equal("pglite");
      expect(a.migrations.applied).to.deep.equal(MIGRATIONS.map((m) => m.version));
      await a.sql`INSERT INTO sites (site_id, name, time_zone, currency) VALUES ('kept', 'Kept', 'UTC', 'EUR')`;
      // One process per data directory: a second open is refused, with what to do.
      try {
        await openDatabase({ dataDir: join(dir, "db") });
        expect.fail("a second open of the same data directory must be refused");
      } catch (err) {
        expect(err).to.be.instanceOf(DatabaseConnectionError);
        expect((err as Error).message).to.match(/is in use by another process \(pid \d+, this one\)/);
      }
      await a.close();
      await a.close(); // idempotent
      writeFileSync(join(dir, "db.lock"), "999999999"); // left by a process that died: taken over
      const b = await openDatabase({ dataDir: join(dir, "db"), pgliteTemplateDir });
      try {
        expect(b.migrations.applied).to.deep.equal([]);
        const rows = await b.sql<{ siteId: string }[]>`SELECT site_id FROM sites`;
        expect(rows.map((r) => r.siteId)).to.deep.equal(["kept"]);
      } finally {
        await b.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
