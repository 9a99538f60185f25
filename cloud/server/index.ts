/**
 * The SysPark cloud service (issue 4): `startCloud(options)` opens the database (migrations on
 * start), the broker (MQTT_URL, or an in-process aedes), Stripe (real when both STRIPE_* are
 * set, else the local TEST EMULATOR in-process), the HTTP app, the site-event consumers and the
 * outbox relay. `syspark cloud` is its command-line face. See docs/cloud.md.
 */
import { hostname } from "node:os";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { MqttClient } from "mqtt";
import pino from "pino";
import Stripe from "stripe";
import type { Logger } from "../../host/log";
import { openDatabase, outboxBacklog, type Database } from "../db/index";
import { startEmbeddedBroker, type EmbeddedBroker } from "../mqtt/broker";
import { connectClient, detectProtocol, type ProtocolVersion } from "../mqtt/client";
import { startConsumer, type SiteEventConsumer } from "../mqtt/consumers";
import { OutboxRelay } from "../mqtt/relay";
import type { StripeEmulator } from "../../stripe-emulator/index";
import { buildApp } from "../http/app";
import { AuditChainer, type AuditMode } from "./audit-chain";
import { Auth } from "./auth";
import { DEFAULT_EMBEDDED_MQTT_PORT, redactUrl, resolveOptions, type CloudOptions, type StripeMode } from "./config";
import { siteEventHandler, type FlowContext } from "../flows/site-events";
import { createMetrics, type CloudMetrics } from "./metrics";
import { PaymentService } from "../flows/payments";
import { writeRunFile } from "./run-file";
import { ensureFirstAdmin, seedSite } from "./seed";

export { resolveOptions, ConfigError, type CloudOptions, type StripeMode } from "./config";
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
  readonly webhookSecret: string;
  readonly metrics: CloudMetrics;
  readonly relay: OutboxRelay;
  readonly logger: Logger;
  readonly instanceId: string;
  close(): Promise<void>;
}

