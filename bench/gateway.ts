/**
 * `npm run bench -- gateway [--parts bridge,drain,latency] [--messages N] [--warmup N] [--rounds N]
 *                           [--backlog N] [--inflight N] [--exits N] [--lanes N] [--trace]`
 *
 * The cloud broker is a private Mosquitto with SysPark's cloud-broker flow settings
 * (bench/_cloud-broker.ts), or the one SYSPARK_BENCH_MQTT_URL names.
 * (a) Bridge throughput site → cloud WITH the durable outbox (fsync'ed group commits): a site
 *     client publishes N QoS 1 events to the embedded site broker; the bridge writes each to the
 *     outbox before the PUBACK and the relay forwards it to the cloud broker. Anchor in the same
 *     run: MQTT.js publishing the same N QoS 1 messages straight to the cloud broker. Both rates
 *     are measured at a subscriber on the cloud broker; publisher and subscriber each run in a
 *     process (and session) of their own in both cases (LAN / cloud clients), so the bench's
 *     process holds only the gateway. Both paths first pass --warmup messages, untimed: a
 *     gateway runs for months, and a cold JIT is not its rate. Then --rounds alternating timed
 *     rounds; the figures are the rounds' medians.
 * (b) Recovery: N events queued in the outbox while the cloud link is cut (a TCP proxy between
 *     the bridge and Mosquitto is stopped), then the link is restored: time until every event
 *     reached the cloud subscriber, and how many never did.
 * (c) Payment success → OPEN frame latency over 1,000 exits on 8 lanes (bench/_gateway-latency.ts):
 * p50_ms / p99_ms.
 * Last line: one JSON object with the figures.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import { encodePayload, siteTopic, toCloudTopic } from "../contracts/mqtt-topics";
import { startGatewayServices, type GatewayServices } from "../gateway/bridge/services";
import { parseSiteConfig } from "../gateway/config/load";
import { DEFAULT_RELAY_INFLIGHT } from "../gateway/config/schema";
import { TcpProxy } from "../hil/harness/tcp-proxy";
import { cpuWindow, type CpuPerMessage } from "./_cpu";
import { startCloudBroker, type CloudBroker } from "./_cloud-broker";
import { measurePaymentToOpen } from "./_gateway-latency";

function intArg(args: string[], name: string, def: number, min: number, max: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = args[i + 1];
  if (v === undefined || !/^\d+$/.test(v)) throw new Error(`--${name} must be a whole number, got "${v ?? ""}"`);
  const n = Number(v);
  if (n < min || n > max) throw new Error(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

const progress = (msg: string) => process.stderr.write(`[bench gateway] ${msg}\n`);

async function client(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { clientId: `syspark-bench-${randomBytes(5).toString("hex")}`, reconnectPeriod: 0, ...opts });
  await new Promise<void>((resolve, reject) => {
    c.once("connect", () => resolve());
    c.once("error", reject);
  });
  return c;
}

interface Counter {
  /** Resolves with the absolute time (ms, performance.timeOrigin based) at which n distinct ids had arrived. */
  until: (n: number, timeoutMs: number) => Promise<number>;
  /** Distinct ids and total messages so far. */
  stats: () => Promise<{ ids: number; total: number }>;
  close: () => void;
  pid: number | undefined;
}

/**
 * Publisher and subscriber stand for other machines (a LAN client, a cloud consumer): each is
 * started detached, in a session of its own, hence with its own CPU share under the kernel's
 * autogroup scheduling (on by default), as the cloud broker has (bench/_cloud-broker.ts). In the
 * benchmark's session they would share one share with the gateway. They still end with the
 * benchmark: they exit when their stdin closes.
 */
const OWN_SESSION = { detached: true } as const;

const absNow = () => performance.timeOrigin + performance.now();

