/**
 * `npm run bench -- cloud`: paid exits per second sustained by N cloud instances behind the
 * deployment's load balancer, with every durability rule on, and what limits that rate.
 *
 *   npm run bench -- cloud [--n 2000] [--concurrency 64]      closed loop: C exits in flight (saturation)
 *   npm run bench -- cloud --rate 100 [--seconds 15]           open loop: R exits/s offered for S s
 *   common: [--sites 20] [--lanes 4] [--consumers 4] [--instances 1] [--log-level info] [--profile]
 *   npm run bench -- cloud --chaos [--exits 5000] [--cloud-kills 20] [--cloud-instances 1] …
 *                                                              the crash campaign (bench/chaos.ts --part cloud)
 *
 * --instances 1,2,3 (each 1..8; default 1): one run per count, in that order, each on a fresh set
 * of parts (a new database: no run inherits another's rows), each printing its lines and its JSON
 * (`instances: N`); after a list of counts, a summary line per count and, last, one JSON line
 * `{ "runs": [...] }`. --consumers is per instance (N × --consumers shared-subscription sessions).
 * The instances share the MQTT share group, so they split the site events between them.
 *
 * The balancer is in the path for EVERY N, 1 included: a private HAProxy with
 * deploy/cloud-lb/haproxy.cfg's settings (host/haproxy.ts) takes the driver's HTTP calls (pay API,
 * webhooks), so that the figures compare across N; its CPU is counted as `haproxy` (it is part of
 * the deployment). A figure from before issue 20 went to the one instance directly: no balancer hop.
 * The Stripe emulator sends no webhook here (the driver signs and posts them, to the balancer).
 *
 * --profile (with --instances 1 only): the cloud's V8 CPU profile over the load window (top self
 * time by function and by package printed; the .cpuprofile kept with the parts' logs). The
 * profiler costs the cloud CPU: its rate and CPU figures are not comparable with a run without it.
 *
 * Every part runs in a process of its own (bench/_cloud-parts.ts): each `syspark cloud` instance
 * at its production log level (its own SYSPARK_INSTANCE_ID and port) on a database of their own
 * (seeded, ANALYZEd, dropped), HAProxy, a private Mosquitto with
 * deploy/cloud-broker/syspark-flow.conf, `syspark stripe-emulator`, and the load driver
 * (bench/_cloud-driver.ts) — so that the CPU each spends per paid exit is read apart from /proc:
 * each instance as cloud_1, cloud_2…, their sum as `cloud`.
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
 * process → the CPU ceiling (the instances' sum, haproxy, the emulator, the driver, postgres and
 * Mosquitto), the PostgreSQL backends' waits, each instance's event-loop lag (the worst reported).
 */
import { availableParallelism } from "node:os";
import { runDriver } from "./_cloud-driver";
import { flags, type BenchFlags } from "./_cloud-flags";
import { startCloudParts, type CloudParts } from "./_cloud-parts";
import { cloudNames, printSummary, report, withCloudSum, type Window } from "./_cloud-report";
import { anchorCommitsPerS, scrapeMetrics, statsReader, type StatsReader } from "./_cloud-stats";
import { cpuWindow, pidsNamed, type Measured } from "./_cpu";
import { readProfile, summariseProfile, type SelfTime } from "./_cpu-profile";

export async function run(args: string[]): Promise<void> {
  if (args.includes("--chaos")) {
    // The same campaign as `bench chaos --part cloud`, under the cloud bench's name (issue 20).
    const { run: chaos } = await import("./chaos");
    return chaos(["--part", "cloud", ...args.filter((a) => a !== "--chaos")]);
  }
  const f = flags(args);
  const runs: Record<string, unknown>[] = [];
  // One fresh set of parts per count (a database of its own each time: no run inherits another's rows).
  for (const n of f.instances) runs.push(await runOnce(f, n));
  if (f.instances.length > 1) printSummary(runs);
}

/** The instances' pids by name (cloud_1, cloud_2…), each measured on its own. */
function instancePids(parts: CloudParts): Record<string, number> {
  return Object.fromEntries(cloudNames(parts.pids.clouds.length).map((name, i) => [name, parts.pids.clouds[i]]));
}

/** Each instance's own /metrics, in instance order (through the balancer a scrape would land on any one). */
const scrapeInstances = (parts: CloudParts) => Promise.all(parts.instanceUrls.map((u) => scrapeMetrics(u)));

