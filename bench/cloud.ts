/**
 * `npm run bench -- cloud [--n 2000] [--concurrency 64] [--consumers 4]`: paid exits per second
 * sustained by ONE cloud instance against the PostgreSQL server (fresh schema) and Mosquitto
 * (or the in-process broker when Mosquitto is not reachable), with every durability rule on:
 *
 *   exit/req published (QoS 1) → cloud prices it in one transaction (event id recorded, session
 *   locked, outbox + audit) → payment/req published by the relay after PUBACK → the driver's
 *   PaymentIntent created server-side (POST /api/pay/:id/intent, Stripe test emulator in-process)
 *   → the driver's card confirmed at the emulator (pm_card_visa: the Charge a receipt's card comes
 *   from, as a phone's Stripe.js would) → a signed payment_intent.succeeded webhook → verified, recorded once, payment + session
 *   paid, outbox + audit in one transaction → payment/success published.
 *
 * Latency is from the exit/req publish to the payment/success delivery, with a per-stage split
 * (where the time goes). Lost = sessions without a success; duplicated = extra successes.
 * Anchor measured in the same run: trivial one-row commits/s on the same server and pool.
 */
import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import postgres from "postgres";
import Stripe from "stripe";
import { exitFlowTopics, parkedVehicles, payToken, publishExitRequest, requestPaymentIntent, seedParkedVehicles } from "../hil/chaos/paid-exit";
import { silentLogger } from "../host/log";
import { seedSite, startCloud } from "../cloud/server/index";
import { intArg } from "./_args";

const PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const MQTT_URL = process.env.SYSPARK_TEST_MQTT_URL ?? "mqtt://127.0.0.1:1883";

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function reachable(url: string): Promise<boolean> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000 }, false);
    await c.endAsync(true);
    return true;
  } catch {
    return false;
  }
}

