/**
 * The SysPark cloud service (issue 4): `startCloud(options)` opens the database (migrations on
 * start), the broker (MQTT_URL, or an in-process aedes), Stripe (real when both STRIPE_* are
 * set, else the local TEST EMULATOR in-process), the HTTP app, the site-event consumers and the
 * outbox relay. `syspark cloud` is its command-line face. See docs/cloud.md.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MqttClient } from "mqtt";
import pino from "pino";
import Stripe from "stripe";
import type { Logger } from "../../host/log";
import { openDatabase, outboxBacklog, type Database } from "../db/index";
import { startEmbeddedBroker, type EmbeddedBroker } from "../mqtt/broker";
import { connectClient, detectProtocol, type MessageHandler, type ProtocolVersion } from "../mqtt/client";
import { consumerClientId, startConsumer, type SiteEventConsumer } from "../mqtt/consumers";
import { drainSession } from "../mqtt/session-drain";
import { InstanceWatch } from "./instance-watch";
import { OutboxRelay } from "../mqtt/relay";
import { ReceiptWorker } from "../billing/receipt-worker";
import { receiptQueueLength } from "../billing/receipt-queue";
import type { StripeEmulator } from "../../stripe-emulator/index";
import { buildApp } from "../http/app";
import { AuditChainer, type AuditMode } from "./audit-chain";
import { Auth } from "./auth";
import { ConfigError, DEFAULT_EMBEDDED_MQTT_PORT, redactUrl, resolveOptions, type CloudOptions, type StripeMode } from "./config";
import { siteEventHandler, type FlowContext } from "../flows/site-events";
import { createMetrics, type CloudMetrics } from "./metrics";
import { PaymentService } from "../flows/payments";
import { ProviderOutage } from "../flows/provider-outage";
import { BillingHealth } from "../flows/billing-health";
import { HoldService } from "../flows/holds";
import { HoldExits } from "../flows/hold-exit";
import { RefundSweeper } from "../flows/refund-sweeper";
import { localHost } from "./network-config";
import { writeRunFile } from "./run-file";
import { absentStripe, STRIPE_ABSENT_MESSAGE } from "./stripe-absent";
import { ensureFirstAdmin, seedSite } from "./seed";
import { resolveConsoleConfig, startConsoleParts, type ConsolePartsOptions } from "./console-parts";
import { operatorRefundLimitFromEnv } from "../flows/refunds";

export { resolveOptions, ConfigError, type CloudOptions, type ResolvedOptions, type StripeMode } from "./config";
export { DEMO_SITE, DEMO_EXIT_LANE, DEMO_ENTRY_LANE, seedSite } from "./seed";

/** Everything the cloud might be handed that is a secret: never in a log line. */
const REDACT = [
  "password", "*.password", "secret", "*.secret", "secretKey", "*.secretKey", "webhookSecret", "*.webhookSecret", "stripeSecretKey",
  "authSecret", "*.authSecret", "mqttPassword", "*.mqttPassword", "token", "*.token", "authorization", "*.authorization",
  "headers.authorization", "headers.cookie", "headers[\"stripe-signature\"]", "clientSecret", "*.clientSecret", "client_secret", "*.client_secret",
  "aclHmacKey", "*.aclHmacKey", "pin", "*.pin", "pin_hash", "*.pin_hash", "pinHash", "*.pinHash",
];

export function cloudLogger(level: string = process.env.LOG_LEVEL ?? "info", destination?: pino.DestinationStream): Logger {
  const opts = { name: "cloud", level, redact: { paths: REDACT, censor: "****" } };
  return destination ? pino(opts, destination) : pino(opts);
}

/** The card page of an emulator in its own process (the contract in docs/stripe-emulator.md). */
function externalPayUrl(base: string, clientSecret: string, returnUrl: string, lang: "fr" | "en"): string {
  const u = new URL(`${base}/emulator/pay/${encodeURIComponent(clientSecret)}`);
  u.searchParams.set("return_url", returnUrl);
  u.searchParams.set("locale", lang);
  return u.toString();
}

