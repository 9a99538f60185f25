import { startEmbedded, startOnServers } from "../server/helpers";
import { holdSuite } from "./suite";

holdSuite("holds at entry, capture at exit — embedded (PGlite, aedes, emulator)", () => startEmbedded());
holdSuite("holds at entry, capture at exit — PostgreSQL + Mosquitto", (ctx) => startOnServers(ctx));
