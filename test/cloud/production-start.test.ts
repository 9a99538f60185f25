/**
 * A production cloud on real parts (issue 19): PostgreSQL (a fresh database), a private
 * Mosquitto reached with credentials, billing off without Stripe keys. Nothing embedded, nothing
 * seeded, no first admin; Stripe absent (not the emulator); X-Forwarded-* believed only as
 * TRUST_PROXY says — checked with real HTTP requests through the started cloud's own Express
 * settings.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import postgres from "postgres";
import Stripe from "stripe";
import type { buildApp } from "../../cloud/http/app";
import { startCloud, type CloudHandle } from "../../cloud/server/index";
import { silentLogger } from "../../host/log";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../../host/mosquitto";
import { requireToolOrSkip } from "../../host/tools";
import { issueBrokerAccount, writeBrokerAccount, type BrokerAccount } from "../../cloud/mqtt/broker-accounts";
import { makeCa, makeTestPki, startDeployedBroker, type DeployedBroker, type TestPki } from "../deploy/deployed-broker";
import { freshDatabase, type FreshDatabase } from "./production-fixtures";

type App = ReturnType<typeof buildApp>;

/**
 * A server whose only route answers what `app`'s Express request sees: req.ip and req.protocol
 * through the app's own "trust proxy" setting (Express's request getters, the real socket).
 */
