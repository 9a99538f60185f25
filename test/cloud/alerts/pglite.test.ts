/** The alerter suite on the embedded PGlite (in memory). */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../cloud/db/index";
import { alertsSuite } from "./suite";

alertsSuite("alerts on embedded PGlite", {
  open: () => openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") }),
  close: (db) => db.close(),
  concurrent: false,
});
