/**
 * A private Mosquitto on a free loopback port, from the machine's `mosquitto` binary, for tests
 * and benchmarks that need a broker configured some way (SysPark's cloud-broker settings in
 * deploy/cloud-broker/) rather than the machine's shared one.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt, { type IConnackPacket } from "mqtt";
import { freePort } from "./ports";
import { spawnOwned, which } from "./tools";

/** SysPark's flow-control settings for its cloud broker (docs/gateway.md §4). */
export const CLOUD_BROKER_FLOW_CONF = fileURLToPath(new URL("../deploy/cloud-broker/syspark-flow.conf", import.meta.url));

export interface PrivateMosquitto {
  url: string;
  host: string;
  port: number;
  pid: number | undefined;
  /** The Receive Maximum it advertises to MQTT v5 clients (65,535 when it sets none). */
  receiveMaximum: number;
  stop: () => Promise<void>;
}

function mosquittoBinary(): string | undefined {
  return which("mosquitto") ?? which("/usr/sbin/mosquitto");
}

/** Connects once over MQTT v5 (retrying until timeoutMs): the Receive Maximum the broker advertises. */
export async function receiveMaximumAt(url: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2000 });
    try {
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        c.once("connect", resolve);
        c.once("error", reject);
        c.once("close", () => reject(new Error("connection closed")));
      });
      c.removeAllListeners();
      await c.endAsync(true);
      return connack.properties?.receiveMaximum ?? 65_535;
    } catch (err) {
      // Ended, and deaf to the connack timer it may still fire (an unheard 'error' would throw).
      c.removeAllListeners();
      c.on("error", () => undefined);
      c.end(true);
      if (Date.now() > deadline) throw new Error(`no MQTT broker answered at ${url}: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Starts Mosquitto with an anonymous loopback listener plus `confFiles` (their settings, in
 * order). It runs detached, in a session of its own, as the service it stands for: with the
 * kernel's autogroup scheduling (on by default) a child in the caller's session would share one
 * CPU share with it, where a broker started as a service has its own.
 */
export async function startMosquitto(confFiles: string[]): Promise<PrivateMosquitto> {
  const bin = mosquittoBinary();
  if (!bin) throw new Error("mosquitto is not installed (apt-get install -y mosquitto)");
  const dir = mkdtempSync(join(tmpdir(), "syspark-mosquitto-"));
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  // `user`: started by root, Mosquitto would switch to its own user, and a process that changes
  // user loses the kernel's parent-death signal that spawnOwned gives it.
  const lines = [`listener ${port} 127.0.0.1`, `user ${userInfo().username}`, "allow_anonymous true", "persistence false", "log_dest stderr", "log_type error", ...confFiles.map((f) => readFileSync(f, "utf8"))];
  writeFileSync(conf, lines.join("\n"));
  // Detached, yet owned: it dies with its caller even when the caller never stops it (spawnOwned).
  const child = spawnOwned(bin, ["-c", conf], { stdio: ["ignore", "ignore", "inherit"], detached: true });
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let failedAtStart: (code: number | null) => void = () => undefined;
  const exited = new Promise<never>((_, reject) => {
    failedAtStart = (code) => reject(new Error(`mosquitto exited (${code}) at start: check ${confFiles.join(", ")}`));
    child.once("exit", failedAtStart);
  });
  const url = `mqtt://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const receiveMaximum = await Promise.race([receiveMaximumAt(url, 5000), exited]);
    child.off("exit", failedAtStart);
    return { url, host: "127.0.0.1", port, pid: child.pid, receiveMaximum, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
