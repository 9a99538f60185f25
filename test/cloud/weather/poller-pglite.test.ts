/** The weather poller suite on the embedded PGlite (in memory). */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../cloud/db/index";
import { weatherPollerSuite } from "./poller-suite";

weatherPollerSuite("weather poller on embedded PGlite", {
  open: () => openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") }),
  close: (db) => db.close(),
});
