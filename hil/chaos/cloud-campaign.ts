/**
 * The cloud crash campaign (issue 13): the cloud as production runs it — `syspark cloud` in a
 * process of its own, on the PostgreSQL server (a database of its own, created and dropped), a
 * private Mosquitto with SysPark's cloud-broker settings, and the Stripe test emulator in ANOTHER
 * process (STRIPE_API_BASE) so that, like Stripe, it outlives the cloud. While a site's lanes
 * and drivers (`SiteDriver`) push exits through it, the cloud is killed with SIGKILL at seeded
 * moments and restarted at once with the same instance id (it resumes its MQTT session). At the
 * end, after a bounded settle time, every exit is checked against the database and the emulator
 * (`tallyExits`), and `syspark audit verify` must pass on that database.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import Stripe from "stripe";
import { openDatabase } from "../../cloud/db/index";
import { seedSite } from "../../cloud/server/seed";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../../host/mosquitto";
import { freePort } from "../../host/ports";
import { which } from "../../host/tools";
import { CampaignPrerequisiteError, percentile, round1, seededRandom, tallyExits, type CampaignOptions, type CampaignResult, type ExitRecord } from "./campaign";
import { startPart, SYSPARK_BIN, type PartProcess } from "./child";
import { parkedVehicles, seedParkedVehicles } from "./paid-exit";
import { SiteDriver } from "./site-driver";

export const CHAOS_PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface CloudCampaignOptions extends CampaignOptions {
  /** A lane gives an exit up after this long without an answer (default 45 s: a restart on a loaded machine takes seconds). */
  exitTimeoutMs?: number;
  /** After the last exit, how long the cloud may take to close what is still in flight (default 15 s). */
  settleMs?: number;
  /** Aborting gives up the exits in flight and stops everything the campaign started (a test's `after`). */
  signal?: AbortSignal;
}

