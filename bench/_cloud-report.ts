/**
 * What the cloud bench prints for one run (one instance count): its lines and its JSON object,
 * and, after a list of counts, the summary table with one line per count (bench/cloud.ts).
 */
import type { DriverResult } from "./_cloud-driver";
import type { BenchFlags } from "./_cloud-flags";
import type { CloudParts } from "./_cloud-parts";
import { histogramMeanMs, type PgCounters } from "./_cloud-stats";
import type { CpuPerMessage, CpuWindow } from "./_cpu";
import type { SelfTime } from "./_cpu-profile";

export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const r1 = (x: number) => (Number.isFinite(x) ? +x.toFixed(1) : null);

/** What the window around the driver's load saw. Metrics: one scrape per instance, in instance order. */
export interface Window {
  cpu?: CpuWindow;
  cpuPerExit?: CpuPerMessage;
  kernel?: CpuWindow;
  kernelPerExit?: CpuPerMessage;
  pg0?: PgCounters;
  pg1?: PgCounters;
  metrics0?: Map<string, number>[];
  metrics1?: Map<string, number>[];
  stopWaits?: () => Record<string, number>;
  waits?: Record<string, number>;
}

export interface RunContext {
  anchor8: number;
  anchor32: number;
  autovacuum: string;
  cores: number;
  atRest: { seconds: number; cpuMsPerS: Record<string, number>; commitsPerS: number };
  profile?: { file: string; byPackage: SelfTime[] };
}

/** The processes a run's CPU window names: each instance as cloud_i, beside the other parts. */
export const cloudNames = (instances: number) => Array.from({ length: instances }, (_, i) => `cloud_${i + 1}`);

/**
 * The figures with `cloud` (the instances' sum) put first, then cloud_1…, then the rest as measured:
 * the instances are measured one by one (a sum measured as a name of its own would be counted twice in `rest`).
 */
export function withCloudSum(figures: Record<string, number>, instances: number): Record<string, number> {
  const names = cloudNames(instances);
  const present = names.filter((k) => figures[k] !== undefined);
  if (present.length === 0) return figures;
  const out: Record<string, number> = { cloud: Math.round(present.reduce((a, k) => a + figures[k], 0) * 10) / 10 }; // µs are whole; ms per s have one decimal
  for (const k of names) if (figures[k] !== undefined) out[k] = figures[k];
  for (const [k, v] of Object.entries(figures)) if (!(k in out)) out[k] = v;
  return out;
}

/** Every instance's counters added up (a histogram's _sum and _count add; a gauge does not: read those per instance). */
function summed(scrapes: Map<string, number>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of scrapes) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

