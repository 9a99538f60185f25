/** Unused prepayments refunded (issue 16) on the PostgreSQL server (fresh schema) and Mosquitto. */
import { startOnServers } from "./helpers";
import { prepayRefundsSuite } from "./prepay-refunds-suite";

prepayRefundsSuite("prepayment refunds on PostgreSQL + Mosquitto", (ctx) => startOnServers(ctx));
