/** Credit notes for refunds, on embedded defaults (PGlite, aedes, emulator) and on PostgreSQL + Mosquitto. */
import { creditNotesSuite } from "./credit-notes-suite";
import { startEmbedded, startOnServers } from "./helpers";

creditNotesSuite("credit notes (embedded: PGlite + aedes + emulator)", () => startEmbedded());
creditNotesSuite("credit notes (PostgreSQL + Mosquitto)", (ctx) => startOnServers(ctx));
