/** The entry lanes' cloud flows on the PostgreSQL server, in a fresh schema dropped afterwards; audit rows chained inline. */
import { serverSchema } from "../../setup/pg-schema";
import { entrySuite } from "./entry-suite";

const s = serverSchema("syspark_entry");

entrySuite(`entry lanes, occupancy, anti-passback, any identity out — PostgreSQL server (schema ${s.schema}, audit inline)`, { open: s.open, close: s.close, auditMode: "inline" });
