/**
 * `npm run bench -- cloud`: paid exits per second sustained by ONE cloud instance, with every
 * durability rule on, and what limits that rate.
 *
 *   npm run bench -- cloud [--n 2000] [--concurrency 64]      closed loop: C exits in flight (saturation)
 *   npm run bench -- cloud --rate 100 [--seconds 15]           open loop: R exits/s offered for S s
 *   common: [--sites 20] [--lanes 4] [--consumers 4] [--log-level info] [--profile]
 *
 * --profile: the cloud's V8 CPU profile over the load window (top self time by function and by
 * package printed; the .cpuprofile kept with the parts' logs). The profiler costs the cloud CPU:
 * its rate and CPU figures are not comparable with a run without it.
 *
 * Every part runs in a process of its own (bench/_cloud-parts.ts): `syspark cloud` at its
 * production log level on a database of its own (seeded, ANALYZEd, dropped), a private Mosquitto
 * with deploy/cloud-broker/syspark-flow.conf, `syspark stripe-emulator`, and the load driver
 * (bench/_cloud-driver.ts) — so that the CPU each spends per paid exit is read apart from /proc.
 *
 * One paid exit: exit/req published (QoS 1) → priced in one transaction → payment/req published
 * by the relay → PaymentIntent created server-side (POST /api/pay/:id/intent → emulator) → card
 * confirmed at the emulator → a signed payment_intent.succeeded webhook → verified, recorded once,
 * payment + session paid in one transaction → payment/success published. Latency runs from the
 * exit request (in the open loop: from its SCHEDULED moment) to the payment/success delivery.
 * Lost = sessions without a success; duplicated = extra successes or payment requests.
 *
 * The proof beside the rate, measured in the same run: the one-row-commit anchor (8 and 32
 * connections), commits per exit (pg_stat_database) → the commit ceiling, CPU µs per exit per
 * process → the CPU ceiling, the PostgreSQL backends' waits, the cloud's event-loop lag.
 */
import { availableParallelism } from "node:os";
import { intArg } from "./_args";
import { runDriver, type DriverResult } from "./_cloud-driver";
import { startCloudParts, type CloudParts } from "./_cloud-parts";
import { anchorCommitsPerS, histogramMeanMs, scrapeMetrics, statsReader, type PgCounters, type StatsReader } from "./_cloud-stats";
import { cpuWindow, pidsNamed, type CpuPerMessage, type CpuWindow } from "./_cpu";
import { readProfile, summariseProfile, type SelfTime } from "./_cpu-profile";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

interface BenchFlags {
  load: { kind: "closed"; concurrency: number } | { kind: "open"; rate: number };
  exits: number;
  seconds: number | null;
  sites: number;
  lanes: number;
  consumers: number;
  logLevel: string;
  profile: boolean;
}

