/** The console's admin screens on the embedded PGlite (in memory), audit rows queued (audit_pending). */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../cloud/db/index";
import { adminSuite } from "./admin-suite";

adminSuite("console admin screens on embedded PGlite (audit queued)", {
  open: () => openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") }),
  close: (db) => db.close(),
  auditMode: "queued",
});
