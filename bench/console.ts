/**
 * `npm run bench -- console [--sites 5] [--lanes 100] [--consoles 20] [--rate 100] [--seconds 30] [--burst 50]`:
 * event → console latency of the operators' live view (issue 17) under load. One cloud instance
 * (this process) on the PostgreSQL server (a fresh schema) and a private Mosquitto with SysPark's
 * cloud-broker settings (or SYSPARK_BENCH_MQTT_URL; without PostgreSQL / the mosquitto binary:
 * PGlite / the in-process broker) serves `--consoles` server-sent-event streams (a process of their
 * own, _console-clients.ts: signed in through /api/login, several per site) while `--lanes` lanes
 * over `--sites` sites change state `--rate` times a second for `--seconds` (another process,
 * _console-load.ts, publishing as the gateways do). Reported, per event:
 *
 * - publish → every console that follows the site: p50 / p95 / p99 / max, per delivery and per
 *   event (the last of its consoles), where the time goes (publish → the server's send, send →
 *   arrival), and the deliveries missed (must be 0);
 * - the anchor, on the same events in the same run: a bare MQTT subscriber to the same topics in
 *   the consoles' process (publish → broker → a client there), and the ratio;
 * - the feed path: a burst of `--burst` overrides through the API at mid-run → their feed items
 *   at the consoles (from the 202, the audit row committed);
 * - the cloud's CPU per second (process.cpuUsage, it runs here), its event-loop delay, and each
 *   process's CPU per event; the persisted last-known state (lane_status) against the last state
 *   published per lane.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import postgres from "postgres";
import { createOperator, hashSecret, upsertLane, upsertSite } from "../cloud/db/index";
import { startCloud, type CloudHandle } from "../cloud/server/index";
import { silentLogger } from "../host/log";
import { startCloudBroker, type CloudBroker } from "./_cloud-broker";
import { checkPersisted, feedBurstFigures, laneFigures, summary, type Summary } from "./_console-figures";
import { cpuWindow } from "./_cpu";
import { laneName, wallMs, type BurstItem, type ClientsReport, type FeedSent, type FromClients, type FromLoad, type LoadReport } from "./_console-protocol";
import { intArg } from "./_args";

const PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const LOW_SCRYPT = { N: 1 << 10, r: 8, p: 1 }; // sign-in cost is not what this measures
const log = (line: string) => process.stderr.write(`[bench console] ${line}\n`);

async function postgresReachable(): Promise<boolean> {
  const sql = postgres(PG_URL, { max: 1, connect_timeout: 3, onnotice: () => undefined });
  try {
    await sql`SELECT 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** A forked helper with a typed "next message of this type". */
