/**
 * The cloud bench's load, run in a child process of its own (its CPU is measured apart): every
 * site's gateway (exit requests published, payment/req and payment/success awaited), every
 * driver's phone (PaymentIntent through the pay API, card confirmed at the Stripe emulator) and
 * Stripe's webhook sender (a signed payment_intent.succeeded posted to the cloud).
 *
 * Two ways to load it:
 * - closed loop (`concurrency`): that many exits in flight, the next one starting when one ends;
 *   it finds the saturation rate, but its latency is only concurrency ÷ rate (Little's law);
 * - open loop (`rate`): exit i is SCHEDULED at start + i / rate whatever happened before, and its
 *   latency counts from that scheduled moment, so a queue anywhere (the cloud, the broker, the
 *   driver itself) shows in the figures instead of slowing the offered load (coordinated omission).
 */
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import Stripe from "stripe";
import { exitFlowTopics, payToken, publishExitRequest, requestPaymentIntent } from "../hil/chaos/paid-exit";
import type { BenchExit } from "./_cloud-parts";
import { sendMqttPacketsAtOnce } from "../host/tcp-nodelay";

export interface DriverConfig {
  mqttUrl: string;
  cloudUrl: string;
  /** The Stripe emulator (its own process), where the driver confirms its card. */
  stripe: { host: string; port: number; key: string };
  webhookSecret: string;
  exits: BenchExit[];
  load: { kind: "closed"; concurrency: number } | { kind: "open"; rate: number };
}

export interface DriverResult {
  latencies: number[];
  stages: { req: number[]; intent: number[]; webhook: number[]; success: number[] };
  /** How late the driver started each exit after its scheduled moment (open loop; 0 in a closed loop). */
  startLag: number[];
  failures: number;
  elapsed: number;
  okCount: [string, number][];
  reqCount: [string, number][];
}

type PaymentReq = { session_id: string; pay_url: string; amount: number };

/** Says to the parent when the load starts and ends (its CPU window), when there is one. */
function phase(name: "start" | "end"): void {
  process.send?.({ phase: name });
}

