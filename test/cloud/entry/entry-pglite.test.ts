/** The entry lanes' cloud flows on the embedded PGlite (in memory), audit rows queued. */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../cloud/db/index";
import { entrySuite } from "./entry-suite";

entrySuite("entry lanes, occupancy, anti-passback, any identity out — embedded PGlite (audit queued)", {
  open: () => openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") }),
  close: (db) => db.close(),
  auditMode: "queued",
});