async function probeServer(app: App): Promise<{ server: Server; ask(headers: Record<string, string>): Promise<{ ip: string; protocol: string }> }> {
  const server = createServer((req: IncomingMessage, res) => {
    const r = Object.setPrototypeOf(req, app.request) as IncomingMessage & { app: App; ip: string; protocol: string };
    r.app = app;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ ip: r.ip, protocol: r.protocol }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { server, ask: async (headers) => (await (await fetch(url, { headers })).json()) as { ip: string; protocol: string } };
}

const FORWARDED = { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https" };

describe("production mode: a cloud started on real parts", function () {
  this.timeout(120_000);
  let db: FreshDatabase | undefined;
  let broker: PrivateMosquitto | undefined;
  let cloud: CloudHandle | undefined;
  let second: CloudHandle | undefined;
  let options: Parameters<typeof startCloud>[0];
  const servers: Server[] = [];
  const savedEnv = process.env.SYSPARK_ENV;

  before(async function () {
    if (!requireToolOrSkip(this, "mosquitto")) return;
    db = await freshDatabase(this, "syspark_prod_start");
    broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
    process.env.SYSPARK_ENV = "production"; // startCloud reads the process's environment
    const mqttUrl = new URL(broker.url);
    mqttUrl.username = "syspark-cloud";
    mqttUrl.password = "mqtt-password";
    options = {
      databaseUrl: db.url,
      mqttUrl: mqttUrl.toString(),
      authSecret: randomBytes(32).toString("hex"),
      aclHmacKey: randomBytes(16).toString("hex"),
      publicBaseUrl: "https://pay.example.test",
      billingEnabled: false,
      host: "127.0.0.1",
      port: 0,
      logger: silentLogger,
      shareGroup: `prod-${randomBytes(4).toString("hex")}`,
    };
    cloud = await startCloud({ ...options, trustProxy: 1, instanceId: `prod-${randomBytes(4).toString("hex")}` });
  });

  after(async () => {
    if (savedEnv === undefined) delete process.env.SYSPARK_ENV;
    else process.env.SYSPARK_ENV = savedEnv;
    for (const s of servers) await new Promise((resolve) => s.close(resolve));
    await second?.close();
    await cloud?.close();
    await broker?.stop();
    await db?.drop();
  });

  it("seeds nothing, creates no first admin, and uses no embedded part", async () => {
    const c = cloud as CloudHandle;
    expect(c.firstAdmin).to.equal(undefined);
    expect(c.demoMerchantUrl).to.equal(undefined);
    expect(c.emulator).to.equal(undefined);
    expect(c.db.kind).to.equal("postgres");
    const sql = postgres((db as FreshDatabase).url, { max: 1, onnotice: () => undefined });
    try {
      const [{ sites }] = await sql<{ sites: number }[]>`SELECT count(*)::int AS sites FROM sites`;
      const [{ operators }] = await sql<{ operators: number }[]>`SELECT count(*)::int AS operators FROM operators`;
      expect({ sites, operators }).to.deep.equal({ sites: 0, operators: 0 });
    } finally {
      await sql.end({ timeout: 5 });
    }
    const health = (await (await fetch(`${c.url}/health`)).json()) as { database: { kind: string }; broker: { embedded: boolean; url: string }; stripe: { mode: string; note: string } };
    expect(health.database.kind).to.equal("postgres");
    expect(health.broker.embedded).to.equal(false);
    expect(health.broker.url).to.not.contain("mqtt-password");
    expect(health.stripe.mode).to.equal("none");
    expect(health.stripe.note).to.contain("Stripe is not configured");
  });

  it("billing off without keys: /billing/health says disabled and why, and no webhook is accepted", async () => {
    const c = cloud as CloudHandle;
    const billing = (await (await fetch(`${c.url}/billing/health`, { headers: { Accept: "application/json" } })).json()) as { status: string; stripe: { reachable: boolean; error: { message: string } } };
    expect(billing.status).to.equal("disabled");
    expect(billing.stripe.reachable).to.equal(false);
    expect(billing.stripe.error.message).to.contain("Stripe is not configured on this cloud");
    // Signed with a secret an attacker might guess: refused (the cloud's secret is random).
    const payload = JSON.stringify({ id: "evt_1", object: "event", type: "payment_intent.succeeded", data: { object: {} } });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_" });
    const res = await fetch(`${c.url}/webhooks/stripe`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": signature }, body: payload });
    expect(res.status).to.equal(400);
  });

  it("believes X-Forwarded-For / -Proto from the one proxy in front (TRUST_PROXY=1), and not at all when unset", async () => {
    const trusted = await probeServer((cloud as CloudHandle).app);
    servers.push(trusted.server);
    expect(await trusted.ask(FORWARDED)).to.deep.equal({ ip: "203.0.113.9", protocol: "https" });
    expect(await trusted.ask({})).to.deep.equal({ ip: "127.0.0.1", protocol: "http" });
    // A second instance without TRUST_PROXY: the headers are a client's claim, ignored.
    second = await startCloud({ ...options, instanceId: `prod-${randomBytes(4).toString("hex")}` });
    const plain = await probeServer(second.app);
    servers.push(plain.server);
    expect(await plain.ask(FORWARDED)).to.deep.equal({ ip: "127.0.0.1", protocol: "http" });
  });
});

describe("production mode: the cloud's broker over TLS (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE)", function () {
  this.timeout(120_000);
  let db: FreshDatabase | undefined;
  let pki: TestPki | undefined;
  let authDir: string | undefined;
  let broker: DeployedBroker | undefined;
  let cloud: CloudHandle | undefined;
  let account: BrokerAccount;
  const saved = { ...process.env };
  const TLS_VARS = ["SYSPARK_ENV", "MQTT_URL", "MQTT_USERNAME", "MQTT_PASSWORD", "MQTT_CA_FILE", "MQTT_CERT_FILE", "MQTT_KEY_FILE"];

  before(async function () {
    if (!requireToolOrSkip(this, "mosquitto") || !requireToolOrSkip(this, "openssl")) return;
    db = await freshDatabase(this, "syspark_prod_tls");
    pki = makeTestPki();
    authDir = mkdtempSync(join(tmpdir(), "syspark-prod-tls-auth-"));
    account = issueBrokerAccount("cloud");
    writeBrokerAccount(authDir, account);
    // Only a TLS listener, and it wants a client certificate: the cloud gets in with all three files or not at all.
    broker = await startDeployedBroker({ authDir, certsDir: pki.certsDir, plaintext: false, requireCertificate: true });
  });

  afterEach(async () => {
    for (const k of TLS_VARS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await cloud?.close();
    cloud = undefined;
  });

  after(async () => {
    await broker?.stop();
    if (authDir) rmSync(authDir, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
    await db?.drop();
  });

  const start = (caFile: string) => {
    const p = pki as TestPki;
    Object.assign(process.env, {
      SYSPARK_ENV: "production",
      MQTT_URL: (broker as DeployedBroker).tlsUrl,
      MQTT_USERNAME: account.username,
      MQTT_PASSWORD: account.password,
      MQTT_CA_FILE: caFile,
      MQTT_CERT_FILE: p.clientCert,
      MQTT_KEY_FILE: p.clientKey,
    });
    return startCloud({
      databaseUrl: (db as FreshDatabase).url,
      authSecret: randomBytes(32).toString("hex"),
      aclHmacKey: randomBytes(16).toString("hex"),
      publicBaseUrl: "https://pay.example.test",
      billingEnabled: false,
      host: "127.0.0.1",
      port: 0,
      logger: silentLogger,
      shareGroup: `prod-tls-${randomBytes(4).toString("hex")}`,
      instanceId: `prod-tls-${randomBytes(4).toString("hex")}`,
    });
  };

  it("connects with the files the environment names, and says so on /health", async () => {
    cloud = await start((pki as TestPki).caFile);
    const health = (await (await fetch(`${cloud.url}/health`)).json()) as { status: string; broker: { ok: boolean; url: string; embedded: boolean } };
    expect(health.broker).to.include({ ok: true, embedded: false });
    expect(health.broker.url).to.match(/^mqtts:\/\/127\.0\.0\.1:\d+/);
  });

  it("refuses to start, naming MQTT_CA_FILE, when the broker's certificate does not chain to it", async () => {
    const wrongCa = makeCa((pki as TestPki).dir, "not-the-broker-ca").cert;
    const err = await start(wrongCa).then((c) => ((cloud = c), undefined), (e: unknown) => e);
    expect((err as Error | undefined)?.message).to.contain("MQTT_CA_FILE");
  });
});
