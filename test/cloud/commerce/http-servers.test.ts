/** Issue 18's commerce pages on PostgreSQL + Mosquitto (skipped, or failed when required, if they are not reachable). */
import { startOnServers } from "../server/helpers";
import { commerceHttpSuite } from "./http-suite";

commerceHttpSuite("merchant, pay-page validation, reservation pages on PostgreSQL + Mosquitto", (ctx) => startOnServers(ctx));
