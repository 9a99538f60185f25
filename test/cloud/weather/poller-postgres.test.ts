/** The weather poller suite on the PostgreSQL server, in a fresh schema dropped afterwards. */
import { serverSchema } from "../../setup/pg-schema";
import { weatherPollerSuite } from "./poller-suite";

const s = serverSchema("syspark_weather", { max: 4 });

weatherPollerSuite(`weather poller on the PostgreSQL server (schema ${s.schema})`, { open: s.open, close: s.close });