export interface CloudHandle {
  readonly url: string;
  readonly port: number;
  readonly publicBaseUrl: string;
  readonly db: Database;
  readonly mqttUrl: string;
  readonly mqttProtocol: ProtocolVersion;
  readonly stripeMode: StripeMode;
  readonly stripe: Stripe;
  /** The in-process Stripe TEST EMULATOR (emulator mode only). */
  readonly emulator?: StripeEmulator;
  /** The first admin's credentials, when this start created it (print ONCE, never log). */
  readonly firstAdmin?: { username: string; password: string };
  /** The demo merchant's page (its token is the secret), when this start seeded it: shown once. */
  readonly demoMerchantUrl?: string;
  readonly webhookSecret: string;
  readonly metrics: CloudMetrics;
  readonly relay: OutboxRelay;
  /** Issues the receipts of paid payments after their commit (cloud/billing/receipt-worker.ts). */
  readonly receipts: ReceiptWorker;
  readonly logger: Logger;
  readonly instanceId: string;
  /** The Express application (its router table: the route × role test walks it). */
  readonly app: ReturnType<typeof buildApp>;
  close(): Promise<void>;
}

type Resolved = ReturnType<typeof resolveOptions>;
type StartOptions = CloudOptions &
  ConsolePartsOptions & {
    logger?: Logger;
    shareGroup?: string;
    mqttSessionExpiryS?: number;
    /** Scale out: a peer silent this long (s) has its MQTT sessions drained (./instance-watch.ts; default 30), checked every instanceWatchMs (default 5,000). */
    instanceStaleS?: number;
    instanceWatchMs?: number;
    auditMode?: AuditMode;
    /** The environment the options are completed from (default process.env): a throwaway cloud (the billing smoke) passes its own. */
    env?: NodeJS.ProcessEnv;
  };
/** What stops the parts started so far: run in reverse order on close or on a failed start. */
type Cleanups = (() => Promise<void>)[];

/**
 * Production never gets an embedded part: resolveOptions refuses first, and this says it again
 * where each part is opened, so that no later change of the defaults can slip one in.
 */
function refuseEmbedded(o: Resolved, part: string, variable: string): void {
  if (o.production) throw new ConfigError(`refusing to start in production: ${variable} is not set and production never uses ${part}`);
}

/** Step 1, the database: open it (migrations on start), seed the demo site and the first admin when asked (never in production). */
async function openCloudDatabase(o: Resolved, logger: Logger, cleanups: Cleanups): Promise<{ db: Database; firstAdmin?: { username: string; password: string }; demoMerchantToken?: string }> {
  const embeddedDb = !o.databaseUrl;
  if (embeddedDb) refuseEmbedded(o, "the embedded PGlite database", "DATABASE_URL");
  const db = await openDatabase({
    databaseUrl: o.databaseUrl,
    dataDir: o.dataDir,
    pgliteTemplateDir: o.pgliteTemplateDir,
    schema: o.dbSchema,
    createSchema: o.dbCreateSchema,
    max: o.dbPoolMax,
    logger,
  });
  cleanups.push(() => db.close());
  // The demo merchant's page link is its secret: shown once, like the first admin's password.
  const seeded = !o.production && (o.seedDemo ?? embeddedDb) ? await seedSite(db) : {};
  const firstAdmin = !o.production && (o.createFirstAdmin ?? embeddedDb) ? await ensureFirstAdmin(db, o.scryptCost).catch(() => undefined) : undefined;
  return { db, ...(firstAdmin ? { firstAdmin } : {}), ...(seeded.demoMerchant ? { demoMerchantToken: seeded.demoMerchant.token } : {}) };
}

interface BrokerPart {
  mqttUrl: string;
  broker?: EmbeddedBroker;
  mqttOpts: Parameters<typeof detectProtocol>[0];
  version: ProtocolVersion;
}