/**
 * Counts distinct event ids arriving on a cloud topic, in its own process (a cloud consumer is
 * not part of the gateway: in the same process its JSON parsing would take CPU from the bridge
 * being measured, and not from the direct anchor). `node --import tsx bench/gateway.ts
 * --subscriber <url> <topic>` says "ready" once subscribed, then answers "until <n> <timeoutMs>"
 * with "reached <absolute ms>" (or "timeout <ids>") and "stats" with "stats <ids> <total>".
 */
async function subscriberMain(argv: string[]): Promise<void> {
  const [url, topic] = argv;
  const sub = await client(url, { protocolVersion: 5 });
  const ids = new Set<string>();
  let total = 0;
  let waiter: { n: number; timer: NodeJS.Timeout } | undefined;
  const reached = () => {
    if (waiter && ids.size >= waiter.n) {
      clearTimeout(waiter.timer);
      waiter = undefined;
      process.stdout.write(`reached ${absNow()}\n`);
    }
  };
  sub.on("message", (t, payload) => {
    if (t !== topic) return;
    total++;
    try {
      ids.add((JSON.parse(payload.toString()) as { event_id: string }).event_id);
    } catch {
      /* not ours */
    }
    reached();
  });
  // QoS 0 at the measuring subscriber: Mosquitto's per-client queue limit (max_queued_messages,
  // 1000) must not be what the benchmark measures.
  await sub.subscribeAsync(topic, { qos: 0 });
  let buffered = "";
  process.stdin.on("data", (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const [cmd, a, b] = buffered.slice(0, nl).split(" ");
      buffered = buffered.slice(nl + 1);
      if (cmd === "until") {
        const n = Number(a);
        waiter = { n, timer: setTimeout(() => { waiter = undefined; process.stdout.write(`timeout ${ids.size}\n`); }, Number(b)) };
        reached();
      } else if (cmd === "stats") {
        process.stdout.write(`stats ${ids.size} ${total}\n`);
      }
    }
  });
  process.stdin.on("end", () => void sub.endAsync(true).then(() => process.exit(0)));
  process.stdout.write("ready\n");
}

async function counter(url: string, topic: string): Promise<Counter> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--subscriber", url, topic], { stdio: ["pipe", "pipe", "inherit"], ...OWN_SESSION });
  const lines: ((line: string) => void)[] = [];
  let buffered = "";
  child.stdout!.on("data", (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.shift()?.(line);
    }
  });
  const next = () => new Promise<string>((resolve) => lines.push(resolve));
  const ready = next();
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`subscriber exited (${code}) before it was ready`)));
    void ready.then(() => resolve());
  });
  child.removeAllListeners("exit");
  return {
    until: async (n, timeoutMs) => {
      const answer = next();
      child.stdin!.write(`until ${n} ${timeoutMs}\n`);
      const [what, value] = (await answer).split(" ");
      if (what !== "reached") throw new Error(`only ${value}/${n} arrived within ${timeoutMs} ms`);
      return Number(value);
    },
    stats: async () => {
      const answer = next();
      child.stdin!.write("stats\n");
      const [, ids, total] = (await answer).split(" ");
      return { ids: Number(ids), total: Number(total) };
    },
    close: () => { child.stdin!.end(); setTimeout(() => child.kill(), 2000).unref(); },
    pid: child.pid,
  };
}

/**
 * The message source runs in its own process in both cases, as a LAN client or a cloud client
 * would: `node --import tsx bench/gateway.ts --publisher <url> <topic> <count> <run>` connects,
 * says "ready", then for each "go <n> <tag>" on stdin publishes n QoS 1 messages (pipelined)
 * with event ids <tag>-<i>, and says "acked" once every PUBACK is in.
 */
