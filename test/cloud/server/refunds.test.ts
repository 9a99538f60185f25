/** Refunds end to end on embedded defaults (PGlite, aedes, the Stripe test emulator) and on PostgreSQL + Mosquitto. */
import { startEmbedded, startOnServers } from "./helpers";
import { refundSuite } from "./refunds-suite";

refundSuite("refunds on embedded defaults (PGlite, aedes, Stripe test emulator)", () => startEmbedded());
refundSuite("refunds on PostgreSQL + Mosquitto", (ctx) => startOnServers(ctx));