/** Prints one run's lines and its JSON object; returns the object (for the runs' summary). */
export function report(f: BenchFlags, instances: number, parts: CloudParts, r: DriverResult, w: Window, o: RunContext): Record<string, unknown> {
  const okCount = new Map(r.okCount);
  const reqCount = new Map(r.reqCount);
  const sessions = parts.exits.map((e) => e.sessionId);
  const lost = sessions.filter((s) => !okCount.get(s)).length;
  const duplicated = sessions.reduce((acc, s) => acc + Math.max(0, (okCount.get(s) ?? 0) - 1) + Math.max(0, (reqCount.get(s) ?? 0) - 1), 0);
  const paid = r.latencies.length;
  const rate = paid / r.elapsed;
  const perExit = (total: number) => (paid > 0 ? total / paid : NaN);
  const cpu = withCloudSum(Object.fromEntries(Object.entries(w.cpuPerExit ?? {}).map(([k, v]) => [k, Math.round(perExit(v))])), instances);
  const kernel = withCloudSum(Object.fromEntries(Object.entries(w.kernelPerExit ?? {}).filter(([k]) => k !== "rest" && k !== "idle").map(([k, v]) => [k, Math.round(perExit(v))])), instances);
  // The deployment's processes: the balancer is one of them (every HTTP call crosses it).
  const measured = ["cloud", "haproxy", "emulator", "driver", "postgres", "mosquitto"];
  const cpuSum = measured.reduce((a, k) => a + (cpu[k] ?? 0), 0);
  const cpuCeiling = cpuSum > 0 ? (o.cores * 1e6) / cpuSum : NaN;
  const commits = w.pg0 && w.pg1 ? perExit(w.pg1.xactCommit - w.pg0.xactCommit) : NaN;
  const walSyncs = w.pg0 && w.pg1 ? perExit(w.pg1.walSync - w.pg0.walSync) : NaN;
  const commitCeiling = o.anchor8 / commits;
  const idleShare = (cpu.idle ?? 0) / Math.max(1, cpuSum + (cpu.rest ?? 0) + (cpu.harness ?? 0) + (cpu.idle ?? 0));
  const m0 = summed(w.metrics0 ?? []);
  const m1 = summed(w.metrics1 ?? []);
  const lagsP99 = (w.metrics1 ?? []).map((m) => (m.get("syspark_cloud_nodejs_eventloop_lag_p99_seconds") ?? NaN) * 1000);
  const lagP99 = lagsP99.length > 0 ? Math.max(...lagsP99) : NaN;
  const stage = (p: number) => ({ exit_to_req: r1(pct(r.stages.req, p)), intent: r1(pct(r.stages.intent, p)), webhook: r1(pct(r.stages.webhook, p)), success: r1(pct(r.stages.success, p)) });
  const stage50 = stage(50);
  const stage99 = stage(99);

  console.log(`paid exits: ${paid} in ${r.elapsed.toFixed(1)} s = ${rate.toFixed(0)}/s${f.load.kind === "open" ? ` (offered ${f.load.rate}/s)` : ""}; p50 ${pct(r.latencies, 50).toFixed(1)} ms, p99 ${pct(r.latencies, 99).toFixed(1)} ms; failures ${r.failures}, lost ${lost}, duplicated ${duplicated}`);
  if (f.load.kind === "open") console.log(`driver start lag (late vs schedule): p50 ${pct(r.startLag, 50).toFixed(1)} ms, p99 ${pct(r.startLag, 99).toFixed(1)} ms — when large, the driver itself could not keep the schedule`);
  console.log(`where the time goes (p50 / p99 per stage, ms): exit/req→payment/req ${stage50.exit_to_req} / ${stage99.exit_to_req}, PaymentIntent + card confirm ${stage50.intent} / ${stage99.intent}, webhook ${stage50.webhook} / ${stage99.webhook}, webhook→payment/success ${stage50.success} / ${stage99.success}`);
  const lagText = lagsP99.length > 1 ? `${lagP99.toFixed(1)} ms (the worst instance; ${lagsP99.map((l, i) => `cloud_${i + 1} ${l.toFixed(1)}`).join(", ")})` : `${lagP99.toFixed(1)} ms`;
  console.log(`server side (mean over the window, all instances): site event transaction ${histogramMeanMs(m0, m1, "syspark_site_event_duration_seconds").toFixed(1)} ms, webhook ${histogramMeanMs(m0, m1, "billing_webhook_duration_seconds").toFixed(1)} ms; cloud event-loop lag p99 ${lagText}`);
  console.log(`PostgreSQL backends of the bench database (mean number, sampled every 100 ms): ${Object.entries(w.waits ?? {}).map(([k, v]) => `${k} ${v}`).join(", ") || "none seen"}`);
  console.log(`commits per exit ${commits.toFixed(2)} (pg_stat_database xact_commit, read-only statements and the cloud's background passes included), WAL syncs per exit ${walSyncs.toFixed(2)} (server-wide) → commit ceiling ${Math.round(commitCeiling)}/s (anchor ${Math.round(o.anchor8)}/s ÷ commits per exit)`);
  console.log(`CPU µs per paid exit: ${Object.entries(cpu).map(([k, v]) => `${k} ${v}${kernel[k] !== undefined ? ` (${kernel[k]} in the kernel)` : ""}`).join(", ")} (cloud = the sum of its ${instances} instance${instances > 1 ? "s" : ""}; haproxy = the balancer; harness = this process, reading the parts' logs; rest = the machine's busy time no named process accounts for: interrupts, other processes, and ± tick rounding; idle = cores with nothing to run)`);
  const limit = cpuCeiling < commitCeiling ? "CPU" : "commits";
  const sumText = measured.map((k) => `${k} ${cpu[k] ?? "?"}`).join(" + ");
  console.log(`limited by: ${idleShare > 0.25 ? `neither CPU (${Math.round(idleShare * 100)}% idle) — queueing or waits (see the stages and the backends' waits); ceilings: ` : ""}${limit === "CPU" ? `CPU: ${sumText} = ${cpuSum} µs per exit → ${o.cores} cores allow ${Math.round(cpuCeiling)}/s; commits allow ${Math.round(commitCeiling)}/s` : `commits: ${commits.toFixed(2)} per exit at ${Math.round(o.anchor8)}/s → ${Math.round(commitCeiling)}/s; CPU (${sumText} = ${cpuSum} µs) allows ${Math.round(cpuCeiling)}/s`}`);
  const json = {
    paid_exits_per_s: Math.round(rate),
    offered_rate: f.load.kind === "open" ? f.load.rate : null,
    p50_ms: r1(pct(r.latencies, 50)),
    p99_ms: r1(pct(r.latencies, 99)),
    lost, duplicated, failures: r.failures,
    n: f.exits,
    concurrency: f.load.kind === "closed" ? f.load.concurrency : null,
    seconds: f.seconds,
    sites: f.sites, lanes: f.lanes, consumers: f.consumers,
    instances,
    balancer: "haproxy (private, deploy/cloud-lb/haproxy.cfg)",
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
    ...(lagsP99.length > 1 ? { event_loop_lag_p99_ms_per_instance: lagsP99.map(r1) } : {}),
    pg_waits: w.waits ?? {},
    at_rest_cpu_ms_per_s: o.atRest.cpuMsPerS,
    at_rest_commits_per_s: o.atRest.commitsPerS,
    ...(o.profile ? { profile: { file: o.profile.file, self_share_by_package: Object.fromEntries(o.profile.byPackage.slice(0, 10).map((p) => [p.name, p.share])) } } : {}),
    driver_start_lag_p99_ms: f.load.kind === "open" ? r1(pct(r.startLag, 99)) : null,
    stage_p50_ms: stage50,
    stage_p99_ms: stage99,
  };
  console.log(JSON.stringify(json));
  return json;
}

/** After a list of instance counts: one line per count, then the runs' JSON objects in one (the last line). */
export function printSummary(runs: Record<string, unknown>[]): void {
  const cell = (v: unknown, width: number) => String(v ?? "?").padStart(width);
  console.log("");
  console.log(`summary (CPU µs per paid exit; ceiling = the cores ÷ the deployment's CPU per exit, haproxy included):`);
  console.log(`  ${cell("N", 2)}  ${cell("paid/s", 6)}  ${cell("p50 ms", 7)}  ${cell("p99 ms", 7)}  ${cell("cloud µs", 8)}  ${cell("CPU ceiling/s", 13)}  per instance`);
  for (const run of runs) {
    const cpu = (run.cpu_us_per_exit ?? {}) as Record<string, number>;
    const perInstance = cloudNames(run.instances as number).map((k) => `${k} ${cpu[k] ?? "?"}`).join(", ");
    console.log(`  ${cell(run.instances, 2)}  ${cell(run.paid_exits_per_s, 6)}  ${cell(run.p50_ms, 7)}  ${cell(run.p99_ms, 7)}  ${cell(cpu.cloud, 8)}  ${cell(run.cpu_ceiling_exits_per_s, 13)}  ${perInstance}`);
  }
  console.log(JSON.stringify({ runs }));
}