export async function startCloud(options: CloudOptions & { logger?: Logger; shareGroup?: string; mqttSessionExpiryS?: number; auditMode?: AuditMode } = {}): Promise<CloudHandle> {
  const o = resolveOptions(options);
  const logger = options.logger ?? cloudLogger();
  const embeddedDb = !o.databaseUrl;
  const instanceId = o.instanceId ?? process.env.SYSPARK_INSTANCE_ID ?? `cloud-${hostname()}`.replace(/[^A-Za-z0-9._:-]/g, "-").slice(0, 48);
  const src = instanceId.slice(0, 64);
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c().catch((err: Error) => logger.warn({ err: err.message }, "cloud: error while stopping"));
    cleanups.length = 0;
  };

  try {
    // ---------------------------------------------------------------- database
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
    if (o.seedDemo ?? embeddedDb) await seedSite(db);
    const firstAdmin = (o.createFirstAdmin ?? embeddedDb) ? await ensureFirstAdmin(db, o.scryptCost).catch(() => undefined) : undefined;

    // ---------------------------------------------------------------- broker
    let mqttUrl = o.mqttUrl;
    let broker: EmbeddedBroker | undefined;
    if (!mqttUrl) {
      broker = await startEmbeddedBroker({ port: o.mqttPort ?? DEFAULT_EMBEDDED_MQTT_PORT, logger });
      cleanups.push(() => (broker as EmbeddedBroker).close());
      mqttUrl = broker.url;
      logger.info({ mqtt: mqttUrl }, "embedded MQTT broker (aedes, MQTT 3.1.1) listening");
    }
    const mqttOpts = { url: mqttUrl, username: o.mqttUsername, password: o.mqttPassword, protocol: broker ? (4 as const) : (o.mqttProtocol ?? "auto"), clientIdPrefix: `syspark-${instanceId}`, logger };
    const version = await detectProtocol(mqttOpts);

    // ---------------------------------------------------------------- Stripe
    const metrics = createMetrics();
    let stripe: Stripe;
    let emulator: StripeEmulator | undefined;
    let webhookSecret: string;
    const stripeOpts = o.stripe ?? {};
    let emulatorPayBase: string | undefined;
    if (stripeOpts.apiBase) {
      // A Stripe TEST EMULATOR in its own process (STRIPE_API_BASE): it outlives this cloud.
      const api = new URL(stripeOpts.apiBase);
      webhookSecret = stripeOpts.webhookSecret as string;
      emulatorPayBase = api.origin;
      stripe = new Stripe(stripeOpts.secretKey as string, { host: api.hostname.replace(/^\[|\]$/g, ""), port: Number(api.port || (api.protocol === "https:" ? 443 : 80)), protocol: api.protocol === "https:" ? "https" : "http", maxNetworkRetries: 1, timeout: 10_000 });
      logger.warn({ emulator: api.origin }, "Stripe: using a Stripe TEST EMULATOR in its own process (STRIPE_API_BASE; not Stripe; no real card is charged)");
    } else if (o.stripeMode === "emulator") {
      const { createStripeEmulator, generateTestWebhookSecret } = await import("../../stripe-emulator/index");
      const key = `sk_test_syspark_emulator_${instanceId.replace(/[^A-Za-z0-9]/g, "").slice(0, 24)}`;
      // With a data directory the emulator keeps its state (and its webhook secret) beside it, as
      // Stripe keeps a PaymentIntent across a restart of the cloud; without one, in memory.
      const stateDir = stripeOpts.emulatorStateDir ?? (o.dataDir ? `${o.dataDir.replace(/[\\/]+$/, "")}-stripe-emulator` : undefined);
      emulator = await createStripeEmulator({ ...(stateDir ? { stateDir } : { webhookSecret: generateTestWebhookSecret() }), apiKey: key, port: stripeOpts.emulatorPort ?? 0, logger: logger.child({ part: "stripe-test-emulator" }), ...(stripeOpts.emulatorWebhookRetry ? { webhookRetry: stripeOpts.emulatorWebhookRetry } : {}) });
      webhookSecret = emulator.webhookSecret;
      cleanups.push(() => (emulator as StripeEmulator).close());
      stripe = new Stripe(key, { ...emulator.clientConfig, maxNetworkRetries: 1, timeout: 10_000 });
      logger.warn({ emulator: emulator.url }, "Stripe: using the local Stripe TEST EMULATOR (not Stripe; no real card is charged). Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to use Stripe.");
    } else {
      webhookSecret = stripeOpts.webhookSecret as string;
      stripe = new Stripe(stripeOpts.secretKey as string, { maxNetworkRetries: 2, timeout: 20_000, appInfo: { name: "SysPark cloud" } });
      logger.info({ mode: o.stripeMode }, `Stripe: ${o.stripeMode.toUpperCase()} mode`);
    }

    // ---------------------------------------------------------------- MQTT clients
    const publisher: MqttClient = await connectClient(mqttOpts, version, `syspark-${instanceId}-pub`.slice(0, 64), null);
    cleanups.push(() => publisher.endAsync().then(() => undefined));
    const relay = new OutboxRelay({
      db,
      client: publisher,
      logger,
      owner: instanceId,
      pollMs: o.relayPollMs ?? 250,
      metrics: { published: (topic) => metrics.outboxPublished.inc({ topic: topic.replace(/^syspark\/[^/]+\//, "") }), failed: (n) => metrics.outboxPublishFailures.inc(n) },
    });

    // ---------------------------------------------------------------- HTTP
    const auditMode: AuditMode = options.auditMode ?? "queued";
    const chainer = new AuditChainer(db, logger, o.auditChainPeriodMs ?? 200);
    const wake = () => {
      relay.wake();
      chainer.wake();
    };
    let publicBaseUrl = o.publicBaseUrl ?? "";
    const flowCtx: FlowContext = { db, logger, src, get publicBaseUrl() { return publicBaseUrl; }, wake, auditMode, ...(o.aclHmacKey ? { aclHmacKey: o.aclHmacKey } : {}) };
    if (!o.aclHmacKey) logger.warn("offline access lists are disabled: SYSPARK_ACL_HMAC_KEY is not set (no parking/acl/* published, parking/sync/req unanswered, /api/sites/:site/access answers 503)");
    const payments = new PaymentService({
      db,
      stripe,
      mode: o.stripeMode,
      webhookSecret,
      toleranceS: stripeOpts.toleranceS ?? 300,
      logger,
      src,
      wake,
      auditMode,
      onWebhook: (type, outcome) => metrics.webhookProcessed.inc({ type, outcome }),
    });
    cleanups.push(() => payments.settle()); // before the database closes (cleanups run in reverse)
    const auth = new Auth(db, o.authSecret, o.scryptCost);
    const consumers: SiteEventConsumer[] = [];
    const health = async () => {
      let dbOk = true;
      let dbError: string | undefined;
      let backlog: { pending: number; oldest: Date | null } | undefined;
      try {
        await db.ping();
        backlog = await outboxBacklog(db.sql);
      } catch (err) {
        dbOk = false;
        dbError = (err as Error).message;
      }
      const brokerOk = publisher.connected && consumers.every((c) => c.client.connected);
      const ok = dbOk && brokerOk;
      return {
        ok,
        body: {
          status: ok ? "ok" : "degraded",
          instance: instanceId,
          database: { ok: dbOk, kind: db.kind, schema_version: db.migrations.version, ...(dbError ? { error: dbError } : {}) },
          broker: { ok: brokerOk, url: redactUrl(mqttUrl as string), embedded: Boolean(broker), protocol: version === 5 ? "mqtt5" : "mqtt3.1.1", consumers: consumers.length },
          stripe: { mode: o.stripeMode, ...(o.stripeMode === "emulator" ? { note: "local Stripe TEST EMULATOR — not Stripe" } : {}) },
          outbox: { ...(backlog ?? {}), relay: relay.status },
        },
      };
    };
    const app = buildApp({
      db,
      logger,
      auth,
      payments,
      metrics,
      stripe,
      stripeMode: o.stripeMode,
      publishableKey: stripeOpts.publishableKey,
      publicBaseUrl: () => publicBaseUrl,
      ...(emulator ? { emulatorPayUrl: (cs: string, returnUrl: string, lang: "fr" | "en") => (emulator as StripeEmulator).payUrl(cs, returnUrl, lang) } : {}),
      ...(emulatorPayBase ? { emulatorPayUrl: (cs: string, returnUrl: string, lang: "fr" | "en") => externalPayUrl(emulatorPayBase as string, cs, returnUrl, lang) } : {}),
      src,
      wake,
      health,
      auditMode,
      retrieveOnReturn: o.retrieveOnReturn ?? true,
      jsonLimit: o.jsonLimit ?? 16 * 1024,
      ...(o.aclHmacKey ? { aclHmacKey: o.aclHmacKey } : {}),
      ...(o.scryptCost ? { pinCost: o.scryptCost } : {}),
    });
    const server: Server = await new Promise((resolve, reject) => {
      const s = app.listen(o.port ?? 0, o.host ?? "127.0.0.1", (err?: Error) => (err ? reject(new Error(`cannot listen on ${o.host ?? "127.0.0.1"}:${o.port}: ${err.message} (choose another port with --port / PORT)`)) : resolve(s)));
      s.once("error", (err) => reject(new Error(`cannot listen on ${o.host ?? "127.0.0.1"}:${o.port}: ${err.message} (choose another port with --port / PORT)`)));
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
    const localUrl = `http://${o.host && o.host !== "0.0.0.0" ? o.host : "127.0.0.1"}:${port}`;
    if (!publicBaseUrl) publicBaseUrl = localUrl;
    emulator?.setWebhookUrl(`${localUrl}/webhooks/stripe`);

    // ---------------------------------------------------------------- relay + consumers
    // The relay and the chainer run before the consumers resume their sessions (what a queued
    // event causes is published at once), and stop after them (cleanups run in reverse).
    relay.start();
    cleanups.push(() => relay.stop());
    if (auditMode === "queued") {
      chainer.start();
      cleanups.push(() => chainer.stop());
    }
    const handle = siteEventHandler(flowCtx);
    const nConsumers = version === 5 ? Math.max(1, o.mqttConsumers ?? 1) : 1;
    const shareGroup = options.shareGroup ?? "syspark-cloud";
    const sessionExpiryS = options.mqttSessionExpiryS ?? 3600;
    const consumerMetrics = {
      consumed: (topic: string, outcome: string, seconds?: number) => {
        metrics.siteEvents.inc({ topic, outcome });
        if (seconds !== undefined) metrics.siteEventSeconds.observe({ topic }, seconds);
      },
    };
    // First to stop on close: refuse new messages (they stay in the broker), finish the one in flight.
    cleanups.push(() => Promise.all(consumers.map((c) => c.stop())).then(() => undefined));
    for (let i = 0; i < nConsumers; i++) {
      const clientId = `syspark-${instanceId}-c${i}`.slice(0, 64);
      consumers.push(await startConsumer({ connect: (handleMessage) => connectClient(mqttOpts, version, clientId, { sessionExpiryS, handleMessage }), version, shareGroup, handle, logger, metrics: consumerMetrics }));
    }
    logger.info({ url: localUrl, publicBaseUrl, database: db.description, mqtt: redactUrl(mqttUrl), protocol: version, stripe: o.stripeMode, instance: instanceId }, "SysPark cloud started");
    // PGlite is held by this process: tell `syspark` commands where its API is (removed first on close).
    if (embeddedDb && o.dataDir) cleanups.push(writeRunFile(o.dataDir, { url: localUrl, instance: instanceId }));

    let closing: Promise<void> | undefined;
    return {
      url: localUrl,
      port,
      publicBaseUrl,
      db,
      mqttUrl,
      mqttProtocol: version,
      stripeMode: o.stripeMode,
      stripe,
      ...(emulator ? { emulator } : {}),
      ...(firstAdmin ? { firstAdmin } : {}),
      webhookSecret,
      metrics,
      relay,
      logger,
      instanceId,
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
