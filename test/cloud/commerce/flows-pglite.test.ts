/** Lost tickets, merchant validations and reservations on the embedded PGlite (in memory). */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../cloud/db/index";
import { commerceFlowSuite } from "./flows-suite";

commerceFlowSuite("lost tickets, validations, reservations on embedded PGlite", {
  open: () => openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") }),
  close: (db) => db.close(),
});
