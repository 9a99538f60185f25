/**
 * The shared database suite against the embedded PGlite (in memory), plus what only PGlite has:
 * persistence under a data directory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { openDatabase } from "../../../cloud/db/index";
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
      expect(a.migrations.applied).to.deep.equal([1]);
      await a.sql`INSERT INTO sites (site_id, name, time_zone, currency) VALUES ('kept', 'Kept', 'UTC', 'EUR')`;
      await a.close();
      await a.close(); // idempotent
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
