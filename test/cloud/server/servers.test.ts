/**
 * The same end-to-end suite on the PostgreSQL server (fresh schema) and Mosquitto (MQTT v5,
 * shared subscriptions). Skipped with a message when they are not reachable, unless
 * SYSPARK_REQUIRE_POSTGRES=1 / SYSPARK_REQUIRE_MOSQUITTO=1.
 */
import { startOnServers } from "./helpers";
import { cloudSuite } from "./suite";

cloudSuite("cloud on PostgreSQL + Mosquitto", (ctx) => startOnServers(ctx), { cli: false });