export async function run(args: string[]): Promise<void> {
  const n = intArg(args, "--n", 2000);
  const concurrency = intArg(args, "--concurrency", 64);
  const consumers = intArg(args, "--consumers", 4);
  const schema = `syspark_bench_${randomBytes(4).toString("hex")}`;
  const siteId = `bench-${randomBytes(3).toString("hex")}`;
  const useMosquitto = await reachable(MQTT_URL);
  console.log(`cloud bench: ${n} paid exits, ${concurrency} in flight, PostgreSQL ${PG_URL} (schema ${schema}), broker ${useMosquitto ? `Mosquitto ${MQTT_URL}` : "in-process aedes"}`);

  // Anchor: trivial durable commits on the same server.
  const anchorSql = postgres(PG_URL, { max: 8, onnotice: () => undefined });
  await anchorSql.unsafe(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".anchor (id bigserial primary key, v int)`);
  const anchorN = 3000;
  const a0 = performance.now();
  let ai = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (ai++ < anchorN) await anchorSql.begin((tx) => tx`INSERT INTO ${anchorSql(schema)}.anchor (v) VALUES (1)`);
  }));
  const anchorCommitsPerS = anchorN / ((performance.now() - a0) / 1000);
  await anchorSql.unsafe(`DROP TABLE "${schema}".anchor`);
  console.log(`anchor: ${Math.round(anchorCommitsPerS)} one-row commits/s (8 connections)`);

  const instanceId = `bench${randomBytes(3).toString("hex")}`;
  const cloud = await startCloud({
    databaseUrl: PG_URL,
    dbSchema: schema,
    dbPoolMax: 32,
    ...(useMosquitto ? { mqttUrl: MQTT_URL, mqttConsumers: consumers } : { mqttPort: 0 }),
    port: 0,
    logger: silentLogger,
    instanceId,
    shareGroup: `bench${randomBytes(3).toString("hex")}`,
    mqttSessionExpiryS: 0,
    relayPollMs: 20,
    seedDemo: false,
    createFirstAdmin: false,
  });
  try {
    cloud.emulator?.setWebhookUrl(null); // the bench signs and posts the webhooks itself
    await seedSite(cloud.db, { siteId, name: "Bench", timeZone: "Europe/Paris", currency: "EUR" });
    // Vehicles already inside: entries two hours ago.
    const vehicles = parkedVehicles(siteId, n);
    await seedParkedVehicles(cloud.db.sql, siteId, vehicles);
    const plates = vehicles.map((v) => v.plate);

    // The load (site gateway + drivers + Stripe's webhook sender) runs in a child process, so the
    // cloud instance being measured has its event loop to itself.
    const cfg: DriverConfig = { mqttUrl: cloud.mqttUrl, cloudUrl: cloud.url, stripe: cloud.emulator ? { ...cloud.emulator.clientConfig, key: `sk_test_syspark_emulator_${instanceId}` } : null /* the key startCloud gives its emulator */, siteId, webhookSecret: cloud.webhookSecret, plates, sessions: vehicles.map((v) => v.sessionId), concurrency };
    const result = await runDriver(cfg);
    const { latencies, stages, failures, elapsed, okCount, reqCount } = result;
    const sessionOf = new Map(plates.map((p, i) => [p, cfg.sessions[i]]));
    const sessions = [...sessionOf.values()];
    const hist = async (name: string) => {
      const m = (await cloud.metrics.registry.getSingleMetric(name)?.get()) as { values: { metricName?: string; value: number }[] } | undefined;
      const sum = m?.values.filter((v) => v.metricName?.endsWith("_sum")).reduce((a, v) => a + v.value, 0) ?? 0;
      const count = m?.values.filter((v) => v.metricName?.endsWith("_count")).reduce((a, v) => a + v.value, 0) ?? 0;
      return count ? (1000 * sum) / count : NaN;
    };
    console.log(`server side (mean): site event transaction ${(await hist("syspark_site_event_duration_seconds")).toFixed(1)} ms, webhook ${(await hist("billing_webhook_duration_seconds")).toFixed(1)} ms`);
    const lost = sessions.filter((s) => !okCount.get(s)).length;
    const duplicated = sessions.reduce((acc, s) => acc + Math.max(0, (okCount.get(s) ?? 0) - 1) + Math.max(0, (reqCount.get(s) ?? 0) - 1), 0);
    const sorted = [...latencies].sort((a, b) => a - b);
    const med = (xs: number[]) => pct([...xs].sort((a, b) => a - b), 50);
    const rate = latencies.length / elapsed;
    console.log(`paid exits: ${latencies.length} in ${elapsed.toFixed(1)} s = ${rate.toFixed(0)}/s; p50 ${pct(sorted, 50).toFixed(1)} ms, p99 ${pct(sorted, 99).toFixed(1)} ms; failures ${failures}, lost ${lost}, duplicated ${duplicated}`);
    console.log(`where the time goes (p50 per stage): exit/req→payment/req ${med(stages.req).toFixed(1)} ms, PaymentIntent + card confirm ${med(stages.intent).toFixed(1)} ms, webhook ${med(stages.webhook).toFixed(1)} ms, webhook→payment/success ${med(stages.success).toFixed(1)} ms`);
    console.log(`ratio: ${(rate / anchorCommitsPerS).toFixed(3)} paid exits per trivial commit (a paid exit is 3 transactions — exit, payment row, webhook — the provider ref's one statement, the relay's claim/mark and its receipt's share of a batch)`);
    console.log(JSON.stringify({ paid_exits_per_s: Math.round(rate), p50_ms: +pct(sorted, 50).toFixed(1), p99_ms: +pct(sorted, 99).toFixed(1), lost, duplicated, failures, n, concurrency, broker: useMosquitto ? "mosquitto" : "aedes", anchor_commits_per_s: Math.round(anchorCommitsPerS), ratio_vs_anchor: +(rate / anchorCommitsPerS).toFixed(3), stage_p50_ms: { exit_to_req: +med(stages.req).toFixed(1), intent: +med(stages.intent).toFixed(1), webhook: +med(stages.webhook).toFixed(1), success: +med(stages.success).toFixed(1) } }));
  } finally {
    await cloud.close();
    await anchorSql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await anchorSql.end({ timeout: 5 });
  }
}

export interface DriverConfig {
  mqttUrl: string;
  cloudUrl: string;
  /** The in-process emulator, where the driver confirms its card (none: the webhook alone, as before). */
  stripe: { host: string; port: number; protocol: "http"; key: string } | null;
  siteId: string;
  webhookSecret: string;
  plates: string[];
  sessions: string[];
  concurrency: number;
}

interface DriverResult {
  latencies: number[];
  stages: { req: number[]; intent: number[]; webhook: number[]; success: number[] };
  failures: number;
  elapsed: number;
  okCount: Map<string, number>;
  reqCount: Map<string, number>;
}