/** Step 2, the broker: MQTT_URL, or an in-process aedes; which MQTT version it speaks. */
async function startBroker(o: Resolved, logger: Logger, instanceId: string, cleanups: Cleanups): Promise<BrokerPart> {
  let mqttUrl = o.mqttUrl;
  let broker: EmbeddedBroker | undefined;
  if (!mqttUrl) {
    refuseEmbedded(o, "the in-process MQTT broker", "MQTT_URL");
    const b = await startEmbeddedBroker({ port: o.mqttPort ?? DEFAULT_EMBEDDED_MQTT_PORT, logger });
    broker = b;
    cleanups.push(() => b.close());
    mqttUrl = b.url;
    logger.info({ mqtt: mqttUrl }, "embedded MQTT broker (aedes, MQTT 3.1.1) listening");
  }
  const mqttOpts = { url: mqttUrl, username: o.mqttUsername, password: o.mqttPassword, protocol: broker ? (4 as const) : (o.mqttProtocol ?? "auto"), clientIdPrefix: `syspark-${instanceId}`, logger, ...(o.mqttTls && !broker ? { tls: o.mqttTls } : {}) };
  const version = await detectProtocol(mqttOpts);
  return { mqttUrl, ...(broker ? { broker } : {}), mqttOpts, version };
}

interface StripePart {
  stripe: Stripe;
  webhookSecret: string;
  emulator?: StripeEmulator;
  /** The emulator's card page for a client secret (emulator mode only). */
  emulatorPayUrl?: (clientSecret: string, returnUrl: string, lang: "fr" | "en") => string;
}

/** Step 3, Stripe: real when both STRIPE_* are set, an emulator in its own process (STRIPE_API_BASE), else the TEST EMULATOR in-process. */
async function connectStripe(o: Resolved, logger: Logger, instanceId: string, cleanups: Cleanups): Promise<StripePart> {
  const stripeOpts = o.stripe ?? {};
  if (o.noStripe) {
    logger.warn("Stripe: not configured (production, BILLING_ENABLED=false, no STRIPE_SECRET_KEY): no payment can be taken; webhooks are refused");
    // A random secret: no webhook can be signed with it, so none is ever accepted.
    return { stripe: absentStripe(), webhookSecret: `whsec_${randomBytes(24).toString("hex")}` };
  }
  if (stripeOpts.apiBase || o.stripeMode === "emulator") refuseEmbedded(o, "a Stripe TEST EMULATOR", "STRIPE_SECRET_KEY");
  if (stripeOpts.apiBase) {
    // A Stripe TEST EMULATOR in its own process (STRIPE_API_BASE): it outlives this cloud.
    const api = new URL(stripeOpts.apiBase);
    const stripe = new Stripe(stripeOpts.secretKey as string, { host: api.hostname.replace(/^\[|\]$/g, ""), port: Number(api.port || (api.protocol === "https:" ? 443 : 80)), protocol: api.protocol === "https:" ? "https" : "http", maxNetworkRetries: stripeOpts.maxNetworkRetries ?? 1, timeout: stripeOpts.timeoutMs ?? 10_000 });
    logger.warn({ emulator: api.origin }, "Stripe: using a Stripe TEST EMULATOR in its own process (STRIPE_API_BASE; not Stripe; no real card is charged)");
    return { stripe, webhookSecret: stripeOpts.webhookSecret as string, emulatorPayUrl: (cs, returnUrl, lang) => externalPayUrl(api.origin, cs, returnUrl, lang) };
  }
  if (o.stripeMode === "emulator") {
    const { createStripeEmulator, generateTestWebhookSecret } = await import("../../stripe-emulator/index");
    const key = `sk_test_syspark_emulator_${instanceId.replace(/[^A-Za-z0-9]/g, "").slice(0, 24)}`;
    // With a data directory the emulator keeps its state (and its webhook secret) beside it, as
    // Stripe keeps a PaymentIntent across a restart of the cloud; without one, in memory.
    const stateDir = stripeOpts.emulatorStateDir ?? (o.dataDir ? `${o.dataDir.replace(/[\\/]+$/, "")}-stripe-emulator` : undefined);
    const emulator = await createStripeEmulator({ ...(stateDir ? { stateDir } : { webhookSecret: generateTestWebhookSecret() }), apiKey: key, port: stripeOpts.emulatorPort ?? 0, logger: logger.child({ part: "stripe-test-emulator" }), ...(stripeOpts.emulatorWebhookRetry ? { webhookRetry: stripeOpts.emulatorWebhookRetry } : {}) });
    cleanups.push(() => emulator.close());
    const stripe = new Stripe(key, { ...emulator.clientConfig, maxNetworkRetries: stripeOpts.maxNetworkRetries ?? 1, timeout: stripeOpts.timeoutMs ?? 10_000 });
    logger.warn({ emulator: emulator.url }, "Stripe: using the local Stripe TEST EMULATOR (not Stripe; no real card is charged). Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to use Stripe.");
    return { stripe, webhookSecret: emulator.webhookSecret, emulator, emulatorPayUrl: (cs, returnUrl, lang) => emulator.payUrl(cs, returnUrl, lang) };
  }
  const stripe = new Stripe(stripeOpts.secretKey as string, { maxNetworkRetries: stripeOpts.maxNetworkRetries ?? 2, timeout: stripeOpts.timeoutMs ?? 20_000, appInfo: { name: "SysPark cloud" } });
  logger.info({ mode: o.stripeMode }, `Stripe: ${o.stripeMode.toUpperCase()} mode`);
  return { stripe, webhookSecret: stripeOpts.webhookSecret as string };
}

