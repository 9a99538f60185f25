/** Lost tickets, merchant validations and reservations on the PostgreSQL server, in a fresh schema dropped afterwards (real concurrency for "a code acts once"). */
import { serverSchema } from "../../setup/pg-schema";
import { commerceFlowSuite } from "./flows-suite";

const pg = serverSchema("syspark_commerce");
commerceFlowSuite(`lost tickets, validations, reservations on the PostgreSQL server (schema ${pg.schema})`, { open: (ctx) => pg.open(ctx), close: (db) => pg.close(db) });