async function publisherMain(argv: string[]): Promise<void> {
  const [url, topic] = argv;
  const c = await client(url, { protocolVersion: 4, username: process.env.SYSPARK_BENCH_PUB_USER, password: process.env.SYSPARK_BENCH_PUB_PW });
  process.stdout.write("ready\n");
  process.stdin.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n").filter(Boolean)) {
      const [, n, tag] = line.split(" ");
      const count = Number(n);
      let acked = 0;
      for (let i = 0; i < count; i++) {
        c.publish(topic, exitDone(tag, i), { qos: 1 }, () => {
          if (++acked === count) process.stdout.write("acked\n");
        });
      }
    }
  });
  process.stdin.on("end", () => c.end(true, {}, () => process.exit(0)));
}

interface Publisher {
  publish: (n: number, tag: string) => void;
  child: ChildProcess;
}

async function startPublisher(url: string, topic: string, auth?: { user: string; pw: string }): Promise<Publisher> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--publisher", url, topic], {
    stdio: ["pipe", "pipe", "inherit"],
    ...OWN_SESSION,
    env: { ...process.env, SYSPARK_BENCH_PUB_USER: auth?.user ?? "", SYSPARK_BENCH_PUB_PW: auth?.pw ?? "" },
  });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`publisher exited (${code}) before it was ready`)));
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve();
    });
  });
  child.removeAllListeners("exit");
  return { child, publish: (n, tag) => child.stdin!.write(`go ${n} ${tag}\n`) };
}

function siteConfig(siteId: string, dataDir: string, cloudUrl: string, inflight: number) {
  return parseSiteConfig({
    site_id: siteId,
    data_dir: dataDir,
    lanes: [{ id: "exit-1", exit_controller: { port: "/dev/bench-ec" }, barrier_executor: { port: "/dev/bench-be" } }],
    site_broker: { host: "127.0.0.1", port: 0, users: [{ username: "bench", role: "gateway", password_env: "SYSPARK_BENCH_SITE_PW" }] },
    cloud: { url: cloudUrl, anonymous: true, reconnect_ms: 200, session_expiry_s: 60 },
    bridge: { heartbeat_s: 0, inflight },
    outbox: { fsync: true },
  });
}

const exitDone = (run: string, i: number) =>
  encodePayload("exitDone", { ts: Date.now(), src: "bench", event_id: `${run}-${i}`, lane_id: "exit-1", barrier_result: "opened", passed: true, decided_by: "cloud" });

/** Runs `steps` with a list of closers, closing them (in reverse) however it ends. */
async function withClosers<T>(steps: (toClose: (() => Promise<unknown>)[]) => Promise<T>): Promise<T> {
  const toClose: (() => Promise<unknown>)[] = [];
  try {
    return await steps(toClose);
  } finally {
    for (const c of toClose.reverse()) await c().catch(() => undefined);
  }
}

/** One message path under test: a publisher process, a subscriber counting what arrives, and the messages sent so far. */
interface Path {
  name: string;
  publisher: Publisher;
  sub: Counter;
  /** The gateway's process on the bridge path (its CPU is counted apart). */
  gatewayPid?: number;
  sent: number;
  timeoutMs: number;
}

/**
 * Publishes n messages and waits for them at the subscriber. Untimed as a warm-up (every process
 * on the path runs its code once before the clock starts, JIT-compiled as in a running site);
 * timed, the rate is theirs, from the go to the last arrival, with the CPU each process spent.
 */