/** `GET /health`: the database (and the outbox backlog), the broker connections, Stripe's mode, the relay. */
function healthCheck(p: { db: Database; instanceId: string; broker: BrokerPart; publisher: MqttClient; consumers: SiteEventConsumer[]; relay: OutboxRelay; stripeMode: StripeMode; noStripe: boolean; receipts?: ReceiptWorker }) {
  return async () => {
    const { db } = p;
    let dbOk = true;
    let dbError: string | undefined;
    let backlog: { pending: number; oldest: Date | null } | undefined;
    let receiptsOwed: number | undefined;
    try {
      await db.ping();
      backlog = await outboxBacklog(db.sql);
      receiptsOwed = await receiptQueueLength(db.sql);
    } catch (err) {
      dbOk = false;
      dbError = (err as Error).message;
    }
    const brokerOk = p.publisher.connected && p.consumers.every((c) => c.client.connected);
    const ok = dbOk && brokerOk;
    return {
      ok,
      body: {
        status: ok ? "ok" : "degraded",
        instance: p.instanceId,
        database: { ok: dbOk, kind: db.kind, schema_version: db.migrations.version, ...(dbError ? { error: dbError } : {}) },
        broker: { ok: brokerOk, url: redactUrl(p.broker.mqttUrl), embedded: Boolean(p.broker.broker), protocol: p.broker.version === 5 ? "mqtt5" : "mqtt3.1.1", consumers: p.consumers.length },
        stripe: p.noStripe ? { mode: "none", note: STRIPE_ABSENT_MESSAGE } : { mode: p.stripeMode, ...(p.stripeMode === "emulator" ? { note: "local Stripe TEST EMULATOR — not Stripe" } : {}) },
        outbox: { ...(backlog ?? {}), relay: p.relay.status },
        receipts: { owed: receiptsOwed ?? null, ...(p.receipts ? { worker: p.receipts.status } : {}) }, // issue 16: receipts off the pay path
      },
    };
  };
}

/** Step 4, HTTP: listen (a clear error naming the address when that fails); closing drops open connections. */
async function listenHttp(app: ReturnType<typeof buildApp>, o: Resolved, cleanups: Cleanups): Promise<{ port: number; localUrl: string }> {
  const server: Server = await new Promise((resolve, reject) => {
    const fail = (err: Error) => new Error(`cannot listen on ${o.host}:${o.port}: ${err.message} (choose another port with --port / PORT, or another address with --host / HOST)`);
    const s = app.listen(o.port ?? 0, o.host, (err?: Error) => (err ? reject(fail(err)) : resolve(s)));
    s.once("error", (err) => reject(fail(err)));
  });
  server.keepAliveTimeout = 5000;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { port, localUrl: `http://${localHost(o.host)}:${port}` };
}

/**
 * Step 5, relay + consumers. The relay and the chainer run before the consumers resume their
 * sessions (what a queued event causes is published at once), and stop after them (cleanups run
 * in reverse). The consumers are the first to stop on close: they refuse new messages (those stay
 * in the broker) and finish the one in flight.
 */