/** The load: publishes exit requests, pays, signs webhooks, waits for the successes. */
export async function driver(cfg: DriverConfig): Promise<DriverResult> {
  const concurrency = cfg.concurrency;
  const client = await mqtt.connectAsync(cfg.mqttUrl, { clientId: `bench-site-${randomBytes(3).toString("hex")}`, protocolVersion: 4 });
  const { paymentReq: reqTopic, paymentSuccess: okTopic } = exitFlowTopics(cfg.siteId);
  await client.subscribeAsync([reqTopic, okTopic], { qos: 1 });
  const reqWaiters = new Map<string, (p: { session_id: string; pay_url: string; amount: number }) => void>();
  const okWaiters = new Map<string, () => void>();
  const reqCount = new Map<string, number>();
  const okCount = new Map<string, number>();
  client.on("message", (topic, buf) => {
    const p = JSON.parse(buf.toString()) as { session_id: string; pay_url: string; amount: number };
    if (topic === reqTopic) {
      reqCount.set(p.session_id, (reqCount.get(p.session_id) ?? 0) + 1);
      reqWaiters.get(p.session_id)?.(p);
    } else if (topic === okTopic) {
      okCount.set(p.session_id, (okCount.get(p.session_id) ?? 0) + 1);
      okWaiters.get(p.session_id)?.();
    }
  });
  const sessionOf = new Map(cfg.plates.map((p, i) => [p, cfg.sessions[i]]));
  const signer = new Stripe("sk_test_bench");
  const payer = cfg.stripe ? new Stripe(cfg.stripe.key, { host: cfg.stripe.host, port: cfg.stripe.port, protocol: cfg.stripe.protocol, maxNetworkRetries: 0 }) : null;
  const stages = { req: [] as number[], intent: [] as number[], webhook: [] as number[], success: [] as number[] };
  const latencies: number[] = [];
  let failures = 0;
  const timeout = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms))]);

  const oneExit = async (plate: string) => {
    const sid = sessionOf.get(plate) as string;
    const t0 = performance.now();
    const gotReq = new Promise<{ pay_url: string; amount: number }>((resolve) => reqWaiters.set(sid, resolve));
    const gotOk = new Promise<void>((resolve) => okWaiters.set(sid, resolve));
    await publishExitRequest(client, cfg.siteId, { eventId: `x${sid}`, laneId: "L1", plate, src: "bench" });
    const req = await timeout(gotReq, 30_000, `payment/req ${sid}`);
    const t1 = performance.now();
    const { paymentIntent: pi, amount } = await requestPaymentIntent(cfg.cloudUrl, sid, payToken(req.pay_url));
    if (payer) await payer.paymentIntents.confirm(pi, { payment_method: "pm_card_visa", return_url: `${cfg.cloudUrl}/bench-return` });
    const t2 = performance.now();
    const event = JSON.stringify({ id: `evt_bench_${sid}`, object: "event", api_version: Stripe.API_VERSION, created: Math.floor(Date.now() / 1000), livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type: "payment_intent.succeeded", data: { object: { id: pi, object: "payment_intent", amount, amount_received: amount, currency: "eur", status: "succeeded", metadata: { session_id: sid } } } });
    const sig = signer.webhooks.generateTestHeaderString({ payload: event, secret: cfg.webhookSecret });
    const w = await fetch(`${cfg.cloudUrl}/webhooks/stripe`, { method: "POST", headers: { "Content-Type": "application/json", "Stripe-Signature": sig }, body: event });
    if (w.status !== 200) throw new Error(`webhook ${w.status}: ${await w.text()}`);
    const t3 = performance.now();
    await timeout(gotOk, 30_000, `payment/success ${sid}`);
    const t4 = performance.now();
    stages.req.push(t1 - t0);
    stages.intent.push(t2 - t1);
    stages.webhook.push(t3 - t2);
    stages.success.push(t4 - t3);
    latencies.push(t4 - t0);
  };

  let next = 0;
  let done = 0;
  const started = performance.now();
  const progress = setInterval(() => process.stderr.write(`\r  ${done}/${cfg.plates.length} paid exits, ${Math.round(done / ((performance.now() - started) / 1000))}/s   `), 1000);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cfg.plates.length) {
        const plate = cfg.plates[next++];
        try {
          await oneExit(plate);
        } catch (err) {
          failures++;
          if (failures <= 3) console.error(`\n  exit failed: ${(err as Error).message}`);
        }
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(progress);
  process.stderr.write("\n");
  await new Promise((r) => setTimeout(r, 1000)); // late duplicates, if any
  await new Promise((r) => setTimeout(r, 1000)); // late duplicates, if any
  await client.endAsync(true);
  return { latencies, stages, failures, elapsed, okCount, reqCount };
}

/** Child-process entry: config on stdin, result as JSON on stdout. */
export async function driverMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const r = await driver(JSON.parse(Buffer.concat(chunks).toString()) as DriverConfig);
  process.stdout.write(JSON.stringify({ ...r, okCount: [...r.okCount], reqCount: [...r.reqCount] }));
}

async function runDriver(cfg: DriverConfig): Promise<DriverResult> {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, ["--import", "tsx", "-e", `import(${JSON.stringify(new URL(import.meta.url).href)}).then((m) => m.driverMain())`], { stdio: ["pipe", "pipe", "inherit"] });
  child.stdin.end(JSON.stringify(cfg));
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`load driver exited with ${code}`);
  const r = JSON.parse(out) as Omit<DriverResult, "okCount" | "reqCount"> & { okCount: [string, number][]; reqCount: [string, number][] };
  return { ...r, okCount: new Map(r.okCount), reqCount: new Map(r.reqCount) };
}