function child<M extends { type: string }>(file: string) {
  const proc: ChildProcess = fork(new URL(file, import.meta.url), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const handlers = new Set<(m: M) => void>();
  let failure: Error | undefined;
  proc.on("message", (m: M) => {
    if (m.type === "error") failure = new Error(`${file}: ${(m as unknown as { message: string }).message}`);
    for (const h of handlers) h(m);
  });
  proc.on("exit", (code) => {
    if (code !== 0) failure ??= new Error(`${file} exited with ${code}`);
    for (const h of handlers) h({ type: "exit" } as M);
  });
  return {
    proc,
    on: (h: (m: M) => void) => handlers.add(h),
    next<T extends M["type"]>(type: T, timeoutMs: number): Promise<Extract<M, { type: T }>> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${file}: no ${type} within ${timeoutMs} ms`)), timeoutMs);
        const h = (m: M) => {
          if (m.type === type) done(undefined, m as Extract<M, { type: T }>);
          else if (m.type === "error" || m.type === "exit") done(failure ?? new Error(`${file} ended before ${type}`));
        };
        const done = (err?: Error, m?: Extract<M, { type: T }>) => {
          clearTimeout(timer);
          handlers.delete(h);
          if (err) reject(err);
          else resolve(m as Extract<M, { type: T }>);
        };
        handlers.add(h);
      });
    },
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill();
    },
  };
}

interface Setup {
  sites: string[];
  lanesPerSite: number;
  consoles: { siteId: string; username: string; password: string }[];
}

async function seed(cloud: CloudHandle, tag: string, nSites: number, lanesPerSite: number, nConsoles: number): Promise<Setup> {
  const sites = Array.from({ length: nSites }, (_, i) => `cb-${tag}-${i + 1}`);
  for (const siteId of sites) {
    await upsertSite(cloud.db.sql, { siteId, name: `Bench ${siteId}`, timeZone: "Europe/Paris", currency: "EUR" });
    // Lanes registered beforehand, as a configured site's are: the first state is not a registration.
    for (let l = 0; l < lanesPerSite; l++) await upsertLane(cloud.db.sql, { siteId, laneId: laneName(l).toLowerCase(), kind: "exit", name: laneName(l) });
  }
  const consoles: Setup["consoles"] = [];
  for (let i = 0; i < nConsoles; i++) {
    const username = `bench-op-${i + 1}`;
    const password = randomBytes(12).toString("base64url");
    await createOperator(cloud.db.sql, { username, passwordHash: await hashSecret(password, LOW_SCRYPT), role: "operator" });
    consoles.push({ siteId: sites[i % nSites], username, password });
  }
  return { sites, lanesPerSite, consoles };
}

const fmt = (s: Summary) => (s.n ? `p50 ${s.p50.toFixed(1)} / p95 ${s.p95.toFixed(1)} / p99 ${s.p99.toFixed(1)} / max ${s.max.toFixed(1)} ms (n ${s.n})` : "no samples");
const round = (s: Summary) => ({ n: s.n, p50: +s.p50.toFixed(2), p95: +s.p95.toFixed(2), p99: +s.p99.toFixed(2), max: +s.max.toFixed(2) });

export async function run(args: string[]): Promise<void> {
  const nSites = intArg(args, "--sites", 5);
  const nLanes = intArg(args, "--lanes", 100);
  const nConsoles = intArg(args, "--consoles", 20);
  const rate = intArg(args, "--rate", 100);
  const seconds = intArg(args, "--seconds", 30);
  const burstN = intArg(args, "--burst", 50);
  if (nLanes % nSites !== 0) throw new Error("--lanes must be a multiple of --sites");
  const lanesPerSite = nLanes / nSites;
  const tag = randomBytes(3).toString("hex");
  const schema = `syspark_bench_${tag}`;
  const onPostgres = await postgresReachable();
  const broker: CloudBroker | undefined = await startCloudBroker().catch((err: Error) => {
    log(`no Mosquitto (${err.message}): the in-process broker instead`);
    return undefined;
  });
  const load0 = loadavg();
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    if (broker) cleanups.push(() => broker.stop());
    const cloud = await startCloud({
      ...(onPostgres ? { databaseUrl: PG_URL, dbSchema: schema, dbCreateSchema: true, dbPoolMax: 16 } : { pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") }),
      ...(broker ? { mqttUrl: broker.url } : { mqttPort: 0 }),
      port: 0,
      logger: silentLogger,
      scryptCost: LOW_SCRYPT,
      instanceId: `bench${tag}`,
      shareGroup: `bench${tag}`,
      mqttSessionExpiryS: 0,
      seedDemo: false,
      createFirstAdmin: false,
      alerts: null,
      weather: null,
    });
    cleanups.push(async () => {
      await cloud.close();
      if (!onPostgres) return;
      const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
      await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end({ timeout: 5 });
    });
    const where = `${onPostgres ? `PostgreSQL ${PG_URL} (schema ${schema})` : "PGlite (in process)"}, broker ${broker ? broker.describe : "in-process aedes"} (MQTT ${cloud.mqttProtocol})`;
    console.log(`console bench: ${nLanes} lanes on ${nSites} sites, ${rate} lane changes/s for ${seconds} s, ${nConsoles} consoles, a feed burst of ${burstN}; ${where}; load average ${load0.map((x) => x.toFixed(2)).join(" ")}`);
    const setup = await seed(cloud, tag, nSites, lanesPerSite, nConsoles);

    const clients = child<FromClients | { type: "exit" }>("./_console-clients.ts");
    cleanups.push(() => clients.stop());
    clients.proc.send({ cmd: "open", config: { cloudUrl: cloud.url, mqttUrl: cloud.mqttUrl, mqttVersion: cloud.mqttProtocol, consoles: setup.consoles } });
    await clients.next("ready", 60_000);
    const load = child<FromLoad | { type: "exit" }>("./_console-load.ts");
    cleanups.push(() => load.stop());
    load.proc.send({ cmd: "connect", config: { mqttUrl: cloud.mqttUrl, mqttVersion: cloud.mqttProtocol, sites: setup.sites, lanesPerSite, rate, seconds, clearRetained: broker !== undefined && process.env.SYSPARK_BENCH_MQTT_URL !== undefined } });
    await load.next("ready", 30_000);
    log(`${nConsoles} consoles open, ${nSites} gateways connected: go`);

    // The measured window: from the first publish to the last puback.
    let published = 0;
    let frames = 0;
    load.on((m) => void (m.type === "progress" && (published = m.published)));
    clients.on((m) => void (m.type === "progress" && (frames = m.frames)));
    const eld = monitorEventLoopDelay({ resolution: 1 });
    const cpu = cpuWindow({ cloud: process.pid, consoles: clients.proc.pid, load: load.proc.pid, ...(broker?.pid ? { mosquitto: broker.pid } : {}) });
    const cpu0 = process.cpuUsage();
    const t0 = wallMs();
    eld.enable();
    const progress = setInterval(() => {
      const s = (wallMs() - t0) / 1000;
      const c = process.cpuUsage(cpu0);
      log(`${s.toFixed(0)} s: ${published} published, ${frames} frames at the consoles, cloud CPU ${((c.user + c.system) / 10 / (s * 1000)).toFixed(0)}% of a core`);
    }, 5000);
    const loadDone = load.next("report", (seconds + 60) * 1000);
    load.proc.send({ cmd: "go" });
    // The feed burst at mid-run: the operators act while the lanes keep changing.
    await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
    const items: BurstItem[] = Array.from({ length: burstN }, (_, k) => ({ k, siteId: setup.sites[k % nSites], lane: laneName(Math.floor(k / nSites) % lanesPerSite) }));
    const sentP = clients.next("sent", 60_000);
    clients.proc.send({ cmd: "burst", items });
    const sent: FeedSent[] = (await sentP).sent;
    const loadReport: LoadReport = (await loadDone).report;
    const windowS = (wallMs() - t0) / 1000;
    const cpuUsed = process.cpuUsage(cpu0);
    const perEvent = cpu.perMessage(loadReport.events.length);
    eld.disable();
    clearInterval(progress);
    // The consumers' backlog is measured from now, while the last frames and feed items come in.
    const persistedP = checkPersisted(cloud.db, loadReport.last, setup.sites, loadReport.events.at(-1)?.[3] ?? wallMs());
    await new Promise((r) => setTimeout(r, 3000));
    clients.proc.send({ cmd: "report" });
    const report: ClientsReport = (await clients.next("report", 60_000)).report;
    const persisted = await persistedP;
    printReport({ setup, loadReport, report, sent, windowS, cpuUsed, perEvent, eld, persisted, cloud, load0, where, rate, seconds });
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

function printReport(r: {
  setup: Setup;
  loadReport: LoadReport;
  report: ClientsReport;
  sent: FeedSent[];
  windowS: number;
  cpuUsed: NodeJS.CpuUsage;
  perEvent: Record<string, number> | undefined;
  eld: ReturnType<typeof monitorEventLoopDelay>;
  persisted: Awaited<ReturnType<typeof checkPersisted>>;
  cloud: CloudHandle;
  load0: number[];
  where: string;
  rate: number;
  seconds: number;
}): void {
  const lanes = laneFigures(r.setup, r.loadReport, r.report);
  const feed = feedBurstFigures(r.setup, r.sent, r.report);
  const cloudCpuMsPerS = (r.cpuUsed.user + r.cpuUsed.system) / 1000 / r.windowS;
  const achieved = r.loadReport.events.length / r.windowS;
  const eldP99 = r.eld.percentile(99) / 1e6;
  const load1 = loadavg();
  const ratio99 = lanes.perDelivery.p99 / lanes.anchor.p99;
  const ratio50 = lanes.perDelivery.p50 / lanes.anchor.p50;
  console.log(`lane events: ${r.loadReport.events.length} published in ${r.windowS.toFixed(1)} s (${achieved.toFixed(1)}/s), ${lanes.expected} deliveries expected (each event to the consoles of its site), publish errors ${r.loadReport.errors}, puback ${fmt(summary(r.loadReport.pubackMs))}`);
  console.log(`publish → console, per delivery:              ${fmt(lanes.perDelivery)}`);
  console.log(`publish → console, per event (its last one):  ${fmt(lanes.perEvent)}`);
  console.log(`  where it goes: publish → server send ${fmt(lanes.toSend)}; send → arrival ${fmt(lanes.sendToArrival)}`);
  console.log(`  missed ${lanes.missed}, duplicated ${lanes.duplicated}, streams dropped ${r.report.closedStreams}`);
  console.log(`anchor, publish → bare MQTT subscriber (same broker, same events, consoles' process): ${fmt(lanes.anchor)}; missed ${lanes.anchorMissed}`);
  console.log(`ratio console / anchor: p50 ${ratio50.toFixed(2)}, p99 ${ratio99.toFixed(2)}`);
  console.log(`feed burst: ${r.sent.length} overrides through the API (${r.sent.filter((s) => s.ackAt !== undefined).length} answered 202; answer ${fmt(feed.api)})`);
  console.log(`  202 (audit row committed) → feed item at every console of the site: ${fmt(feed.latency)}; missed ${feed.missed}`);
  console.log(`cloud process: ${cloudCpuMsPerS.toFixed(0)} ms CPU per s (${(cloudCpuMsPerS / 10).toFixed(0)}% of a core), event-loop delay p99 ${eldP99.toFixed(1)} ms, max ${(r.eld.max / 1e6).toFixed(1)} ms`);
  if (r.perEvent) console.log(`CPU per lane event (µs): ${Object.entries(r.perEvent).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log(`persisted last-known state (lane_status): ${r.persisted.matching}/${r.persisted.lanes} lanes match the last state published${r.persisted.settledMs !== undefined ? `, settled ${r.persisted.settledMs.toFixed(0)} ms after the last publish` : `; mismatched e.g. ${JSON.stringify(r.persisted.example)}`}`);
  console.log(`load average before ${r.load0.map((x) => x.toFixed(2)).join(" ")}, after ${load1.map((x) => x.toFixed(2)).join(" ")}`);
  console.log(
    JSON.stringify({
      lanes: r.setup.sites.length * r.setup.lanesPerSite, sites: r.setup.sites.length, consoles: r.setup.consoles.length, rate: r.rate, seconds: r.seconds, events: r.loadReport.events.length, events_per_s: +achieved.toFixed(1),
      publish_to_console_ms: round(lanes.perDelivery), publish_to_all_consoles_ms: round(lanes.perEvent), publish_to_send_ms: round(lanes.toSend), send_to_arrival_ms: round(lanes.sendToArrival),
      missed: lanes.missed, duplicated: lanes.duplicated, streams_dropped: r.report.closedStreams,
      anchor_mqtt_ms: round(lanes.anchor), anchor_missed: lanes.anchorMissed, ratio_p50: +ratio50.toFixed(2), ratio_p99: +ratio99.toFixed(2),
      feed_ms: round(feed.latency), feed_missed: feed.missed, feed_api_ms: round(feed.api),
      cloud_cpu_ms_per_s: Math.round(cloudCpuMsPerS), cloud_event_loop_delay_p99_ms: +eldP99.toFixed(1), cpu_us_per_event: r.perEvent ?? null,
      persisted_match: r.persisted.matching, persisted_lanes: r.persisted.lanes, persisted_settled_ms: r.persisted.settledMs ?? null,
      setup: r.where, load_average_before: r.load0.map((x) => +x.toFixed(2)), load_average_after: load1.map((x) => +x.toFixed(2)),
    }),
  );
}
