/**
 * `npm run bench -- gateway [--parts bridge,drain,latency] [--messages N] [--warmup N] [--backlog N]
 *                           [--inflight N] [--exits N] [--lanes N] [--trace]`
 *
 * (a) Bridge throughput site → cloud WITH the durable outbox (fsync'ed group commits): a site
 *     client publishes N QoS 1 events to the embedded site broker; the bridge writes each to the
 *     outbox before the PUBACK and the relay forwards it to the cloud broker (the real Mosquitto
 *     at 127.0.0.1:1883). Anchor in the same run: MQTT.js publishing the same N QoS 1 messages
 *     straight to Mosquitto. Both rates are measured at a subscriber on Mosquitto; publisher and
 *     subscriber each run in their own process in both cases (LAN / cloud clients), so the
 *     bench's process holds only the gateway. Both runs first pass --warmup messages, untimed,
 *     through the same processes: a gateway runs for months, and a cold JIT is not its rate.
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
import { TcpProxy } from "../hil/harness/tcp-proxy";
import { measurePaymentToOpen } from "./_gateway-latency";

const CLOUD = { host: "127.0.0.1", port: Number(process.env.SYSPARK_BENCH_MQTT_PORT ?? 1883) };

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
}

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
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--subscriber", url, topic], { stdio: ["pipe", "pipe", "inherit"] });
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

async function startPublisher(url: string, topic: string, auth?: { user: string; pw: string }): Promise<{ publish: (n: number, tag: string) => void; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--publisher", url, topic], {
    stdio: ["pipe", "pipe", "inherit"],
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

/**
 * Publishes `warmup` messages and waits for them at the subscriber (untimed: every process on
 * the path runs its code once before the clock starts, JIT-compiled as in a running site),
 * then `messages` more; the rate is theirs, from the go to the last arrival.
 */
async function timedRun(publisher: { publish: (n: number, tag: string) => void }, sub: Counter, warmup: number, messages: number, tag: string, timeoutMs: number): Promise<number> {
  if (warmup > 0) {
    publisher.publish(warmup, `${tag}-warmup`);
    await sub.until(warmup, timeoutMs);
  }
  const t0 = absNow();
  publisher.publish(messages, tag);
  const t1 = await sub.until(warmup + messages, timeoutMs);
  return messages / ((t1 - t0) / 1000);
}

/** (a) Rate at a cloud subscriber: MQTT.js straight to Mosquitto, then through the gateway. */
async function measureBridge(cloudUrl: string, dataDir: string, messages: number, warmup: number, inflight: number) {
  return withClosers(async (toClose) => {
    // (a1) anchor: MQTT.js straight to Mosquitto, same message count, QoS and warm-up.
    const directTopic = `syspark-bench/${randomBytes(4).toString("hex")}/direct`;
    const direct = await counter(cloudUrl, directTopic);
    toClose.push(async () => direct.close());
    const directPub = await startPublisher(cloudUrl, directTopic);
    toClose.push(async () => directPub.child.kill());
    progress(`direct: ${warmup} warm-up then ${messages} QoS 1 messages to ${cloudUrl} (publisher in its own process)`);
    const directRate = await timedRun(directPub, direct, warmup, messages, "direct", 120_000);

    // (a2) through the site broker, the durable outbox and the bridge.
    const site = `bench-${randomBytes(4).toString("hex")}`;
    const gw = await startGatewayServices(siteConfig(site, dataDir, cloudUrl, inflight));
    toClose.push(() => gw.close(true));
    await gw.bridge.waitConnected();
    const bridged = await counter(cloudUrl, toCloudTopic(site, siteTopic("exitDone")));
    toClose.push(async () => bridged.close());
    const lanePub = await startPublisher(`mqtt://127.0.0.1:${gw.siteBroker.port}`, siteTopic("exitDone"), { user: "bench", pw: process.env.SYSPARK_BENCH_SITE_PW! });
    toClose.push(async () => lanePub.child.kill());
    progress(`bridge: ${warmup} warm-up then ${messages} QoS 1 events site → outbox (fsync) → cloud (publisher in its own process)`);
    const bridgeRate = await timedRun(lanePub, bridged, warmup, messages, "bridge", 300_000);
    const stats = await bridged.stats();
    return { bridgeRate, directRate, duplicates: stats.total - stats.ids };
  });
}

/** (b) `backlog` events queued while the cloud link is cut, then the time to drain them. */
async function measureDrain(cloudUrl: string, dataDir: string, backlog: number, inflight: number) {
  return withClosers(async (toClose) => {
    const proxy = new TcpProxy(CLOUD);
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
  const inflight = intArg(args, "inflight", 20, 1, 1000);
  // --parts bridge,drain,latency (default: all three); the JSON keys of a skipped part are null.
  const partsArg = args.includes("--parts") ? (args[args.indexOf("--parts") + 1] ?? "") : "bridge,drain,latency";
  const parts = new Set(partsArg.split(","));
  for (const p of parts) if (!["bridge", "drain", "latency"].includes(p)) throw new Error(`--parts takes bridge, drain and/or latency separated by commas, got "${partsArg}"`);
  const cloudUrl = `mqtt://${CLOUD.host}:${CLOUD.port}`;
  process.env.SYSPARK_BENCH_SITE_PW ??= randomBytes(12).toString("hex");
  const tmp = mkdtempSync(join(tmpdir(), "syspark-bench-gw-"));
  try {
    const probe = await client(cloudUrl, { protocolVersion: 5 }).catch((err: Error) => {
      throw new Error(`the benchmark needs an MQTT broker at ${cloudUrl} (Mosquitto): ${err.message}`);
    });
    await probe.endAsync(true);
    // Each part closes its gateway before the next starts: one gateway on the cores at a time.
    const bridge = parts.has("bridge") ? await measureBridge(cloudUrl, join(tmp, "a"), messages, warmup, inflight) : undefined;
    const drain = parts.has("drain") ? await measureDrain(cloudUrl, join(tmp, "b"), backlog, inflight) : undefined;
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
      bridge_ratio: round(bridge && bridge.bridgeRate / bridge.directRate, 3),
      drain_s: round(drain?.drainS, 2),
      lost: drain?.lost ?? null,
      messages,
      warmup,
      backlog,
      inflight,
      drain_msgs_per_s: round(drain && backlog / drain.drainS, 0),
      drain_rss_before_mb: mb(drain?.rssBefore),
      drain_peak_rss_mb: mb(drain?.peakRss),
      load_avg_1m: round(loadavg()[0], 1),
      duplicates_at_cloud: bridge || drain ? (bridge?.duplicates ?? 0) + (drain?.duplicates ?? 0) : null,
      latency_exits: latency?.samples.length ?? null,
      latency_lanes: latency ? laneCount : null,
    };
    if (bridge) {
      console.log(`bridge site → cloud with durable outbox: ${result.bridge_msgs_per_s} msg/s`);
      console.log(`MQTT.js straight to the broker:           ${result.direct_msgs_per_s} msg/s  (ratio ${result.bridge_ratio}, target ≥ 0.5)`);
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
  }
}

if (process.argv[2] === "--publisher") await publisherMain(process.argv.slice(3));
if (process.argv[2] === "--subscriber") await subscriberMain(process.argv.slice(3));