async function startRelayAndConsumers(
  p: { options: StartOptions; o: Resolved; logger: Logger; instanceId: string; broker: BrokerPart; relay: OutboxRelay; chainer: AuditChainer; auditMode: AuditMode; flowCtx: FlowContext; metrics: CloudMetrics; consumers: SiteEventConsumer[] },
  cleanups: Cleanups,
): Promise<void> {
  const { broker, metrics, consumers } = p;
  p.relay.start();
  cleanups.push(() => p.relay.stop());
  if (p.auditMode === "queued") {
    p.chainer.start();
    cleanups.push(() => p.chainer.stop());
  }
  const handle = siteEventHandler(p.flowCtx);
  const nConsumers = broker.version === 5 ? Math.max(1, p.o.mqttConsumers ?? 1) : 1;
  const shareGroup = p.options.shareGroup ?? "syspark-cloud";
  const sessionExpiryS = p.options.mqttSessionExpiryS ?? 3600;
  const consumerMetrics = {
    consumed: (topic: string, outcome: string, seconds?: number) => {
      metrics.siteEvents.inc({ topic, outcome });
      if (seconds !== undefined) metrics.siteEventSeconds.observe({ topic }, seconds);
    },
  };
  cleanups.push(() => Promise.all(consumers.map((c) => c.stop())).then(() => undefined));
  // A consumer session by its client id: this instance's own, or (drained) one of a peer that is gone.
  const resumeSession = (clientId: string) => (handleMessage: MessageHandler) => connectClient(broker.mqttOpts, broker.version, clientId, { sessionExpiryS, handleMessage });
  for (let i = 0; i < nConsumers; i++) {
    consumers.push(await startConsumer({ connect: resumeSession(consumerClientId(p.instanceId, i)), version: broker.version, shareGroup, handle, logger: p.logger, metrics: consumerMetrics }));
  }
  // Shared subscriptions (v5) on persistent sessions: those of an instance that is gone are drained by a peer.
  if (broker.version !== 5 || sessionExpiryS === 0) return;
  const watch = new InstanceWatch({
    db: p.flowCtx.db,
    instanceId: p.instanceId,
    consumers: nConsumers,
    staleS: p.options.instanceStaleS,
    periodMs: p.options.instanceWatchMs,
    clientIdOf: consumerClientId,
    drain: (clientId, cancelled) => drainSession({ connect: resumeSession(clientId), shareGroup, clientId, cancelled, handle, logger: p.logger, metrics: consumerMetrics }),
    logger: p.logger,
  });
  await watch.start();
  cleanups.push(() => watch.stop());
}

/**
 * Issue 16's parts beside the payments: BILLING_ENABLED and the provider out of reach
 * (ProviderOutage), GET /billing/health, and holds at entry (their webhooks, and the worker that
 * captures them at the exit, started here and stopped with the cloud).
 */
function startBilling(
  p: { o: Resolved; db: Database; stripe: Stripe; logger: Logger; src: string; auditMode: AuditMode; wake: () => void; metrics: CloudMetrics; payments: PaymentService; flowCtx: FlowContext; holdRef: { exits?: HoldExits } },
  cleanups: Cleanups,
): { outage: ProviderOutage; billingHealth: BillingHealth; holds: HoldService } {
  const { o, db, stripe, logger, src, auditMode, wake, metrics, payments } = p;
  const stripeOpts = o.stripe ?? {};
  const outage = new ProviderOutage({ db, logger, src, auditMode, wake, onUnavailable: (step, kind) => metrics.providerUnavailable.inc({ step, kind }) });
  const billingHealth = new BillingHealth({ db, stripe, mode: o.stripeMode, billingEnabled: o.billingEnabled, outage, ...(stripeOpts.healthProbeCacheMs !== undefined ? { cacheMs: stripeOpts.healthProbeCacheMs } : {}), gauges: { reachable: (v) => metrics.stripeReachable.set(v), webhookLagS: (v) => metrics.webhookLagSeconds.set(v), unavailableLastHour: (v) => metrics.providerUnavailableLastHour.set(v) } });
  if (!o.billingEnabled) logger.warn("billing is DISABLED (BILLING_ENABLED=false, or production without Stripe keys): pay routes answer 503, exit requests get no pay link");
  const holds = new HoldService({ db, stripe, logger, auditMode, wake });
  payments.setHoldHandler(holds);
  const holdExits = new HoldExits({ db, stripe, payments, logger, auditMode, src, wake });
  p.holdRef.exits = holdExits;
  p.flowCtx.holds = holdExits;
  holdExits.start();
  cleanups.push(() => holdExits.stop());
  // Refunds left `requested` by a provider outage are driven again (nobody has to repeat them).
  const sweeper = new RefundSweeper({ ctx: { db, stripe, auditMode, logger }, periodMs: o.refundSweepMs ?? 60_000, olderThanMs: o.refundSweepMs ?? 60_000 });
  sweeper.start();
  cleanups.push(() => sweeper.stop());
  return { outage, billingHealth, holds };
}

