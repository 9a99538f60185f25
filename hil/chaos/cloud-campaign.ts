/**
 * The cloud crash campaign (issue 13): the cloud as production runs it — `syspark cloud` in a
 * process of its own, on the PostgreSQL server (a database of its own, created and dropped), a
 * private Mosquitto with SysPark's cloud-broker settings, and the Stripe test emulator in ANOTHER
 * process (STRIPE_API_BASE) so that, like Stripe, it outlives the cloud. While a site's lanes
 * and drivers (`SiteDriver`) push exits through it, the cloud is killed with SIGKILL at seeded
 * moments and restarted at once with the same instance id (it resumes its MQTT session). At the
 * end, after a bounded settle time, every exit is checked against the database and the emulator
 * (`tallyExits`), and `syspark audit verify` must pass on that database.
 *
 * With `instances: N > 1` (issue 20), N clouds run side by side behind a private HAProxy with the
 * deployed balancer's settings (hil/chaos/cloud-parts.ts), and each kill picks one of them at
 * (seeded) random; it is restarted with its own instance id and port while the others serve.
 */
import postgres from "postgres";
import Stripe from "stripe";
import { haproxyBinary } from "../../host/haproxy";
import { which } from "../../host/tools";
import { CampaignPrerequisiteError, percentile, round1, seededRandom, tallyExits, type CampaignOptions, type CampaignResult, type ExitRecord } from "./campaign";
import { newCloudRun, prepareDatabase, runCli, startParts, stopParts, type CloudParts, type CloudWiring } from "./cloud-parts";
import type { parkedVehicles } from "./paid-exit";
import { SiteDriver } from "./site-driver";

export { CHAOS_PG_URL } from "./cloud-parts";

export interface CloudCampaignOptions extends CampaignOptions {
  /** A lane gives an exit up after this long without an answer (default 45 s: a restart on a loaded machine takes seconds). */
  exitTimeoutMs?: number;
  /** After the last exit, how long the cloud may take to close what is still in flight (default 15 s). */
  settleMs?: number;
  /**
   * `syspark cloud` instances run side by side (default 1). With more than one, a private HAProxy
   * (deploy/cloud-lb/haproxy.cfg's settings) is in front of them and each kill picks one.
   */
  instances?: number;
  /** Aborting gives up the exits in flight and stops everything the campaign started (a test's `after`). */
  signal?: AbortSignal;
}

/** Extra figures the cloud campaign reports beside the shared ones. */
export interface CloudCampaignResult extends CampaignResult {
  /** `syspark cloud` instances that ran side by side (behind HAProxy when more than one). */
  instances: number;
  restart_p50_ms: number;
  restart_max_ms: number;
  pay_retries: number;
  http_5xx: number;
  late_deliveries: number;
  /** Where the parts' logs were kept (only when something went wrong). */
  logs?: string;
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
  const settleMs = opts.settleMs ?? 15_000;
  const instances = opts.instances ?? 1;
  if (!Number.isInteger(instances) || instances < 1) throw new RangeError(`instances must be an integer ≥ 1, got ${String(opts.instances)}`);
  if (!which("mosquitto") && !which("/usr/sbin/mosquitto")) throw new CampaignPrerequisiteError("mosquitto", "mosquitto is not installed (apt-get install -y mosquitto)");
  if (instances > 1 && !haproxyBinary()) throw new CampaignPrerequisiteError("haproxy", "haproxy is not installed (apt-get install -y haproxy): the campaign puts it in front of its clouds");
  const run = newCloudRun();
  const parts: CloudParts = { clouds: [], dbCreated: false, keepLogs: true };
  try {
    const vehicles = await prepareDatabase(run, parts, opts.exits);
    const wiring = await startParts(run, parts, instances);
    const clouds = parts.balancer
      ? `${instances} clouds (${parts.clouds.map((c) => `${c.instanceId} :${c.port}`).join(", ")}) behind HAProxy ${parts.balancer.url}`
      : `1 cloud (${parts.clouds[0].instanceId} :${parts.clouds[0].port})`;
    log(`cloud campaign: ${opts.exits} exits on ${lanes} lanes, ${opts.kills} SIGKILLs (seed ${seed}); ${clouds}; PostgreSQL database ${run.dbName}, Mosquitto ${parts.broker!.url}, Stripe emulator :${wiring.emulatorPort} (own process), logs ${run.workDir}`);
    const stripe = new Stripe(run.apiKey, { host: "127.0.0.1", port: wiring.emulatorPort, protocol: "http", maxNetworkRetries: 2, timeout: 10_000 });
    const { kills, restartMs } = await driveWithKills(opts, parts, wiring, { siteId: run.siteId, stripe, vehicles, lanes, rand, pick: seededRandom(seed + 0x9e3779b9), log });
    opts.signal?.throwIfAborted();
    await settle(parts.sql!, run.siteId, settleMs);
    await Promise.all(parts.clouds.map((c) => c.process.stop()));
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
      instances,
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

/**
 * The site's drivers push every exit through the cloud while the killer SIGKILLs one cloud
 * instance (picked with `pick`, seeded) at the scheduled moments and restarts it at once with its
 * own instance id and port. Returns the kills done and each restart's time. The kill moments use
 * `rand` alone, so that a seed gives the same moments whatever the number of instances.
 */
async function driveWithKills(
  opts: CloudCampaignOptions, parts: CloudParts, wiring: CloudWiring,
  o: { siteId: string; stripe: Stripe; vehicles: ReturnType<typeof parkedVehicles>; lanes: number; rand: () => number; pick: () => number; log: (line: string) => void },
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
      const victim = parts.clouds[Math.floor(o.pick() * parts.clouds.length)];
      await victim.process.kill9();
      kills++;
      const t = performance.now();
      victim.process = victim.start();
      await victim.process.ready;
      restartMs.push(performance.now() - t);
      const named = parts.clouds.length > 1 ? `cloud ${victim.n} (${victim.instanceId} :${victim.port})` : "cloud";
      log(`  kill ${kills}/${schedule.length} at exit ${startedExits}/${opts.exits}: ${named} back in ${(restartMs[restartMs.length - 1] / 1000).toFixed(1)} s`);
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
