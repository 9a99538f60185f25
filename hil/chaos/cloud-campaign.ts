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

export async function runCloudCampaign(opts: CloudCampaignOptions): Promise<CloudCampaignResult> {
  const started = performance.now();
  const log = opts.log ?? (() => undefined);
  const lanes = opts.lanes ?? 8;
  const seed = opts.seed ?? 1;
  const rand = seededRandom(seed);
  const exitTimeoutMs = opts.exitTimeoutMs ?? 45_000;
  const settleMs = opts.settleMs ?? 15_000;
  if (!which("mosquitto") && !which("/usr/sbin/mosquitto")) throw new CampaignPrerequisiteError("mosquitto", "mosquitto is not installed (apt-get install -y mosquitto)");

  const tag = randomBytes(4).toString("hex");
  const dbName = `syspark_chaos_${tag}`;
  const siteId = `chaos-${tag.slice(0, 6)}`;
  const dbUrl = databaseUrl(CHAOS_PG_URL, dbName);
  const workDir = mkdtempSync(join(tmpdir(), "syspark-chaos-cloud-"));
  const cloudLog = join(workDir, "cloud.log");
  const emulatorLog = join(workDir, "stripe-emulator.log");
  const apiKey = `sk_test_chaos_${tag}`;
  const webhookSecret = `whsec_chaos${randomBytes(16).toString("hex")}`;

  let broker: PrivateMosquitto | undefined;
  let emulator: PartProcess | undefined;
  let cloud: PartProcess | undefined;
  let driver: SiteDriver | undefined;
  let sql: postgres.Sql | undefined;
  let dbCreated = false;
  let keepLogs = true;
  try {
    await createDatabase(dbName);
    dbCreated = true;
    // Schema (migrations) and the site, before the cloud starts; vehicles parked two hours ago.
    const db = await openDatabase({ databaseUrl: dbUrl, max: 2 });
    const vehicles = parkedVehicles(siteId, opts.exits, "C");
    try {
      await seedSite(db, { siteId, name: "Chaos", timeZone: "Europe/Paris", currency: "EUR" });
      await seedParkedVehicles(db.sql, siteId, vehicles);
    } finally {
      await db.close();
    }
    sql = postgres(dbUrl, { max: 2, onnotice: () => undefined });

    broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
    const cloudPort = await freePort();
    const emulatorPort = await freePort();
    const cloudUrl = `http://127.0.0.1:${cloudPort}`;
    const baseEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn" };
    delete baseEnv.DATABASE_URL;
    delete baseEnv.MQTT_URL;
    emulator = startPart({
      name: "stripe-emulator",
      args: ["stripe-emulator", "--port", String(emulatorPort), "--api-key", apiKey, "--webhook-url", `${cloudUrl}/webhooks/stripe`, "--webhook-attempts", "20"],
      env: { ...baseEnv, STRIPE_WEBHOOK_SECRET: webhookSecret },
      ready: /API:\s+http/,
      readyTimeoutMs: 60_000,
      logFile: emulatorLog,
    });
    await emulator.ready;
    const cloudEnv: NodeJS.ProcessEnv = {
      ...baseEnv,
      DATABASE_URL: dbUrl,
      MQTT_URL: broker.url,
      STRIPE_API_BASE: `http://127.0.0.1:${emulatorPort}`,
      STRIPE_SECRET_KEY: apiKey,
      STRIPE_WEBHOOK_SECRET: webhookSecret,
      SYSPARK_INSTANCE_ID: `chaos-${tag}`,
      SYSPARK_AUTH_SECRET: randomBytes(24).toString("hex"),
    };
    const startCloudPart = () => startPart({ name: "cloud", args: ["cloud", "--port", String(cloudPort)], env: cloudEnv, ready: /SysPark cloud is up/, readyTimeoutMs: 90_000, logFile: cloudLog });
    cloud = startCloudPart();
    await cloud.ready;
    log(`cloud campaign: ${opts.exits} exits on ${lanes} lanes, ${opts.kills} SIGKILLs (seed ${seed}); PostgreSQL database ${dbName}, Mosquitto ${broker.url}, Stripe emulator :${emulatorPort} (own process), logs ${workDir}`);

    const stripe = new Stripe(apiKey, { host: "127.0.0.1", port: emulatorPort, protocol: "http", maxNetworkRetries: 2, timeout: 10_000 });
    // Kills land at seeded moments while exits flow: after the n-th exit has started, plus a seeded delay.
    const schedule = killSchedule(opts.exits, opts.kills, rand);
    const restartMs: number[] = [];
    let kills = 0;
    let startedExits = 0;
    let wakeKiller: (() => void) | undefined;
    driver = await SiteDriver.connect({
      mqttUrl: broker.url,
      cloudUrl,
      siteId,
      stripe,
      lanes,
      vehicles,
      exitTimeoutMs,
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
        await (cloud as PartProcess).kill9();
        kills++;
        const t = performance.now();
        cloud = startCloudPart();
        await cloud.ready;
        restartMs.push(performance.now() - t);
        log(`  kill ${kills}/${schedule.length} at exit ${startedExits}/${opts.exits}: cloud back in ${(restartMs[restartMs.length - 1] / 1000).toFixed(1)} s`);
      }
    })();
    // A cloud that does not come back ends the run (no lane waits out its timeouts for nothing).
    killer.catch(() => (driver as SiteDriver).stop());
    const abort = () => {
      driving = false;
      wakeKiller?.();
      driver?.abort();
    };
    opts.signal?.addEventListener("abort", abort, { once: true });
    if (opts.signal?.aborted) abort();
    const progress = setInterval(() => {
      const d = driver as SiteDriver;
      log(`  ${d.traces.filter((t) => t.letOut).length}/${opts.exits} exits done, ${kills} kills`);
    }, 10_000);
    try {
      await driver.run();
    } finally {
      clearInterval(progress);
      driving = false;
      wakeKiller?.();
    }
    await killer;
    opts.signal?.throwIfAborted();

    // Settle: what is still in flight (an exit/done behind a restart) gets a bounded time to land.
    const settleEnd = performance.now() + settleMs;
    for (;;) {
      const [{ open }] = await sql<{ open: number }[]>`SELECT count(*)::int AS open FROM sessions WHERE site_id = ${siteId} AND status <> 'closed'`;
      if (open === 0 || performance.now() > settleEnd) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await cloud.stop();
    const records = await exitRecords(sql, stripe, siteId, driver);
    const tally = tallyExits(records);
    const audit = await runCli(["audit", "verify"], { ...baseEnv, DATABASE_URL: dbUrl });
    const problems = [...tally.problems];
    if (audit.code !== 0) problems.push(`audit verify exited ${audit.code}: ${audit.out.split("\n").slice(-3).join(" | ")}`);
    else log(`  ${audit.out.split("\n").filter((l) => l.startsWith("audit chain")).join(" ")}`);
    if (kills < opts.kills) problems.push(`only ${kills} of ${opts.kills} kills happened`);
    const latencies = driver.traces.flatMap((t) => (t.latencyMs !== undefined ? [t.latencyMs] : []));
    const clean = tally.lost + tally.doubled + tally.stuck === 0 && audit.code === 0;
    keepLogs = !clean;
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
      ...(keepLogs ? { logs: workDir } : {}),
    };
  } finally {
    await driver?.close().catch(() => undefined);
    await cloud?.kill9();
    await emulator?.stop(3000);
    await broker?.stop();
    await sql?.end({ timeout: 5 });
    if (dbCreated) await dropDatabase(dbName);
    if (!keepLogs) rmSync(workDir, { recursive: true, force: true });
  }
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
