/**
 * The parts of the cloud crash campaign (hil/chaos/cloud-campaign.ts), started and stopped: the
 * run's own PostgreSQL database, a private Mosquitto with SysPark's cloud-broker settings, the
 * Stripe test emulator in its own process, and N `syspark cloud` instances — each with its own
 * HTTP port and its own SYSPARK_INSTANCE_ID (its MQTT session ids derive from it), all in the
 * cloud's one share group (`syspark cloud` always uses the default "syspark-cloud") on the same
 * database, broker and Stripe keys. With N > 1 a private HAProxy with the deployed balancer's
 * settings (host/haproxy.ts, deploy/cloud-lb/haproxy.cfg) stands in front of them, and the site's
 * drivers and the emulator's webhooks go through it, as they do in a deployment; with N = 1 they
 * talk to the one cloud directly (the campaign as it ran before issue 20, needing no haproxy).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { openDatabase } from "../../cloud/db/index";
import { seedSite } from "../../cloud/server/seed";
import { startHaproxy, type PrivateHaproxy } from "../../host/haproxy";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../../host/mosquitto";
import { distinctFreePorts } from "../../host/ports";
import { CampaignPrerequisiteError } from "./campaign";
import { startPart, SYSPARK_BIN, type PartProcess } from "./child";
import { parkedVehicles, seedParkedVehicles } from "./paid-exit";
import type { SiteDriver } from "./site-driver";

export const CHAOS_PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** The names, keys and paths of one campaign run. */
export interface CloudRun {
  tag: string;
  dbName: string;
  siteId: string;
  dbUrl: string;
  workDir: string;
  apiKey: string;
  webhookSecret: string;
}

/** One `syspark cloud` of the campaign. A restart keeps its number, port and instance id. */
export interface CloudInstance {
  /** 1-based, as the logs name it ("cloud 2"). */
  readonly n: number;
  readonly instanceId: string;
  readonly port: number;
  /** The process running now (a new one after each restart). */
  process: PartProcess;
  /** A new process on the same port, database and instance id (its `ready` not awaited). */
  readonly start: () => PartProcess;
}

/** What the campaign started, for the teardown. */
export interface CloudParts {
  broker?: PrivateMosquitto;
  emulator?: PartProcess;
  clouds: CloudInstance[];
  balancer?: PrivateHaproxy;
  driver?: SiteDriver;
  sql?: postgres.Sql;
  dbCreated: boolean;
  keepLogs: boolean;
}

/** How the parts reach each other once started. */
export interface CloudWiring {
  /** Where the site's drivers and the emulator's webhooks go: the balancer, or the one cloud. */
  cloudUrl: string;
  emulatorPort: number;
  baseEnv: NodeJS.ProcessEnv;
}