async function pass(path: Path, n: number, brokerPid: number | undefined, tag: string): Promise<{ rate: number; cpu: CpuPerMessage | undefined }> {
  const cpu = cpuWindow({ publisher: path.publisher.child.pid, gateway: path.gatewayPid, broker: brokerPid, subscriber: path.sub.pid });
  const t0 = absNow();
  path.publisher.publish(n, `${path.name}-${tag}`);
  path.sent += n;
  const t1 = await path.sub.until(path.sent, path.timeoutMs);
  return { rate: n / ((t1 - t0) / 1000), cpu: cpu.perMessage(n) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Mean of per-round CPU breakdowns (same keys in every round). */
function meanCpu(rounds: (CpuPerMessage | undefined)[]): CpuPerMessage | undefined {
  const known = rounds.filter((r): r is CpuPerMessage => r !== undefined);
  if (known.length === 0) return undefined;
  return Object.fromEntries(Object.keys(known[0]).map((k) => [k, Math.round(known.reduce((a, r) => a + (r[k] ?? 0), 0) / known.length)]));
}

/**
 * (a) Rate at a cloud subscriber: MQTT.js straight to the broker (the anchor), and through the
 * site broker, the durable outbox and the bridge. Both paths are set up and warmed first, then
 * timed in `rounds` alternating rounds (direct, bridge, direct, bridge…): each round's ratio
 * compares two runs a second apart, and the median of the rounds is what a scheduling hiccup on
 * two shared cores cannot move much (a single pair of runs moved the ratio by ±0.05).
 */
async function measureBridge(cloud: CloudBroker, dataDir: string, messages: number, warmup: number, inflight: number, rounds: number) {
  const cloudUrl = cloud.url;
  return withClosers(async (toClose) => {
    const directTopic = `syspark-bench/${randomBytes(4).toString("hex")}/direct`;
    const directSub = await counter(cloudUrl, directTopic);
    toClose.push(async () => directSub.close());
    const directPub = await startPublisher(cloudUrl, directTopic);
    toClose.push(async () => directPub.child.kill());
    const direct: Path = { name: "direct", publisher: directPub, sub: directSub, sent: 0, timeoutMs: 120_000 };

    const site = `bench-${randomBytes(4).toString("hex")}`;
    const gw = await startGatewayServices(siteConfig(site, dataDir, cloudUrl, inflight));
    toClose.push(() => gw.close(true));
    await gw.bridge.waitConnected();
    const bridgedSub = await counter(cloudUrl, toCloudTopic(site, siteTopic("exitDone")));
    toClose.push(async () => bridgedSub.close());
    const lanePub = await startPublisher(`mqtt://127.0.0.1:${gw.siteBroker.port}`, siteTopic("exitDone"), { user: "bench", pw: process.env.SYSPARK_BENCH_SITE_PW! });
    toClose.push(async () => lanePub.child.kill());
    const bridge: Path = { name: "bridge", publisher: lanePub, sub: bridgedSub, gatewayPid: process.pid, sent: 0, timeoutMs: 300_000 };

    progress(`warm-up: ${warmup} QoS 1 messages on each path (publishers and subscribers in processes of their own)`);
    if (warmup > 0) for (const path of [direct, bridge]) await pass(path, warmup, cloud.pid, "warmup");
    const directRounds: Awaited<ReturnType<typeof pass>>[] = [];
    const bridgeRounds: Awaited<ReturnType<typeof pass>>[] = [];
    for (let r = 1; r <= rounds; r++) {
      const d = await pass(direct, messages, cloud.pid, `r${r}`);
      const b = await pass(bridge, messages, cloud.pid, `r${r}`);
      directRounds.push(d);
      bridgeRounds.push(b);
      progress(`round ${r}/${rounds}: direct ${Math.round(d.rate)} msg/s, bridge (site → outbox fsync → cloud) ${Math.round(b.rate)} msg/s, ratio ${(b.rate / d.rate).toFixed(3)}`);
    }
    const stats = await bridgedSub.stats();
    return {
      bridgeRate: median(bridgeRounds.map((x) => x.rate)),
      directRate: median(directRounds.map((x) => x.rate)),
      ratio: median(bridgeRounds.map((b, i) => b.rate / directRounds[i].rate)),
      roundRatios: bridgeRounds.map((b, i) => b.rate / directRounds[i].rate),
      bridgeCpu: meanCpu(bridgeRounds.map((x) => x.cpu)),
      directCpu: meanCpu(directRounds.map((x) => x.cpu)),
      duplicates: stats.total - stats.ids,
    };
  });
}

/** (b) `backlog` events queued while the cloud link is cut, then the time to drain them. */
async function measureDrain(cloud: CloudBroker, dataDir: string, backlog: number, inflight: number) {
  const cloudUrl = cloud.url;
  return withClosers(async (toClose) => {
    const proxy = new TcpProxy({ host: cloud.host, port: cloud.port });
    await proxy.start();
    toClose.push(() => proxy.stop());
    const site = `bench-${randomBytes(4).toString("hex")}`;
    const gw: GatewayServices = await startGatewayServices(siteConfig(site, dataDir, `mqtt://127.0.0.1:${proxy.port}`, inflight));
    toClose.push(() => gw.close(false));
    await gw.bridge.waitConnected();
    const drained = await counter(cloudUrl, toCloudTopic(site, siteTopic("exitDone")));
    toClose.push(async () => drained.close());
    await proxy.stop();
    while (gw.bridge.connected) await new Promise((r) => setTimeout(r, 20));
    progress(`outage: queueing ${backlog} events in the outbox`);
    for (let i = 0; i < backlog; i += 500) {
      const batch: Promise<unknown>[] = [];
      for (let j = i; j < Math.min(backlog, i + 500); j++) {
        batch.push(gw.emitEvent("exitDone", { ts: Date.now(), src: "bench", event_id: `drain-${j}`, lane_id: "exit-1", barrier_result: "opened", passed: true, decided_by: "offline_badge" }));
      }
      await Promise.all(batch);
    }
    const queued = gw.outbox.depth;
    const rssBefore = process.memoryUsage().rss;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    progress(`link restored: draining ${queued} events`);
    const t0 = absNow();
    await proxy.start();
    let t1: number;
    try {
      t1 = await drained.until(backlog, 300_000);
    } catch {
      t1 = absNow();
    }
    clearInterval(sampler);
    const stats = await drained.stats();
    return { drainS: (t1 - t0) / 1000, lost: backlog - stats.ids, duplicates: stats.total - stats.ids, rssBefore, peakRss };
  });
}

export async function run(args: string[]): Promise<void> {
  const exits = intArg(args, "exits", 1000, 8, 100_000);
  const laneCount = intArg(args, "lanes", 8, 1, 64);
  // 20,000 timed messages: at 40–50k msg/s the direct anchor then runs for ~0.45 s; with 5,000
  // it ran ~0.1 s, where one scheduling hiccup on two shared cores moved the rate by 20 %.
  const messages = intArg(args, "messages", 20_000, 100, 1_000_000);
  const warmup = intArg(args, "warmup", 5000, 0, 1_000_000);
  const backlog = intArg(args, "backlog", 10_000, 100, 1_000_000);
  const inflight = intArg(args, "inflight", DEFAULT_RELAY_INFLIGHT, 1, 1000);
  const rounds = intArg(args, "rounds", 5, 1, 100);
  // --parts bridge,drain,latency (default: all three); the JSON keys of a skipped part are null.
  const partsArg = args.includes("--parts") ? (args[args.indexOf("--parts") + 1] ?? "") : "bridge,drain,latency";
  const parts = new Set(partsArg.split(","));
  for (const p of parts) if (!["bridge", "drain", "latency"].includes(p)) throw new Error(`--parts takes bridge, drain and/or latency separated by commas, got "${partsArg}"`);
  process.env.SYSPARK_BENCH_SITE_PW ??= randomBytes(12).toString("hex");
  const cloud = await startCloudBroker();
  const cloudUrl = cloud.url;
  progress(`cloud broker: ${cloud.describe}, Receive Maximum ${cloud.receiveMaximum}; relay window ${inflight} (bridge.inflight)`);
  const tmp = mkdtempSync(join(tmpdir(), "syspark-bench-gw-"));
  try {
    // Each part closes its gateway before the next starts: one gateway on the cores at a time.
    const bridge = parts.has("bridge") ? await measureBridge(cloud, join(tmp, "a"), messages, warmup, inflight, rounds) : undefined;
    const drain = parts.has("drain") ? await measureDrain(cloud, join(tmp, "b"), backlog, inflight) : undefined;
    // (c) payment success → OPEN on the barrier's serial line, through the whole lane.
    if (parts.has("latency")) progress(`latency: ${exits} exits on ${laneCount} lanes (simulated exit controllers on socat ptys)`);
    const latency = parts.has("latency") ? await measurePaymentToOpen({ cloudUrl, lanes: laneCount, exits, progress, trace: args.includes("--trace") }) : undefined;

    const round = (v: number | undefined, digits: number) => (v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits);
    const mb = (v: number | undefined) => (v === undefined ? null : Math.round(v / 1048576));
    const result = {
      p50_ms: round(latency?.p50, 2),
      p99_ms: round(latency?.p99, 2),
      bridge_msgs_per_s: round(bridge?.bridgeRate, 0),
      direct_msgs_per_s: round(bridge?.directRate, 0),
      bridge_ratio: round(bridge?.ratio, 3),
      drain_s: round(drain?.drainS, 2),
      lost: drain?.lost ?? null,
      messages,
      warmup,
      rounds,
      round_ratios: bridge ? bridge.roundRatios.map((r) => round(r, 3)) : null,
      backlog,
      inflight,
      cloud_receive_maximum: cloud.receiveMaximum,
      drain_msgs_per_s: round(drain && backlog / drain.drainS, 0),
      drain_rss_before_mb: mb(drain?.rssBefore),
      drain_peak_rss_mb: mb(drain?.peakRss),
      load_avg_1m: round(loadavg()[0], 1),
      duplicates_at_cloud: bridge || drain ? (bridge?.duplicates ?? 0) + (drain?.duplicates ?? 0) : null,
      latency_exits: latency?.samples.length ?? null,
      latency_lanes: latency ? laneCount : null,
      bridge_cpu_us_per_msg: bridge?.bridgeCpu ?? null,
      direct_cpu_us_per_msg: bridge?.directCpu ?? null,
    };
    if (bridge) {
      console.log(`bridge site → cloud with durable outbox: ${result.bridge_msgs_per_s} msg/s (median of ${rounds} rounds)`);
      console.log(`MQTT.js straight to the broker:           ${result.direct_msgs_per_s} msg/s`);
      console.log(`ratio (median of the rounds' ratios):     ${result.bridge_ratio}, target ≥ 0.5; rounds: ${result.round_ratios?.join(", ")}`);
      const show = (cpu: CpuPerMessage | undefined) => (cpu ? Object.entries(cpu).map(([k, v]) => `${k} ${v}`).join(", ") : "n/a (no /proc)");
      console.log(`CPU µs per message (processes, rest of the machine, idle cores), bridge: ${show(bridge.bridgeCpu)}`);
      console.log(`                                                             direct: ${show(bridge.directCpu)}`);
    }
    if (drain) console.log(`drain after outage: ${backlog} events in ${result.drain_s} s (${result.drain_msgs_per_s} msg/s), lost ${result.lost} (target 0), RSS ${result.drain_rss_before_mb} → peak ${result.drain_peak_rss_mb} MB`);
    console.log(`machine load average (1 min) during the run: ${result.load_avg_1m}`);
    if (latency) {
      if (latency.hops) console.log(`payment success → OPEN per hop, ms (p50 / p90 / p99 / max):\n${latency.hops}`);
      console.log(`payment success → OPEN frame: p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, max ${round(latency.max, 2)} ms over ${latency.samples.length} exits on ${laneCount} lanes (target p99 ≤ 10 ms)`);
    }
    console.log(JSON.stringify(result));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await cloud.stop();
  }
}

if (process.argv[2] === "--publisher") await publisherMain(process.argv.slice(3));
if (process.argv[2] === "--subscriber") await subscriberMain(process.argv.slice(3));