/** Extra figures the cloud campaign reports beside the shared ones. */
export interface CloudCampaignResult extends CampaignResult {
  restart_p50_ms: number;
  restart_max_ms: number;
  pay_retries: number;
  http_5xx: number;
  late_deliveries: number;
  /** Where the parts' logs were kept (only when something went wrong). */
  logs?: string;
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

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SYSPARK_BIN, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}`.trim() });
    });
  });
}

/** Kill moments: after which started exit each kill lands (seeded, spread over the run, never the first or last exits). */
export function killSchedule(exits: number, kills: number, rand: () => number): number[] {
  const at: number[] = [];
  for (let i = 0; i < kills; i++) {
    const slot = exits / (kills + 1);
    at.push(Math.max(1, Math.min(exits - 1, Math.round(slot * (i + 1) + (rand() - 0.5) * slot * 0.8))));
  }
  return at.sort((a, b) => a - b);
}

/** The names, keys and paths of one campaign run. */
interface CloudRun {
  tag: string;
  dbName: string;
  siteId: string;
  dbUrl: string;
  workDir: string;
  apiKey: string;
  webhookSecret: string;
}

/** What the campaign started, for the teardown (the cloud is the one running now, after restarts). */
interface CloudParts {
  broker?: PrivateMosquitto;
  emulator?: PartProcess;
  cloud?: PartProcess;
  driver?: SiteDriver;
  sql?: postgres.Sql;
  dbCreated: boolean;
  keepLogs: boolean;
}

/** How the parts reach each other once started. */
interface CloudWiring {
  cloudUrl: string;
  emulatorPort: number;
  baseEnv: NodeJS.ProcessEnv;
  /** A new cloud process on the same port, database and instance id. */
  startCloudPart: () => PartProcess;
}

export async function runCloudCampaign(opts: CloudCampaignOptions): Promise<CloudCampaignResult> {
  const started = performance.now();
  const log = opts.log ?? (() => undefined);
  const lanes = opts.lanes ?? 8;
  const seed = opts.seed ?? 1;
  const rand = seededRandom(seed);
  const settleMs = opts.settleMs ?? 15_000;
  if (!which("mosquitto") && !which("/usr/sbin/mosquitto")) throw new CampaignPrerequisiteError("mosquitto", "mosquitto is not installed (apt-get install -y mosquitto)");
  const run = newCloudRun();
  const parts: CloudParts = { dbCreated: false, keepLogs: true };
  try {
    const vehicles = await prepareDatabase(run, parts, opts.exits);
    const wiring = await startParts(run, parts);
    log(`cloud campaign: ${opts.exits} exits on ${lanes} lanes, ${opts.kills} SIGKILLs (seed ${seed}); PostgreSQL database ${run.dbName}, Mosquitto ${parts.broker!.url}, Stripe emulator :${wiring.emulatorPort} (own process), logs ${run.workDir}`);
    const stripe = new Stripe(run.apiKey, { host: "127.0.0.1", port: wiring.emulatorPort, protocol: "http", maxNetworkRetries: 2, timeout: 10_000 });
    const { kills, restartMs } = await driveWithKills(opts, parts, wiring, { siteId: run.siteId, stripe, vehicles, lanes, rand, log });
    opts.signal?.throwIfAborted();
    await settle(parts.sql!, run.siteId, settleMs);
    await parts.cloud!.stop();
    const driver = parts.driver!;
    const records = await exitRecords(parts.sql!, stripe, run.siteId, driver);
    const tally = tallyExits(records);
    const audit = await runCli(["audit", "verify"], { ...wiring.baseEnv, DATABASE_URL: run.dbUrl });
    const problems = [...tally.problems];
    if (audit.code !== 0) problems.push(`audit verify exited ${audit.code}: ${audit.out.split("\n").slice(-3).join(" | ")}`);
    else log(`  ${audit.out.split("\n").filter((l) => l.startsWith("audit chain")).join(" ")}`);
    if (kills < opts.kills) problems.push(`only ${kills} of ${opts.kills} kills happened`);
    const latencies = driver.traces.flatMap((t) => (t.latencyMs !== undefined ? [t.latencyMs] : []));
    const clean = tally.lost + tally.doubled + tally.stuck === 0 && audit.code === 0;
    parts.keepLogs = !clean;
    return {
      part: "cloud",
      exits: driver.traces.length,
      kills,
      lost: tally.lost,
      doubled: tally.doubled,
      stuck: tally.stuck,
      p50_ms: round1(percentile(latencies, 50)),
      p99_ms: round1(percentile(latencies, 99)),
      audit_ok: audit.code === 0,
      problems,
      wall_s: round1((performance.now() - started) / 1000),
      restart_p50_ms: Math.round(percentile(restartMs, 50)),
      restart_max_ms: Math.round(Math.max(0, ...restartMs)),
      pay_retries: driver.traces.reduce((a, t) => a + t.payRetries, 0),
      http_5xx: driver.traces.reduce((a, t) => a + t.http5xx, 0),
      late_deliveries: driver.lateDeliveries,
      ...(parts.keepLogs ? { logs: run.workDir } : {}),
    };
  } finally {
    await stopParts(run, parts);
  }
}

function newCloudRun(): CloudRun {
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

/** The run's own database: schema (migrations) and the site, before the cloud starts; vehicles parked two hours ago. */
async function prepareDatabase(run: CloudRun, parts: CloudParts, exits: number): Promise<ReturnType<typeof parkedVehicles>> {
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

/** The private Mosquitto, the Stripe emulator in its own process, and the cloud. */
async function startParts(run: CloudRun, parts: CloudParts): Promise<CloudWiring> {
  const broker = parts.broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
  const cloudPort = await freePort();
  const emulatorPort = await freePort();
  const cloudUrl = `http://127.0.0.1:${cloudPort}`;
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
    SYSPARK_INSTANCE_ID: `chaos-${run.tag}`,
    SYSPARK_AUTH_SECRET: randomBytes(24).toString("hex"),
  };
  const startCloudPart = () => startPart({ name: "cloud", args: ["cloud", "--port", String(cloudPort)], env: cloudEnv, ready: /SysPark cloud is up/, readyTimeoutMs: 90_000, logFile: join(run.workDir, "cloud.log") });
  parts.cloud = startCloudPart();
  await parts.cloud.ready;
  return { cloudUrl, emulatorPort, baseEnv, startCloudPart };
}

/**
 * The site's drivers push every exit through the cloud while the killer SIGKILLs it at the
 * scheduled moments and restarts it at once. Returns the kills done and each restart's time.
 */