async function runOnce(f: BenchFlags, instances: number): Promise<Record<string, unknown>> {
  const cores = availableParallelism();
  const loadText = f.load.kind === "open" ? `open loop: ${f.load.rate} exits/s offered for ${f.seconds} s (${f.exits} exits)` : `closed loop: ${f.exits} exits, ${f.load.concurrency} in flight`;
  console.log(`cloud bench: ${instances} cloud instance${instances > 1 ? "s" : ""} behind HAProxy, ${loadText}, ${f.sites} sites × ${f.lanes} lanes, ${f.consumers} MQTT consumers per instance, cloud log level ${f.logLevel}, ${cores} cores`);
  const parts = await startCloudParts({ exits: f.exits, sites: f.sites, lanes: f.lanes, consumers: f.consumers, instances, logLevel: f.logLevel, profile: f.profile });
  const stats = statsReader(parts.dbName);
  let ok = false;
  try {
    const autovacuum = await stats.setting("autovacuum");
    const cloudText = parts.instanceUrls.map((u, i) => `cloud_${i + 1} pid ${parts.pids.clouds[i]} ${u}`).join(", ");
    console.log(`parts: ${cloudText}; HAProxy pid ${parts.pids.haproxy ?? "?"} ${parts.cloudUrl} (deploy/cloud-lb/haproxy.cfg); Stripe emulator pid ${parts.pids.emulator} :${parts.emulatorPort}, private Mosquitto pid ${parts.pids.mosquitto ?? "?"} ${parts.mqttUrl} (syspark-flow.conf), database ${parts.dbName} (ANALYZEd; autovacuum ${autovacuum}); logs ${parts.workDir}`);
    const anchor8 = await anchorCommitsPerS(parts.dbUrl, 8, 3000);
    const anchor32 = await anchorCommitsPerS(parts.dbUrl, 32, 3000);
    console.log(`anchor: ${Math.round(anchor8)} one-row commits/s (8 connections), ${Math.round(anchor32)}/s (32 connections), same server, same database`);
    const atRest = await restingCost(parts, stats, 5);
    console.log(`at rest (no exits, ${atRest.seconds} s): CPU ms per second ${Object.entries(atRest.cpuMsPerS).map(([k, v]) => `${k} ${v}`).join(", ")}; ${atRest.commitsPerS} commits/s in the bench database (the cloud's background passes and the balancer's health checks)`);
    const w: Window = {};
    const result = await runDriver(
      { mqttUrl: parts.mqttUrl, cloudUrl: parts.cloudUrl, stripe: { host: "127.0.0.1", port: parts.emulatorPort, key: parts.apiKey }, webhookSecret: parts.webhookSecret, exits: parts.exits, load: f.load },
      async (phase, driverPid) => {
        // The cloud's profiler (--profile, one instance) runs over the load window only.
        if (parts.profileFile) process.kill(parts.pids.clouds[0], "SIGUSR2");
        if (phase === "start") {
          const measured: Record<string, Measured> = { ...instancePids(parts), haproxy: parts.pids.haproxy, emulator: parts.pids.emulator, driver: driverPid, postgres: () => pidsNamed("postgres"), mosquitto: parts.pids.mosquitto, harness: process.pid };
          w.cpu = cpuWindow(measured);
          w.kernel = cpuWindow(measured, true);
          w.stopWaits = stats.sampleWaits(100);
          [w.pg0, w.metrics0] = await Promise.all([stats.counters(0), scrapeInstances(parts)]);
        } else {
          w.waits = w.stopWaits?.();
          w.cpuPerExit = w.cpu?.perMessage(1); // per exit below, once the count is known
          w.kernelPerExit = w.kernel?.perMessage(1);
          [w.pg1, w.metrics1] = await Promise.all([stats.counters(1500), scrapeInstances(parts)]);
        }
      },
    );
    const profile = parts.profileFile ? await profileSummary(parts.profileFile) : undefined;
    const json = report(f, instances, parts, result, w, { anchor8, anchor32, autovacuum, cores, atRest, profile });
    ok = !parts.profileFile; // a profile is kept with the logs
    return json;
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
  const cpu = cpuWindow({ ...instancePids(parts), haproxy: parts.pids.haproxy, emulator: parts.pids.emulator, postgres: () => pidsNamed("postgres"), mosquitto: parts.pids.mosquitto });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const perS = cpu.perMessage(seconds) ?? {};
  const pg1 = await stats.counters(0);
  return {
    seconds,
    cpuMsPerS: withCloudSum(Object.fromEntries(Object.entries(perS).map(([k, v]) => [k, Math.round(v / 100) / 10])), parts.pids.clouds.length),
    commitsPerS: Math.round((pg1.xactCommit - pg0.xactCommit) / seconds),
  };
}

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
