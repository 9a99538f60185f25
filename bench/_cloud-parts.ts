/**
 * The cloud under test as production runs it, every part in a process of its own so that the
 * CPU each one spends per paid exit can be read apart (/proc): N `syspark cloud` instances on a
 * database of their own (created, seeded, ANALYZEd, dropped) behind a private HAProxy with the
 * deployment's settings (host/haproxy.ts, deploy/cloud-lb/haproxy.cfg), a private Mosquitto with
 * SysPark's cloud-broker settings (deploy/cloud-broker/syspark-flow.conf), and
 * `syspark stripe-emulator` (STRIPE_API_BASE) with no webhook sender: the load driver signs and
 * posts the webhooks itself, as Stripe would, to the balancer.
 *
 * The instances share the MQTT share group (the cloud's default) and each has its own
 * SYSPARK_INSTANCE_ID (its MQTT session ids derive from it) and HTTP port, as a deployment's do.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { openDatabase } from "../cloud/db/index";
import { upsertLane } from "../cloud/db/sites";
import { seedSite } from "../cloud/server/seed";
import { startPart, type PartProcess } from "../hil/chaos/child";
import { parkedVehicles, seedParkedVehicles, type ParkedVehicle } from "../hil/chaos/paid-exit";
import { startHaproxy, type PrivateHaproxy } from "../host/haproxy";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../host/mosquitto";
import { distinctFreePorts } from "../host/ports";

const PROFILE_PRELOAD = fileURLToPath(new URL("./_cpu-profile-preload.mjs", import.meta.url));

export const BENCH_PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** One exit the driver will make: which site, which lane, which parked vehicle. */
export interface BenchExit extends ParkedVehicle {
  siteId: string;
  laneId: string;
}

export interface CloudPartsOptions {
  exits: number;
  sites: number;
  lanes: number;
  /** MQTT consumer connections of EACH instance. */
  consumers: number;
  /** `syspark cloud` processes behind the balancer (1..8). */
  instances: number;
  logLevel: string;
  /** Load bench/_cpu-profile-preload.mjs into the cloud: SIGUSR2 starts its CPU profile, a second one writes it. */
  profile?: boolean;
}

export interface CloudParts {
  dbName: string;
  /** The balancer: where the driver's HTTP calls (pay API, webhooks) go, whatever N. */
  cloudUrl: string;
  /** Each instance directly (for its own /metrics: through the balancer a scrape lands on any one). */
  instanceUrls: string[];
  mqttUrl: string;
  emulatorPort: number;
  apiKey: string;
  webhookSecret: string;
  /** In the order the driver makes them: sites and lanes interleaved, so that every lane is busy at once. */
  exits: BenchExit[];
  siteIds: string[];
  /** `clouds[i]` is instance i + 1 (cloud_1, cloud_2… in the CPU figures). */
  pids: { clouds: number[]; emulator: number; mosquitto: number | undefined; haproxy: number | undefined };
  /** The bench's own database (connect only outside the load window: its commits would be counted as the cloud's). */
  dbUrl: string;
  /** Where the parts' logs are (the cloud's at its production level). */
  workDir: string;
  /** Where the cloud writes its CPU profile (with `profile`: one instance only). */
  profileFile?: string;
  stop: (keepLogs: boolean) => Promise<void>;
}