function databaseUrl(base: string, name: string): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a database of its own on the server; a missing server is a prerequisite error. */
async function createDatabase(name: string): Promise<void> {
  const admin = postgres(CHAOS_PG_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ECONNREFUSED" || code === "CONNECT_TIMEOUT" || code === "ENOTFOUND" || code === "28P01" || code === "3D000") {
      throw new CampaignPrerequisiteError("postgres", `PostgreSQL not reachable at ${new URL(CHAOS_PG_URL).host} (${(err as Error).message})`);
    }
    throw err;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

async function dropDatabase(name: string): Promise<void> {
  const admin = postgres(CHAOS_PG_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SYSPARK_BIN, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}`.trim() });
    });
  });
}

export function newCloudRun(): CloudRun {
  const tag = randomBytes(4).toString("hex");
  const dbName = `syspark_chaos_${tag}`;
  return {
    tag, dbName,
    siteId: `chaos-${tag.slice(0, 6)}`,
    dbUrl: databaseUrl(CHAOS_PG_URL, dbName),
    workDir: mkdtempSync(join(tmpdir(), "syspark-chaos-cloud-")),
    apiKey: `sk_test_chaos_${tag}`,
    webhookSecret: `whsec_chaos${randomBytes(16).toString("hex")}`,
  };
}

/** The run's own database: schema (migrations) and the site, before the clouds start; vehicles parked two hours ago. */
export async function prepareDatabase(run: CloudRun, parts: CloudParts, exits: number): Promise<ReturnType<typeof parkedVehicles>> {
  await createDatabase(run.dbName);
  parts.dbCreated = true;
  const db = await openDatabase({ databaseUrl: run.dbUrl, max: 2 });
  const vehicles = parkedVehicles(run.siteId, exits, "C");
  try {
    await seedSite(db, { siteId: run.siteId, name: "Chaos", timeZone: "Europe/Paris", currency: "EUR" });
    await seedParkedVehicles(db.sql, run.siteId, vehicles);
  } finally {
    await db.close();
  }
  parts.sql = postgres(run.dbUrl, { max: 2, onnotice: () => undefined });
  return vehicles;
}

/**
 * Until the balancer has answered GET /health with 200 `2 × n` times in a row (round robin: each
 * instance at least once, seen up by its checks), so that the first exits meet no start-up 503.
 */
async function balancerServing(url: string, n: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let inARow = 0;
  let last = "";
  while (inARow < 2 * n) {
    if (performance.now() > deadline) throw new Error(`the balancer ${url} did not serve /health from all ${n} clouds within ${timeoutMs} ms (last: ${last})`);
    try {
      const r = await fetch(`${url}/health`);
      await r.arrayBuffer();
      last = `HTTP ${r.status}`;
      inARow = r.status === 200 ? inARow + 1 : 0;
    } catch (err) {
      last = (err as Error).message;
      inARow = 0;
    }
    if (inARow === 0) await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The private Mosquitto, the balancer (N > 1), the Stripe emulator in its own process (its
 * webhooks to the balancer, or to the one cloud), and the N clouds, every one up.
 */
export async function startParts(run: CloudRun, parts: CloudParts, instances: number): Promise<CloudWiring> {
  const broker = parts.broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
  // The emulator's port too: freePort() alone could give it one of the clouds'.
  const [emulatorPort, ...ports] = await distinctFreePorts(1 + instances);
  if (instances > 1) parts.balancer = await startHaproxy(ports.map((p) => `127.0.0.1:${p}`));
  const cloudUrl = parts.balancer?.url ?? `http://127.0.0.1:${ports[0]}`;
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn" };
  delete baseEnv.DATABASE_URL;
  delete baseEnv.MQTT_URL;
  parts.emulator = startPart({
    name: "stripe-emulator",
    args: ["stripe-emulator", "--port", String(emulatorPort), "--api-key", run.apiKey, "--webhook-url", `${cloudUrl}/webhooks/stripe`, "--webhook-attempts", "20"],
    env: { ...baseEnv, STRIPE_WEBHOOK_SECRET: run.webhookSecret },
    ready: /API:\s+http/,
    readyTimeoutMs: 60_000,
    logFile: join(run.workDir, "stripe-emulator.log"),
  });
  await parts.emulator.ready;
  const cloudEnv: NodeJS.ProcessEnv = {
    ...baseEnv,
    DATABASE_URL: run.dbUrl,
    MQTT_URL: broker.url,
    STRIPE_API_BASE: `http://127.0.0.1:${emulatorPort}`,
    STRIPE_SECRET_KEY: run.apiKey,
    STRIPE_WEBHOOK_SECRET: run.webhookSecret,
    SYSPARK_AUTH_SECRET: randomBytes(24).toString("hex"),
  };
  for (const [i, port] of ports.entries()) {
    const n = i + 1;
    // One cloud keeps the names it had before issue 20 (its instance id, cloud.log).
    const instanceId = instances === 1 ? `chaos-${run.tag}` : `chaos-${run.tag}-${n}`;
    const logFile = join(run.workDir, instances === 1 ? "cloud.log" : `cloud-${n}.log`);
    const env = { ...cloudEnv, SYSPARK_INSTANCE_ID: instanceId };
    const start = () => startPart({ name: `cloud ${n}`, args: ["cloud", "--port", String(port)], env, ready: /SysPark cloud is up/, readyTimeoutMs: 90_000, logFile });
    parts.clouds.push({ n, instanceId, port, process: start(), start });
  }
  await Promise.all(parts.clouds.map((c) => c.process.ready));
  if (parts.balancer) await balancerServing(parts.balancer.url, instances, 30_000);
  return { cloudUrl, emulatorPort, baseEnv };
}

/** Everything the campaign started, stopped; its database dropped; its logs kept only when something went wrong. */
export async function stopParts(run: CloudRun, parts: CloudParts): Promise<void> {
  await parts.driver?.close().catch(() => undefined);
  await Promise.all(parts.clouds.map((c) => c.process.kill9()));
  await parts.balancer?.stop();
  await parts.emulator?.stop(3000);
  await parts.broker?.stop();
  await parts.sql?.end({ timeout: 5 });
  if (parts.dbCreated) await dropDatabase(run.dbName);
  if (!parts.keepLogs) rmSync(run.workDir, { recursive: true, force: true });
}