async function driveWithKills(
  opts: CloudCampaignOptions, parts: CloudParts, wiring: CloudWiring,
  o: { siteId: string; stripe: Stripe; vehicles: ReturnType<typeof parkedVehicles>; lanes: number; rand: () => number; log: (line: string) => void },
): Promise<{ kills: number; restartMs: number[] }> {
  const { rand, log } = o;
  // Kills land at seeded moments while exits flow: after the n-th exit has started, plus a seeded delay.
  const schedule = killSchedule(opts.exits, opts.kills, rand);
  const restartMs: number[] = [];
  let kills = 0;
  let startedExits = 0;
  let wakeKiller: (() => void) | undefined;
  const driver = parts.driver = await SiteDriver.connect({
    mqttUrl: parts.broker!.url,
    cloudUrl: wiring.cloudUrl,
    siteId: o.siteId,
    stripe: o.stripe,
    lanes: o.lanes,
    vehicles: o.vehicles,
    exitTimeoutMs: opts.exitTimeoutMs ?? 45_000,
    onExitStarted: (n) => {
      startedExits = n;
      wakeKiller?.();
    },
  });
  let driving = true;
  const killer = (async () => {
    for (const at of schedule) {
      while (driving && startedExits < at) await new Promise<void>((resolve) => (wakeKiller = resolve));
      if (!driving) return;
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 400)));
      await parts.cloud!.kill9();
      kills++;
      const t = performance.now();
      parts.cloud = wiring.startCloudPart();
      await parts.cloud.ready;
      restartMs.push(performance.now() - t);
      log(`  kill ${kills}/${schedule.length} at exit ${startedExits}/${opts.exits}: cloud back in ${(restartMs[restartMs.length - 1] / 1000).toFixed(1)} s`);
    }
  })();
  // A cloud that does not come back ends the run (no lane waits out its timeouts for nothing).
  killer.catch(() => driver.stop());
  const abort = () => {
    driving = false;
    wakeKiller?.();
    driver.abort();
  };
  opts.signal?.addEventListener("abort", abort, { once: true });
  if (opts.signal?.aborted) abort();
  const progress = setInterval(() => log(`  ${driver.traces.filter((t) => t.letOut).length}/${opts.exits} exits done, ${kills} kills`), 10_000);
  try {
    await driver.run();
  } finally {
    clearInterval(progress);
    driving = false;
    wakeKiller?.();
  }
  await killer;
  return { kills, restartMs };
}

/** Settle: what is still in flight (an exit/done behind a restart) gets a bounded time to land. */
async function settle(sql: postgres.Sql, siteId: string, settleMs: number): Promise<void> {
  const settleEnd = performance.now() + settleMs;
  for (;;) {
    const [{ open }] = await sql<{ open: number }[]>`SELECT count(*)::int AS open FROM sessions WHERE site_id = ${siteId} AND status <> 'closed'`;
    if (open === 0 || performance.now() > settleEnd) break;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Everything the campaign started, stopped; its database dropped; its logs kept only when something went wrong. */
async function stopParts(run: CloudRun, parts: CloudParts): Promise<void> {
  await parts.driver?.close().catch(() => undefined);
  await parts.cloud?.kill9();
  await parts.emulator?.stop(3000);
  await parts.broker?.stop();
  await parts.sql?.end({ timeout: 5 });
  if (parts.dbCreated) await dropDatabase(run.dbName);
  if (!parts.keepLogs) rmSync(run.workDir, { recursive: true, force: true });
}

/** One record per driven exit: what the lane saw, what the database and the emulator say. */
async function exitRecords(sql: postgres.Sql, stripe: Stripe, siteId: string, driver: SiteDriver): Promise<ExitRecord[]> {
  const status = new Map((await sql<{ session_id: string; status: string }[]>`SELECT session_id, status FROM sessions WHERE site_id = ${siteId}`).map((r) => [r.session_id, r.status]));
  // Queued audit rows are chained in batches: count a close wherever it is (one statement, one snapshot).
  const closes = new Map(
    (
      await sql<{ session_id: string; n: number }[]>`
        SELECT session_id, count(*)::int AS n FROM (
          SELECT session_id FROM audit_log WHERE kind = 'session.closed'
          UNION ALL SELECT session_id FROM audit_pending WHERE kind = 'session.closed'
        ) c GROUP BY session_id`
    ).map((r) => [r.session_id, r.n]),
  );
  const paidRows = new Map((await sql<{ session_id: string; n: number }[]>`SELECT session_id, count(*)::int AS n FROM payments WHERE state = 'paid' GROUP BY session_id`).map((r) => [r.session_id, r.n]));
  // Money actually taken: succeeded PaymentIntents at the emulator, by the session in their metadata.
  const captured = new Map<string, number>();
  for await (const pi of stripe.paymentIntents.list({ limit: 100 })) {
    const sid = pi.metadata?.session_id;
    if (pi.status === "succeeded" && sid) captured.set(sid, (captured.get(sid) ?? 0) + 1);
  }
  return driver.traces.map((t) => {
    const sid = t.vehicle.sessionId;
    return {
      key: `${sid} (lane ${t.laneId}, plate ${t.vehicle.plate}${t.failure ? `; ${t.failure}` : ""}; payment/req seen ${t.paymentReqs}, payment/success seen ${t.successesSeen})`,
      successesActedOn: t.successesActedOn,
      letOut: t.letOut,
      status: status.get(sid) ?? null,
      closes: closes.get(sid) ?? 0,
      paymentsCaptured: Math.max(captured.get(sid) ?? 0, paidRows.get(sid) ?? 0),
    };
  });
}