export async function driver(cfg: DriverConfig): Promise<DriverResult> {
  // The sites' side of the link, as the gateway's bridge runs it: Nagle off (host/tcp-nodelay.ts).
  const client = sendMqttPacketsAtOnce(await mqtt.connectAsync(cfg.mqttUrl, { clientId: `bench-sites-${randomBytes(3).toString("hex")}`, protocolVersion: 4 }));
  const sites = [...new Set(cfg.exits.map((e) => e.siteId))];
  const reqTopics = new Set(sites.map((s) => exitFlowTopics(s).paymentReq));
  await client.subscribeAsync(sites.flatMap((s) => [exitFlowTopics(s).paymentReq, exitFlowTopics(s).paymentSuccess]), { qos: 1 });
  const reqWaiters = new Map<string, (p: PaymentReq) => void>();
  const okWaiters = new Map<string, () => void>();
  const reqCount = new Map<string, number>();
  const okCount = new Map<string, number>();
  client.on("message", (topic, buf) => {
    const p = JSON.parse(buf.toString()) as PaymentReq;
    const isReq = reqTopics.has(topic);
    const counts = isReq ? reqCount : okCount;
    counts.set(p.session_id, (counts.get(p.session_id) ?? 0) + 1);
    if (isReq) reqWaiters.get(p.session_id)?.(p);
    else okWaiters.get(p.session_id)?.();
  });
  const signer = new Stripe("sk_test_bench");
  const payer = new Stripe(cfg.stripe.key, { host: cfg.stripe.host, port: cfg.stripe.port, protocol: "http", maxNetworkRetries: 0 });
  const stages = { req: [] as number[], intent: [] as number[], webhook: [] as number[], success: [] as number[] };
  const latencies: number[] = [];
  const startLag: number[] = [];
  let failures = 0;
  const timeout = <T>(p: Promise<T>, ms: number, what: string) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([p, new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
  };

  const oneExit = async (e: BenchExit, scheduledAt: number) => {
    const sid = e.sessionId;
    startLag.push(performance.now() - scheduledAt);
    const gotReq = new Promise<PaymentReq>((resolve) => reqWaiters.set(sid, resolve));
    const gotOk = new Promise<void>((resolve) => okWaiters.set(sid, resolve));
    await publishExitRequest(client, e.siteId, { eventId: `x${sid}`, laneId: e.laneId, plate: e.plate, src: "bench" });
    const req = await timeout(gotReq, 30_000, `payment/req ${sid}`);
    const t1 = performance.now();
    const { paymentIntent: pi, amount } = await requestPaymentIntent(cfg.cloudUrl, sid, payToken(req.pay_url));
    await payer.paymentIntents.confirm(pi, { payment_method: "pm_card_visa", return_url: `${cfg.cloudUrl}/bench-return` });
    const t2 = performance.now();
    const event = JSON.stringify({ id: `evt_bench_${sid}`, object: "event", api_version: Stripe.API_VERSION, created: Math.floor(Date.now() / 1000), livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type: "payment_intent.succeeded", data: { object: { id: pi, object: "payment_intent", amount, amount_received: amount, currency: "eur", status: "succeeded", metadata: { session_id: sid } } } });
    const sig = signer.webhooks.generateTestHeaderString({ payload: event, secret: cfg.webhookSecret });
    const w = await fetch(`${cfg.cloudUrl}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": sig }, body: event });
    if (w.status !== 200) throw new Error(`webhook ${w.status}: ${await w.text()}`);
    const t3 = performance.now();
    await timeout(gotOk, 30_000, `payment/success ${sid}`);
    const t4 = performance.now();
    reqWaiters.delete(sid);
    okWaiters.delete(sid);
    stages.req.push(t1 - scheduledAt);
    stages.intent.push(t2 - t1);
    stages.webhook.push(t3 - t2);
    stages.success.push(t4 - t3);
    latencies.push(t4 - scheduledAt);
  };
  let done = 0;
  const guarded = async (e: BenchExit, scheduledAt: number) => {
    try {
      await oneExit(e, scheduledAt);
    } catch (err) {
      failures++;
      if (failures <= 3) console.error(`\n  exit failed: ${(err as Error).message}`);
    }
    done++;
  };

  phase("start");
  const started = performance.now();
  const progress = setInterval(() => process.stderr.write(`\r  ${done}/${cfg.exits.length} paid exits, ${Math.round(done / ((performance.now() - started) / 1000))}/s   `), 1000);
  if (cfg.load.kind === "closed") await closedLoop(cfg.exits, cfg.load.concurrency, guarded);
  else await openLoop(cfg.exits, cfg.load.rate, guarded);
  const elapsed = (performance.now() - started) / 1000;
  phase("end");
  clearInterval(progress);
  process.stderr.write("\n");
  await new Promise((r) => setTimeout(r, 2000)); // late duplicates, if any
  await client.endAsync(true);
  return { latencies, stages, startLag, failures, elapsed, okCount: [...okCount], reqCount: [...reqCount] };
}

async function closedLoop(exits: BenchExit[], concurrency: number, one: (e: BenchExit, scheduledAt: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < exits.length) await one(exits[next++], performance.now());
    }),
  );
}

/** Exit i starts at t0 + i / rate; a late timer starts every exit already due at once (their latency counts from when they were due). */
async function openLoop(exits: BenchExit[], rate: number, one: (e: BenchExit, scheduledAt: number) => Promise<void>): Promise<void> {
  const periodMs = 1000 / rate;
  const t0 = performance.now();
  const inFlight: Promise<void>[] = [];
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      for (; i < exits.length && t0 + i * periodMs <= now; i++) inFlight.push(one(exits[i], t0 + i * periodMs));
      if (i >= exits.length) resolve();
      else setTimeout(tick, Math.max(0, t0 + i * periodMs - performance.now()));
    };
    tick();
  });
  await Promise.all(inFlight);
}

/** Child-process entry: config on stdin, result as JSON on stdout. */
export async function driverMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const r = await driver(JSON.parse(Buffer.concat(chunks).toString()) as DriverConfig);
  process.stdout.write(JSON.stringify(r));
  process.disconnect?.();
}

/** Runs the driver in a child process; `onPhase` is called when its load starts and ends (with the child's pid). */
export async function runDriver(cfg: DriverConfig, onPhase: (phase: "start" | "end", pid: number) => Promise<void> | void): Promise<DriverResult> {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, ["--import", "tsx", "-e", `import(${JSON.stringify(new URL(import.meta.url).href)}).then((m) => m.driverMain())`], { stdio: ["pipe", "pipe", "inherit", "ipc"] });
  const pid = child.pid as number;
  const { stdin, stdout } = child;
  if (!stdin || !stdout) throw new Error("load driver: no pipes to its stdin and stdout");
  const phases: Promise<void>[] = [];
  child.on("message", (m: { phase?: "start" | "end" }) => {
    if (m.phase) phases.push(Promise.resolve(onPhase(m.phase, pid)));
  });
  stdin.end(JSON.stringify(cfg));
  let out = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  await Promise.all(phases);
  if (code !== 0) throw new Error(`load driver exited with ${code}`);
  return JSON.parse(out) as DriverResult;
}
