/** Estimate and prepay (issue 16 items 2 and 3) on the PostgreSQL server (fresh schema) and Mosquitto. */
import { startOnServers } from "./helpers";
import { prepaySuite } from "./prepay-suite";

prepaySuite("estimate and prepay on PostgreSQL + Mosquitto", (ctx) => startOnServers(ctx));
