/** Pay at exit and its receipt, on embedded defaults (PGlite, aedes, emulator) and on PostgreSQL + Mosquitto. */
import { startEmbedded, startOnServers } from "./helpers";
import { payExitSuite } from "./pay-exit-suite";

payExitSuite("pay at exit and its receipt (embedded: PGlite + aedes + emulator)", () => startEmbedded());
payExitSuite("pay at exit and its receipt (PostgreSQL + Mosquitto)", (ctx) => startOnServers(ctx));
