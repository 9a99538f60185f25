/**
 * Shared helpers for the gateway tests: the real Mosquitto (127.0.0.1:1883, CI sets
 * SYSPARK_REQUIRE_MOSQUITTO=1 so a missing broker fails instead of skipping), a TCP proxy the
 * tests stop and start to cut the cloud link, unique site ids, and child processes.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { parseSiteConfig } from "../../gateway/config/load";
import type { SiteConfig } from "../../gateway/config/schema";
import { spawnOwned } from "../../host/tools";

export const MOSQUITTO = { host: "127.0.0.1", port: 1883 };
export const MOSQUITTO_URL = `mqtt://${MOSQUITTO.host}:${MOSQUITTO.port}`;

export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

export async function requireMosquittoOrSkip(ctx: Mocha.Context): Promise<void> {
  if (await tcpReachable(MOSQUITTO.host, MOSQUITTO.port)) return;
  if (process.env.SYSPARK_REQUIRE_MOSQUITTO === "1") throw new Error(`Mosquitto is required at ${MOSQUITTO_URL} (SYSPARK_REQUIRE_MOSQUITTO=1): apt-get install -y mosquitto`);
  console.warn(`      skipped: no MQTT broker at ${MOSQUITTO_URL} (apt-get install -y mosquitto)`);
  ctx.skip();
}

/** A site id no other run on the shared Mosquitto uses. */
export function uniqueSiteId(tag = "t"): string {
  return `${tag}-${process.pid.toString(36)}-${randomBytes(4).toString("hex")}`.slice(0, 32);
}

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `syspark-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A TCP proxy in front of the cloud broker: stop() cuts every connection and refuses new ones. */
export { TcpProxy } from "../../hil/harness/tcp-proxy";

export async function connectMqtt(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: `syspark-test-${randomBytes(6).toString("hex")}`, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  return client;
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
  userProperties?: Record<string, string | string[]>;
}

/** Subscribe and collect everything that arrives (in order). */
export async function collect(client: MqttClient, filter: string, qos: 0 | 1 | 2 = 2): Promise<Received[]> {
  const got: Received[] = [];
  client.on("message", (topic, payload, packet) => {
    if (topicMatchesFilter(filter, topic)) got.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos, userProperties: packet.properties?.userProperties });
  });
  await client.subscribeAsync(filter, { qos });
  return got;
}

function topicMatchesFilter(filter: string, topic: string): boolean {
  const f = filter.split("/"), t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length || (f[i] !== "+" && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/** A valid site config for tests (anonymous cloud, free site port, fast reconnects). */
export function testConfig(o: { siteId: string; cloudUrl: string; dataDir: string; users?: unknown[]; allowAnonymous?: boolean; fsync?: boolean }): SiteConfig {
  return parseSiteConfig({
    site_id: o.siteId,
    data_dir: o.dataDir,
    lanes: [{ id: "exit-1", exit_controller: { port: "/dev/null-ec" }, barrier_executor: { port: "/dev/null-be" } }],
    site_broker: { host: "127.0.0.1", port: 0, allow_anonymous: o.allowAnonymous ?? false, users: o.users ?? [] },
    cloud: { url: o.cloudUrl, anonymous: true, reconnect_ms: 200, keepalive_s: 5, connect_timeout_ms: 2000, session_expiry_s: 60 },
    bridge: { heartbeat_s: 0 },
    outbox: { fsync: o.fsync ?? true },
  });
}

/**
 * Run a TypeScript fixture in a child Node process (through tsx); lines on stdout are handed to
 * onLine. The child dies with the test run, should a failing test not stop it.
 */
export function spawnTs(file: string, args: string[], onLine: (line: string) => void, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawnOwned(process.execPath, ["--import", "tsx", file, ...args], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  let buf = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  return child;
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}