function databaseUrl(name: string): string {
  const u = new URL(BENCH_PG_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(f: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(BENCH_PG_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  try {
    return await f(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The exits, interleaved over sites then lanes; each site's vehicles parked two hours ago. */
function planExits(tag: string, o: CloudPartsOptions): { siteIds: string[]; perSite: ParkedVehicle[][]; exits: BenchExit[] } {
  const siteIds = Array.from({ length: o.sites }, (_, s) => `bench-${tag}-${s}`);
  const perSite = siteIds.map((siteId, s) => parkedVehicles(siteId, Math.ceil((o.exits - s) / o.sites)));
  const exits: BenchExit[] = [];
  for (let i = 0; i < o.exits; i++) {
    const s = i % o.sites;
    const k = Math.floor(i / o.sites);
    exits.push({ ...perSite[s][k], siteId: siteIds[s], laneId: `L${1 + (k % o.lanes)}` });
  }
  return { siteIds, perSite, exits };
}

async function seedDatabase(dbUrl: string, siteIds: string[], perSite: ParkedVehicle[][], lanes: number): Promise<void> {
  const db = await openDatabase({ databaseUrl: dbUrl, max: 2 }); // runs the migrations
  try {
    for (const [s, siteId] of siteIds.entries()) {
      await seedSite(db, { siteId, name: `Bench ${s}`, timeZone: "Europe/Paris", currency: "EUR" });
      for (let l = 2; l <= lanes; l++) await upsertLane(db.sql, { siteId, laneId: `l${l}`, kind: "exit", name: `L${l}` });
      await seedParkedVehicles(db.sql, siteId, perSite[s]);
    }
    // A fresh database has no statistics (and this server may run without autovacuum): plan on real ones.
    await db.sql`ANALYZE`;
  } finally {
    await db.close();
  }
}

/** Starts the instances one after the other (one set of start-up statements at a time on 2 cores), each on its own port and instance id. */
async function startInstances(n: number, ports: number[], consumers: number, env: (i: number) => NodeJS.ProcessEnv, workDir: string, started: PartProcess[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const cloud = startPart({
      name: `cloud_${i + 1}`,
      args: ["cloud", "--port", String(ports[i]), "--mqtt-consumers", String(consumers)],
      env: env(i),
      ready: /SysPark cloud is up/,
      readyTimeoutMs: 90_000,
      logFile: join(workDir, n === 1 ? "cloud.log" : `cloud-${i + 1}.log`),
    });
    started.push(cloud);
    await cloud.ready;
  }
}

export async function startCloudParts(o: CloudPartsOptions): Promise<CloudParts> {
  if (!Number.isInteger(o.instances) || o.instances < 1 || o.instances > 8) throw new Error(`--instances: each count must be a whole number from 1 to 8, got ${o.instances}`);
  if (o.profile && o.instances !== 1) throw new Error("--profile records one cloud instance's profile: use it with --instances 1");
  const tag = randomBytes(3).toString("hex");
  const dbName = `syspark_bench_${tag}`;
  const dbUrl = databaseUrl(dbName);
  const workDir = mkdtempSync(join(tmpdir(), "syspark-bench-cloud-"));
  const apiKey = `sk_test_bench_${tag}`;
  const webhookSecret = `whsec_bench${randomBytes(16).toString("hex")}`;
  const authSecret = randomBytes(24).toString("hex"); // one for all: a token one instance signs, another verifies
  const { siteIds, perSite, exits } = planExits(tag, o);
  const profileFile = o.profile ? join(workDir, "cloud.cpuprofile") : undefined;
  // node refuses --cpu-prof in NODE_OPTIONS; an --import of the profiler's switch it accepts.
  const profileEnv = profileFile ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${PROFILE_PRELOAD}`.trim(), SYSPARK_BENCH_CPU_PROF_FILE: profileFile } : {};
  let broker: PrivateMosquitto | undefined;
  let emulator: PartProcess | undefined;
  let balancer: PrivateHaproxy | undefined;
  const clouds: PartProcess[] = [];
  let dbCreated = false;
  const stop = async (keepLogs: boolean) => {
    await balancer?.stop();
    await Promise.all(clouds.map((c) => c.stop(10_000)));
    await emulator?.stop(3000);
    await broker?.stop();
    if (dbCreated) await admin((a) => a.unsafe(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));
    if (!keepLogs) rmSync(workDir, { recursive: true, force: true });
  };
  try {
    await admin((a) => a.unsafe(`CREATE DATABASE "${dbName}"`));
    dbCreated = true;
    await seedDatabase(dbUrl, siteIds, perSite, o.lanes);
    broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
    const [emulatorPort, ...cloudPorts] = await distinctFreePorts(1 + o.instances);
    const baseEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: o.logLevel };
    delete baseEnv.DATABASE_URL;
    delete baseEnv.MQTT_URL;
    delete baseEnv.SYSPARK_ENV;
    delete baseEnv.NODE_ENV;
    emulator = startPart({
      name: "stripe-emulator",
      args: ["stripe-emulator", "--port", String(emulatorPort), "--api-key", apiKey],
      // It stands for Stripe: its own logging is no part of the cost under test.
      env: { ...baseEnv, LOG_LEVEL: "warn", STRIPE_WEBHOOK_SECRET: webhookSecret },
      ready: /API:\s+http/,
      readyTimeoutMs: 60_000,
      logFile: join(workDir, "stripe-emulator.log"),
    });
    await emulator.ready;
    const cloudEnv = (i: number): NodeJS.ProcessEnv => ({
      ...baseEnv,
      DATABASE_URL: dbUrl,
      MQTT_URL: (broker as PrivateMosquitto).url,
      STRIPE_API_BASE: `http://127.0.0.1:${emulatorPort}`,
      STRIPE_SECRET_KEY: apiKey,
      STRIPE_WEBHOOK_SECRET: webhookSecret,
      // Its MQTT session ids derive from it: two instances with one id would take each other's sessions over.
      SYSPARK_INSTANCE_ID: `bench-${tag}-${i + 1}`,
      SYSPARK_AUTH_SECRET: authSecret,
      ...profileEnv,
    });
    await startInstances(o.instances, cloudPorts, o.consumers, cloudEnv, workDir, clouds);
    balancer = await startHaproxy(cloudPorts.map((p) => `127.0.0.1:${p}`));
    return {
      dbName, cloudUrl: balancer.url, instanceUrls: cloudPorts.map((p) => `http://127.0.0.1:${p}`), mqttUrl: broker.url, emulatorPort, apiKey, webhookSecret, exits, siteIds,
      pids: { clouds: clouds.map((c) => c.pid), emulator: emulator.pid, mosquitto: broker.pid, haproxy: balancer.pid }, dbUrl, workDir, profileFile, stop,
    };
  } catch (err) {
    await stop(true).catch(() => undefined);
    throw new Error(`${(err as Error).message} (parts' logs: ${workDir})`, { cause: err });
  }
}
