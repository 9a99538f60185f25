/** The billing documents suite on the PostgreSQL server, in a fresh schema dropped afterwards. */
import { serverSchema } from "../../setup/pg-schema";
import { billingSuite } from "./suite";

const s = serverSchema("syspark_billing");

billingSuite(`billing documents on the PostgreSQL server (schema ${s.schema})`, { open: s.open, close: s.close, concurrent: true });