function flags(args: string[]): BenchFlags {
  const open = args.includes("--rate");
  if (open && (args.includes("--concurrency") || args.includes("--n"))) throw new Error("--rate (open loop, with --seconds) and --concurrency / --n (closed loop) do not go together: choose one");
  if (!open && args.includes("--seconds")) throw new Error("--seconds goes with --rate (the open loop)");
  const li = args.indexOf("--log-level");
  const logLevel = li === -1 ? "info" : (args[li + 1] ?? "");
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  const common = { sites: intArg(args, "--sites", 20), lanes: intArg(args, "--lanes", 4), consumers: intArg(args, "--consumers", 4), logLevel, profile: args.includes("--profile") };
  if (common.consumers > 32) throw new Error(`--consumers must be at most 32 (syspark cloud --mqtt-consumers), got ${common.consumers}`);
  if (open) {
    const rate = intArg(args, "--rate", 100);
    const seconds = intArg(args, "--seconds", 15);
    return { load: { kind: "open", rate }, exits: rate * seconds, seconds, ...common };
  }
  return { load: { kind: "closed", concurrency: intArg(args, "--concurrency", 64) }, exits: intArg(args, "--n", 2000), seconds: null, ...common };
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const r1 = (x: number) => (Number.isFinite(x) ? +x.toFixed(1) : null);

/** What the window around the driver's load saw. */
interface Window {
  cpu?: CpuWindow;
  cpuPerExit?: CpuPerMessage;
  kernel?: CpuWindow;
  kernelPerExit?: CpuPerMessage;
  pg0?: PgCounters;
  pg1?: PgCounters;
  metrics0?: Map<string, number>;
  metrics1?: Map<string, number>;
  stopWaits?: () => Record<string, number>;
  waits?: Record<string, number>;
}

export async function run(args: string[]): Promise<void> {
  const f = flags(args);
  const cores = availableParallelism();
  const loadText = f.load.kind === "open" ? `open loop: ${f.load.rate} exits/s offered for ${f.seconds} s (${f.exits} exits)` : `closed loop: ${f.exits} exits, ${f.load.concurrency} in flight`;
  console.log(`cloud bench: ${loadText}, ${f.sites} sites × ${f.lanes} lanes, ${f.consumers} MQTT consumers, cloud log level ${f.logLevel}, ${cores} cores`);
  const parts = await startCloudParts({ exits: f.exits, sites: f.sites, lanes: f.lanes, consumers: f.consumers, logLevel: f.logLevel, profile: f.profile });
  const stats = statsReader(parts.dbName);
  let ok = false;
  try {
    const autovacuum = await stats.setting("autovacuum");
    console.log(`parts: cloud pid ${parts.pids.cloud} ${parts.cloudUrl}, Stripe emulator pid ${parts.pids.emulator} :${parts.emulatorPort}, private Mosquitto pid ${parts.pids.mosquitto ?? "?"} ${parts.mqttUrl} (syspark-flow.conf), database ${parts.dbName} (ANALYZEd; autovacuum ${autovacuum}); logs ${parts.workDir}`);
    const anchor8 = await anchorCommitsPerS(parts.dbUrl, 8, 3000);
    const anchor32 = await anchorCommitsPerS(parts.dbUrl, 32, 3000);
    console.log(`anchor: ${Math.round(anchor8)} one-row commits/s (8 connections), ${Math.round(anchor32)}/s (32 connections), same server, same database`);
    const atRest = await restingCost(parts, stats, 5);
    console.log(`at rest (no exits, ${atRest.seconds} s): CPU ms per second ${Object.entries(atRest.cpuMsPerS).map(([k, v]) => `${k} ${v}`).join(", ")}; ${atRest.commitsPerS} commits/s in the bench database (the cloud's background passes)`);
    const w: Window = {};
    const result = await runDriver(
      { mqttUrl: parts.mqttUrl, cloudUrl: parts.cloudUrl, stripe: { host: "127.0.0.1", port: parts.emulatorPort, key: parts.apiKey }, webhookSecret: parts.webhookSecret, exits: parts.exits, load: f.load },
      async (phase, driverPid) => {
        // The cloud's profiler (--profile) runs over the load window only.
        if (parts.profileFile) process.kill(parts.pids.cloud, "SIGUSR2");
        if (phase === "start") {
          const measured = { cloud: parts.pids.cloud, emulator: parts.pids.emulator, driver: driverPid, postgres: () => pidsNamed("postgres"), mosquitto: parts.pids.mosquitto, harness: process.pid };
          w.cpu = cpuWindow(measured);
          w.kernel = cpuWindow(measured, true);
          w.stopWaits = stats.sampleWaits(100);
          [w.pg0, w.metrics0] = await Promise.all([stats.counters(0), scrapeMetrics(parts.cloudUrl)]);
        } else {
          w.waits = w.stopWaits?.();
          w.cpuPerExit = w.cpu?.perMessage(1); // per exit below, once the count is known
          w.kernelPerExit = w.kernel?.perMessage(1);
          [w.pg1, w.metrics1] = await Promise.all([stats.counters(1500), scrapeMetrics(parts.cloudUrl)]);
        }
      },
    );
    const profile = parts.profileFile ? await profileSummary(parts.profileFile) : undefined;
    report(f, parts, result, w, { anchor8, anchor32, autovacuum, cores, atRest, profile });
    ok = !parts.profileFile; // a profile is kept with the logs
  } finally {
    await stats.close();
    await parts.stop(!ok);
  }
}

/**
 * What the parts cost with no exit at all (the cloud's relay, chainer, receipt worker and feeds
 * polling): a per-exit figure at a low rate carries this fixed cost, a saturated one hardly.
 */
async function restingCost(parts: CloudParts, stats: StatsReader, seconds: number): Promise<{ seconds: number; cpuMsPerS: Record<string, number>; commitsPerS: number }> {
  const pg0 = await stats.counters(1000); // the anchor's backends, just closed, publish their counters
  const cpu = cpuWindow({ cloud: parts.pids.cloud, emulator: parts.pids.emulator, postgres: () => pidsNamed("postgres"), mosquitto: parts.pids.mosquitto });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const perS = cpu.perMessage(seconds) ?? {};
  const pg1 = await stats.counters(0);
  return {
    seconds,
    cpuMsPerS: Object.fromEntries(Object.entries(perS).map(([k, v]) => [k, Math.round(v / 100) / 10])),
    commitsPerS: Math.round((pg1.xactCommit - pg0.xactCommit) / seconds),
  };
}

type RestingCost = Awaited<ReturnType<typeof restingCost>>;

/** The cloud's profile over the load window: printed (top 15 by function and by package) and kept. */
async function profileSummary(file: string): Promise<{ file: string; byPackage: SelfTime[] }> {
  const s = summariseProfile(await readProfile(file, 15_000), 15);
  // V8 samples the thread on the wall clock: a call during which the thread lost its core (a socket
  // write that wakes a PostgreSQL backend on a busy 2-core machine) is charged with that wait too.
  console.log(`cloud CPU profile over the load window (${s.sampledMs} ms of the JS thread sampled, wall clock: a call that lost the core meanwhile counts; open ${file} in Chrome DevTools):`);
  console.log(`  self time by package: ${s.byPackage.map((p) => `${p.name} ${(p.share * 100).toFixed(1)}%`).join(", ")}`);
  console.log(`  self time by function:`);
  for (const fn of s.byFunction) console.log(`    ${(fn.share * 100).toFixed(1).padStart(5)}%  ${fn.ms} ms  ${fn.name}`);
  return { file, byPackage: s.byPackage };
}

function report(f: BenchFlags, parts: CloudParts, r: DriverResult, w: Window, o: { anchor8: number; anchor32: number; autovacuum: string; cores: number; atRest: RestingCost; profile?: { file: string; byPackage: SelfTime[] } }): void {
  const okCount = new Map(r.okCount);
  const reqCount = new Map(r.reqCount);
  const sessions = parts.exits.map((e) => e.sessionId);
  const lost = sessions.filter((s) => !okCount.get(s)).length;
  const duplicated = sessions.reduce((acc, s) => acc + Math.max(0, (okCount.get(s) ?? 0) - 1) + Math.max(0, (reqCount.get(s) ?? 0) - 1), 0);
  const paid = r.latencies.length;
  const rate = paid / r.elapsed;
  const perExit = (total: number) => (paid > 0 ? total / paid : NaN);
  const cpu: Record<string, number> = Object.fromEntries(Object.entries(w.cpuPerExit ?? {}).map(([k, v]) => [k, Math.round(perExit(v))]));
  const kernel: Record<string, number> = Object.fromEntries(Object.entries(w.kernelPerExit ?? {}).filter(([k]) => k !== "rest" && k !== "idle").map(([k, v]) => [k, Math.round(perExit(v))]));
  const measured = ["cloud", "emulator", "driver", "postgres", "mosquitto"];
  const cpuSum = measured.reduce((a, k) => a + (cpu[k] ?? 0), 0);
  const cpuCeiling = cpuSum > 0 ? (o.cores * 1e6) / cpuSum : NaN;
  const commits = w.pg0 && w.pg1 ? perExit(w.pg1.xactCommit - w.pg0.xactCommit) : NaN;
  const walSyncs = w.pg0 && w.pg1 ? perExit(w.pg1.walSync - w.pg0.walSync) : NaN;
  const commitCeiling = o.anchor8 / commits;
  const idleShare = (cpu.idle ?? 0) / Math.max(1, cpuSum + (cpu.rest ?? 0) + (cpu.harness ?? 0) + (cpu.idle ?? 0));
  const m0 = w.metrics0 ?? new Map<string, number>();
  const m1 = w.metrics1 ?? new Map<string, number>();
  const lagP99 = (m1.get("syspark_cloud_nodejs_eventloop_lag_p99_seconds") ?? NaN) * 1000;
  const stage = (p: number) => ({ exit_to_req: r1(pct(r.stages.req, p)), intent: r1(pct(r.stages.intent, p)), webhook: r1(pct(r.stages.webhook, p)), success: r1(pct(r.stages.success, p)) });
  const stage50 = stage(50);
  const stage99 = stage(99);

  console.log(`paid exits: ${paid} in ${r.elapsed.toFixed(1)} s = ${rate.toFixed(0)}/s${f.load.kind === "open" ? ` (offered ${f.load.rate}/s)` : ""}; p50 ${pct(r.latencies, 50).toFixed(1)} ms, p99 ${pct(r.latencies, 99).toFixed(1)} ms; failures ${r.failures}, lost ${lost}, duplicated ${duplicated}`);
  if (f.load.kind === "open") console.log(`driver start lag (late vs schedule): p50 ${pct(r.startLag, 50).toFixed(1)} ms, p99 ${pct(r.startLag, 99).toFixed(1)} ms — when large, the driver itself could not keep the schedule`);
  console.log(`where the time goes (p50 / p99 per stage, ms): exit/req→payment/req ${stage50.exit_to_req} / ${stage99.exit_to_req}, PaymentIntent + card confirm ${stage50.intent} / ${stage99.intent}, webhook ${stage50.webhook} / ${stage99.webhook}, webhook→payment/success ${stage50.success} / ${stage99.success}`);
  console.log(`server side (mean over the window): site event transaction ${histogramMeanMs(m0, m1, "syspark_site_event_duration_seconds").toFixed(1)} ms, webhook ${histogramMeanMs(m0, m1, "billing_webhook_duration_seconds").toFixed(1)} ms; cloud event-loop lag p99 ${lagP99.toFixed(1)} ms`);
  console.log(`PostgreSQL backends of the bench database (mean number, sampled every 100 ms): ${Object.entries(w.waits ?? {}).map(([k, v]) => `${k} ${v}`).join(", ") || "none seen"}`);
  console.log(`commits per exit ${commits.toFixed(2)} (pg_stat_database xact_commit, read-only statements and the cloud's background passes included), WAL syncs per exit ${walSyncs.toFixed(2)} (server-wide) → commit ceiling ${Math.round(commitCeiling)}/s (anchor ${Math.round(o.anchor8)}/s ÷ commits per exit)`);
  console.log(`CPU µs per paid exit: ${Object.entries(cpu).map(([k, v]) => `${k} ${v}${kernel[k] !== undefined ? ` (${kernel[k]} in the kernel)` : ""}`).join(", ")} (harness = this process, reading the parts' logs; rest = the machine's busy time no named process accounts for: interrupts, other processes, and ± tick rounding; idle = cores with nothing to run)`);
  const limit = cpuCeiling < commitCeiling ? "CPU" : "commits";
  const sumText = measured.map((k) => `${k} ${cpu[k] ?? "?"}`).join(" + ");
  console.log(`limited by: ${idleShare > 0.25 ? `neither CPU (${Math.round(idleShare * 100)}% idle) — queueing or waits (see the stages and the backends' waits); ceilings: ` : ""}${limit === "CPU" ? `CPU: ${sumText} = ${cpuSum} µs per exit → ${o.cores} cores allow ${Math.round(cpuCeiling)}/s; commits allow ${Math.round(commitCeiling)}/s` : `commits: ${commits.toFixed(2)} per exit at ${Math.round(o.anchor8)}/s → ${Math.round(commitCeiling)}/s; CPU (${sumText} = ${cpuSum} µs) allows ${Math.round(cpuCeiling)}/s`}`);
  console.log(JSON.stringify({
    paid_exits_per_s: Math.round(rate),
    offered_rate: f.load.kind === "open" ? f.load.rate : null,
    p50_ms: r1(pct(r.latencies, 50)),
    p99_ms: r1(pct(r.latencies, 99)),
    lost, duplicated, failures: r.failures,
    n: f.exits,
    concurrency: f.load.kind === "closed" ? f.load.concurrency : null,
    seconds: f.seconds,
    sites: f.sites, lanes: f.lanes, consumers: f.consumers,
    instances: 1,
    broker: "mosquitto (private, syspark-flow.conf)",
    log_level: f.logLevel,
    autovacuum: o.autovacuum,
    anchor_commits_per_s: Math.round(o.anchor8),
    anchor_commits_per_s_32: Math.round(o.anchor32),
    ratio_vs_anchor: +(rate / o.anchor8).toFixed(3),
    commits_per_exit: Number.isFinite(commits) ? +commits.toFixed(2) : null,
    statements_per_exit: null, // needs pg_stat_statements (not preloaded here) or a statement counter in the cloud
    wal_syncs_per_exit: Number.isFinite(walSyncs) ? +walSyncs.toFixed(2) : null,
    commit_ceiling_exits_per_s: Number.isFinite(commitCeiling) ? Math.round(commitCeiling) : null,
    cpu_us_per_exit: cpu,
    kernel_us_per_exit: kernel,
    cpu_ceiling_exits_per_s: Number.isFinite(cpuCeiling) ? Math.round(cpuCeiling) : null,
    event_loop_lag_p99_ms: r1(lagP99),
    pg_waits: w.waits ?? {},
    at_rest_cpu_ms_per_s: o.atRest.cpuMsPerS,
    at_rest_commits_per_s: o.atRest.commitsPerS,
    ...(o.profile ? { profile: { file: o.profile.file, self_share_by_package: Object.fromEntries(o.profile.byPackage.slice(0, 10).map((p) => [p.name, p.share])) } } : {}),
    driver_start_lag_p99_ms: f.load.kind === "open" ? r1(pct(r.startLag, 99)) : null,
    stage_p50_ms: stage50,
    stage_p99_ms: stage99,
  }));
}