export async function startCloud(options: StartOptions = {}): Promise<CloudHandle> {
  const env = options.env ?? process.env;
  const o = resolveOptions(options, env);
  const consoleConfig = resolveConsoleConfig(options, env); // a bad ALERT_* / TELEGRAM_* / WEATHER_* stops the start before anything opens
  const operatorRefundLimit = operatorRefundLimitFromEnv(env);
  const logger = options.logger ?? cloudLogger();
  const instanceId = o.instanceId ?? env.SYSPARK_INSTANCE_ID ?? `cloud-${hostname()}`.replace(/[^A-Za-z0-9._:-]/g, "-").slice(0, 48);
  const src = instanceId.slice(0, 64);
  const cleanups: Cleanups = [];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => logger.warn({ err: err.message }, "cloud: error while stopping"));
    cleanups.length = 0;
  };

  try {
    const { db, firstAdmin, demoMerchantToken } = await openCloudDatabase(o, logger, cleanups);
    const broker = await startBroker(o, logger, instanceId, cleanups);
    const metrics = createMetrics();
    const { stripe, webhookSecret, emulator, emulatorPayUrl } = await connectStripe(o, logger, instanceId, cleanups);

    // The outbox's publisher and relay (started in step 5).
    const publisher: MqttClient = await connectClient(broker.mqttOpts, broker.version, `syspark-${instanceId}-pub`.slice(0, 64), null);
    cleanups.push(() => publisher.endAsync().then(() => undefined));
    const relay = new OutboxRelay({
      db,
      client: publisher,
      logger,
      owner: instanceId,
      pollMs: o.relayPollMs ?? 250,
      metrics: { published: (topic) => metrics.outboxPublished.inc({ topic: topic.replace(/^syspark\/[^/]+\//, "") }), failed: (n) => metrics.outboxPublishFailures.inc(n) },
    });

    // The flows' context, payments, auth, then HTTP.
    const auditMode: AuditMode = options.auditMode ?? "queued";
    const chainer = new AuditChainer(db, logger, o.auditChainPeriodMs ?? 200);
    const holdRef: { exits?: HoldExits } = {}; // set below, once the payments exist
    const receipts = new ReceiptWorker({ db, stripe, logger, periodMs: o.receiptPollMs ?? 1000 }); // receipts off the pay path (issue 16)
    const wake = () => {
      relay.wake();
      chainer.wake();
      receipts.wake();
      holdRef.exits?.kick(); // claims made by the transaction just committed (issue 16 holds)
    };
    let publicBaseUrl = o.publicBaseUrl ?? "";
    const flowCtx: FlowContext = { db, logger, src, get publicBaseUrl() { return publicBaseUrl; }, wake, auditMode, ...(o.aclHmacKey ? { aclHmacKey: o.aclHmacKey } : {}), billingEnabled: o.billingEnabled };
    if (!o.aclHmacKey) logger.warn("offline access lists are disabled: SYSPARK_ACL_HMAC_KEY is not set (no parking/acl/* published, parking/sync/req unanswered, /api/sites/:site/access answers 503)");
    const stripeOpts = o.stripe ?? {};
    const payments = new PaymentService({ db, stripe, mode: o.stripeMode, webhookSecret, toleranceS: stripeOpts.toleranceS ?? 300, logger, src, wake, auditMode, onWebhook: (type, outcome) => metrics.webhookProcessed.inc({ type, outcome }), ...(o.aclHmacKey ? { aclHmacKey: o.aclHmacKey } : {}) });
    cleanups.push(() => payments.settle()); // before the database closes (cleanups run in reverse)
    const { outage, billingHealth, holds } = startBilling({ o, db, stripe, logger, src, auditMode, wake, metrics, payments, flowCtx, holdRef }, cleanups);
    if (o.receiptWorker !== false) receipts.start(); // owed receipts left by a crash are issued now
    cleanups.push(() => receipts.stop());
    const consumers: SiteEventConsumer[] = [];
    // The console's live view, alerts and weather (issue 17): stopped before the database closes.
    const consoleParts = await startConsoleParts({ db, logger, mqtt: broker.mqttOpts, version: broker.version, instanceId, src, wake, config: consoleConfig, ...(options.feedPeriodMs ? { feedPeriodMs: options.feedPeriodMs } : {}) });
    cleanups.push(() => consoleParts.stop());
    const app = buildApp({
      db,
      logger,
      auth: new Auth(db, o.authSecret, o.scryptCost),
      payments,
      holds,
      metrics,
      stripe,
      stripeMode: o.stripeMode,
      publishableKey: stripeOpts.publishableKey,
      publicBaseUrl: () => publicBaseUrl,
      ...(emulatorPayUrl ? { emulatorPayUrl } : {}),
      src,
      wake,
      health: healthCheck({ db, instanceId, broker, publisher, consumers, relay, stripeMode: o.stripeMode, noStripe: o.noStripe, receipts }),
      receipts,
      auditMode,
      retrieveOnReturn: o.retrieveOnReturn ?? true,
      jsonLimit: o.jsonLimit ?? 16 * 1024,
      ...(o.aclHmacKey ? { aclHmacKey: o.aclHmacKey } : {}),
      ...(o.scryptCost ? { pinCost: o.scryptCost } : {}),
      billingEnabled: o.billingEnabled,
      outage,
      billingHealth,
      live: consoleParts.hub,
      operatorRefundLimit,
    }, { trustProxy: o.trustProxy });
    const { port, localUrl } = await listenHttp(app, o, cleanups);
    if (!publicBaseUrl) publicBaseUrl = localUrl;
    emulator?.setWebhookUrl(`${localUrl}/webhooks/stripe`);

    await startRelayAndConsumers({ options, o, logger, instanceId, broker, relay, chainer, auditMode, flowCtx, metrics, consumers }, cleanups);
    logger.info({ url: localUrl, listen: `${o.host}:${port}`, publicBaseUrl, production: o.production, database: db.description, mqtt: redactUrl(broker.mqttUrl), protocol: broker.version, stripe: o.noStripe ? "none" : o.stripeMode, billingEnabled: o.billingEnabled, instance: instanceId }, "SysPark cloud started");
    // PGlite is held by this process: tell `syspark` commands where its API is (removed first on close).
    if (!o.databaseUrl && o.dataDir) cleanups.push(writeRunFile(o.dataDir, { url: localUrl, instance: instanceId }));

    let closing: Promise<void> | undefined;
    return {
      url: localUrl,
      port,
      publicBaseUrl,
      db,
      mqttUrl: broker.mqttUrl,
      mqttProtocol: broker.version,
      stripeMode: o.stripeMode,
      stripe,
      ...(emulator ? { emulator } : {}),
      ...(firstAdmin ? { firstAdmin } : {}),
      ...(demoMerchantToken ? { demoMerchantUrl: `${publicBaseUrl}/merchant/${demoMerchantToken}` } : {}),
      webhookSecret,
      metrics,
      relay,
      receipts,
      logger,
      instanceId,
      app,
      close() {
        closing ??= closeAll().then(() => logger.info("SysPark cloud stopped"));
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
