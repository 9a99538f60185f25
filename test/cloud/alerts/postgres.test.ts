/**
 * The alerter suite on the PostgreSQL server, in a fresh schema dropped afterwards: there, two
 * alerters really run side by side on separate connections (FOR UPDATE SKIP LOCKED, the advisory
 * lock), which PGlite's single session cannot show.
 */
import { serverSchema } from "../../setup/pg-schema";
import { alertsSuite } from "./suite";

const s = serverSchema("syspark_alerts");

alertsSuite(`alerts on the PostgreSQL server (schema ${s.schema})`, { open: s.open, close: s.close, concurrent: true });
