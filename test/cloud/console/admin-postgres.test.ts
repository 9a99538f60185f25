/** The console's admin screens on the PostgreSQL server, in a fresh schema dropped afterwards; audit rows chained inline. */
import { serverSchema } from "../../setup/pg-schema";
import { adminSuite } from "./admin-suite";

const s = serverSchema("syspark_admin");

adminSuite(`console admin screens on the PostgreSQL server (schema ${s.schema}, audit inline)`, { open: s.open, close: s.close, auditMode: "inline" });
