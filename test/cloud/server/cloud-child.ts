/**
 * The cloud in a process of its own, for tests that stop it the way a crash does (SIGKILL) and
 * start it again: only a real kill leaves the broker session, the database connections and the
 * in-flight messages exactly as a crash in production would.
 *
 *   node --import tsx test/cloud/server/cloud-child.ts '<CloudChildConfig as JSON>'
 *
 * Prints `ready <url>` on stdout once startCloud resolved (consumers connected and subscribed).
 * SIGTERM closes it gracefully (it prints `closing` once the close began, then exits); it also
 * closes when its stdin ends, so it never outlives the test process that started it. Logs go to
 * stderr (errors only; SYSPARK_CHILD_LOG_LEVEL=info for more).
 */
import pino from "pino";
import { cloudLogger, startCloud, type CloudHandle } from "../../../cloud/server/index";

export interface CloudChildConfig {
  databaseUrl: string;
  dbSchema: string;
  mqttUrl: string;
  /** The same instance id on every start: the same MQTT client ids, so the same sessions. */
  instanceId: string;
  shareGroup: string;
  mqttSessionExpiryS: number;
  /** Scale out (issue 20): when a silent peer's sessions are drained, and how often that is checked. */
  instanceStaleS?: number;
  instanceWatchMs?: number;
}

const config = JSON.parse(process.argv[2] ?? "") as CloudChildConfig;
const logger = cloudLogger(process.env.SYSPARK_CHILD_LOG_LEVEL ?? "error", pino.destination(2));

let cloud: CloudHandle | undefined;
let closing = false;
async function close(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  const closed = cloud?.close();
  // close() stops the consumers first, synchronously: from here on they take no new message.
  process.stdout.write("closing\n");
  await closed?.catch((err: Error) => logger.error({ err: err.message }, "cloud child: close failed"));
  process.exit(code);
}
process.once("SIGTERM", () => void close(0));
process.stdin.on("end", () => void close(0)).resume();

try {
  cloud = await startCloud({
    databaseUrl: config.databaseUrl,
    dbSchema: config.dbSchema,
    dbPoolMax: 4,
    mqttUrl: config.mqttUrl,
    port: 0,
    stripe: { emulatorPort: 0 },
    logger,
    instanceId: config.instanceId,
    shareGroup: config.shareGroup,
    mqttSessionExpiryS: config.mqttSessionExpiryS,
    ...(config.instanceStaleS !== undefined ? { instanceStaleS: config.instanceStaleS } : {}),
    ...(config.instanceWatchMs !== undefined ? { instanceWatchMs: config.instanceWatchMs } : {}),
    relayPollMs: 50,
    seedDemo: false,
    createFirstAdmin: false,
  });
  process.stdout.write(`ready ${cloud.url}\n`);
} catch (err) {
  logger.error({ err: (err as Error).message }, "cloud child: start failed");
  await close(1);
}
