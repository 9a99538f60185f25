/**
 * Production mode (issue 19): SYSPARK_ENV=production or NODE_ENV=production refuses to start —
 * with ONE message naming every missing or contradictory variable — and never falls back to an
 * embedded part; HOST, TRUST_PROXY and the broker's TLS files are read and checked by name.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { ConfigError, resolveOptions } from "../../cloud/server/config";
import { startCloud } from "../../cloud/server/index";
import { absentStripe } from "../../cloud/server/stripe-absent";
import { providerUnavailableKind } from "../../cloud/flows/provider-outage";
import { freePort } from "../../host/ports";
import { silentLogger } from "../../host/log";
import { PRODUCTION_ENV } from "./production-fixtures";

/** The refusal resolveOptions throws for `env` (fails the test when it does not refuse). */
function refusal(env: NodeJS.ProcessEnv, opts = {}): string {
  try {
    resolveOptions(opts, env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected a refusal for ${JSON.stringify(Object.keys(env))}`);
}

const without = (...names: string[]) => Object.fromEntries(Object.entries(PRODUCTION_ENV).filter(([k]) => !names.includes(k)));

describe("production mode: the configuration", () => {
  it("starts with a complete production environment: nothing embedded, 0.0.0.0:$PORT, billing on with the keys", () => {
    const o = resolveOptions({}, PRODUCTION_ENV);
    expect(o.production).to.equal(true);
    expect(o.host).to.equal("0.0.0.0");
    expect(o.port).to.equal(10000);
    expect(o.databaseUrl).to.equal(PRODUCTION_ENV.DATABASE_URL);
    expect(o.mqttUrl).to.equal(PRODUCTION_ENV.MQTT_URL);
    expect(o.stripeMode).to.equal("live");
    expect(o.billingEnabled).to.equal(true);
    expect(o.noStripe).to.equal(false);
    expect(o.trustProxy).to.equal(false); // X-Forwarded-* believed only when TRUST_PROXY says so
    expect(resolveOptions({}, { ...without("SYSPARK_ENV"), NODE_ENV: "production" }).production).to.equal(true);
  });

  // Drop one variable at a time from a complete production environment: the refusal names it, and only it.
  for (const name of ["DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SYSPARK_AUTH_SECRET", "SYSPARK_ACL_HMAC_KEY", "MQTT_URL", "MQTT_USERNAME", "MQTT_PASSWORD", "PUBLIC_BASE_URL"]) {
    it(`refuses without ${name}, naming it`, () => {
      const m = refusal(without(name));
      expect(m).to.match(/^refusing to start in production mode \(SYSPARK_ENV=production\): 1 problem \(/);
      expect(m).to.contain(`${name} is not set`);
    });
  }

  it("names every missing variable in one message when all are missing", () => {
    const m = refusal({ SYSPARK_ENV: "production" });
    for (const name of ["DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SYSPARK_AUTH_SECRET", "SYSPARK_ACL_HMAC_KEY", "MQTT_URL", "PUBLIC_BASE_URL"]) expect(m).to.contain(`${name} is not set`);
    expect(m).to.contain("7 problems");
    expect(refusal({ NODE_ENV: "production" })).to.contain("production mode (NODE_ENV=production): 7 problems");
  });

  it("takes the broker's credentials from MQTT_URL too, and refuses half of them", () => {
    const inUrl = { ...without("MQTT_USERNAME", "MQTT_PASSWORD"), MQTT_URL: "mqtts://syspark-cloud:s3cret@broker.example.com:8883" };
    expect(resolveOptions({}, inUrl).production).to.equal(true);
    expect(refusal(without("MQTT_USERNAME", "MQTT_PASSWORD"))).to.contain("MQTT_USERNAME and MQTT_PASSWORD are not set");
  });

  it("refuses what contradicts production: http:// public URL, the emulator, a seeded demo, SYSPARK_ENV against NODE_ENV, an unknown SYSPARK_ENV", () => {
    expect(refusal({ ...PRODUCTION_ENV, PUBLIC_BASE_URL: "http://pay.example.com" })).to.contain("PUBLIC_BASE_URL must start with https:// in production");
    expect(refusal({ ...PRODUCTION_ENV, STRIPE_API_BASE: "http://127.0.0.1:12111" })).to.contain("STRIPE_API_BASE is set");
    expect(refusal(PRODUCTION_ENV, { seedDemo: true })).to.contain("seedDemo");
    expect(refusal(PRODUCTION_ENV, { createFirstAdmin: true })).to.contain("createFirstAdmin");
    expect(refusal({ ...PRODUCTION_ENV, NODE_ENV: "development" })).to.contain("NODE_ENV=development contradicts SYSPARK_ENV=production");
    expect(refusal({ SYSPARK_ENV: "development", NODE_ENV: "production" })).to.contain("SYSPARK_ENV=development contradicts NODE_ENV=production");
    const prod = refusal({ ...PRODUCTION_ENV, SYSPARK_ENV: "prod" });
    expect(prod).to.contain('SYSPARK_ENV must be production or development, got "prod"');
    expect(refusal({ SYSPARK_ENV: "staging" })).to.contain("DATABASE_URL is not set"); // counted as production: the same message says what it would need
    expect(resolveOptions({}, { SYSPARK_ENV: "development", NODE_ENV: "test" }).production).to.equal(false);
  });

  it("adds a badly formed variable to the same list", () => {
    const m = refusal({ ...without("DATABASE_URL"), PORT: "80a" });
    expect(m).to.contain("2 problems (DATABASE_URL, PORT)");
    expect(m).to.contain("PORT must be a TCP port");
    expect(refusal({ ...PRODUCTION_ENV, SYSPARK_AUTH_SECRET: "short" })).to.contain("SYSPARK_AUTH_SECRET must be at least 32 characters");
  });

  it("with BILLING_ENABLED=false starts without Stripe keys — and without any Stripe: never the emulator", async () => {
    const o = resolveOptions({}, { ...without("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"), BILLING_ENABLED: "false" });
    expect(o.billingEnabled).to.equal(false);
    expect(o.noStripe).to.equal(true);
    expect(o.stripeMode).to.not.equal("emulator");
    // The client such a cloud gets answers every call at once, saying why; nothing leaves the process.
    const err = await absentStripe().events.list({ limit: 1 }).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).to.contain("Stripe is not configured on this cloud");
    expect(providerUnavailableKind(err)).to.deep.equal({ kind: "server_error", statusCode: 503 });
  });

  it("reads the same values from startCloud's options, and never starts an embedded part in production", async function () {
    this.timeout(30_000);
    const opts = { databaseUrl: "postgres://db/x", mqttUrl: "mqtt://u:p@broker:1883", publicBaseUrl: "https://pay.example.com", authSecret: "a".repeat(32), aclHmacKey: "k".repeat(16), billingEnabled: false };
    expect(resolveOptions(opts, { SYSPARK_ENV: "production" }).production).to.equal(true);
    // startCloud reads process.env: production with options that leave the database and broker out.
    const saved = process.env.SYSPARK_ENV;
    process.env.SYSPARK_ENV = "production";
    const mqttPort = await freePort();
    try {
      const { databaseUrl: _d, mqttUrl: _m, ...rest } = opts;
      const err = await startCloud({ ...rest, port: 0, mqttPort, logger: silentLogger }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.contain("DATABASE_URL is not set").and.to.contain("MQTT_URL is not set");
    } finally {
      if (saved === undefined) delete process.env.SYSPARK_ENV;
      else process.env.SYSPARK_ENV = saved;
    }
    // No in-process broker was started on its port.
    const { createServer } = await import("node:net");
    const probe = createServer();
    await new Promise<void>((resolve, reject) => probe.once("error", reject).listen(mqttPort, "127.0.0.1", resolve));
    await new Promise((resolve) => probe.close(resolve));
  });

  it("keeps the embedded defaults outside production: 127.0.0.1, the emulator, nothing required", () => {
    const o = resolveOptions({}, {});
    expect(o.production).to.equal(false);
    expect(o.host).to.equal("127.0.0.1");
    expect(o.stripeMode).to.equal("emulator");
    expect(o.trustProxy).to.equal(false);
    expect(resolveOptions({ host: "::1" }, { HOST: "10.0.0.1" }).host).to.equal("::1");
    expect(resolveOptions({}, { HOST: "10.0.0.1" }).host).to.equal("10.0.0.1");
    expect(refusal({ HOST: "not a host!" })).to.contain("HOST must be an IP address");
  });
});

describe("TRUST_PROXY", () => {
  const trust = (v: string) => resolveOptions({}, { TRUST_PROXY: v }).trustProxy;
  it("reads true/false, a hop count, keywords and address/CIDR lists", () => {
    expect(trust("false")).to.equal(false);
    expect(trust("TRUE")).to.equal(true);
    expect(trust("1")).to.equal(1);
    expect(trust("loopback")).to.deep.equal(["loopback"]);
    expect(trust("loopback, 10.0.0.0/8,fd00::/8, 203.0.113.7")).to.deep.equal(["loopback", "10.0.0.0/8", "fd00::/8", "203.0.113.7"]);
  });
  it("refuses anything else, naming TRUST_PROXY and the bad entry", () => {
    for (const bad of ["yes", "10.0.0.0/33", "loopback,,", "1.2.3", "99", "-1", "fd00::/129"]) {
      expect(refusal({ TRUST_PROXY: bad }), bad).to.match(/^TRUST_PROXY must be true, false, a hop count/);
    }
    expect(refusal({ TRUST_PROXY: "loopback, example.com" })).to.contain('"example.com" is none of these');
  });
});

describe("the broker's TLS files (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE)", () => {
  let dir: string;
  const pem = (label: string) => `-----BEGIN ${label}-----\nMIIB\n-----END ${label}-----\n`;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "syspark-prod-tls-"));
    writeFileSync(join(dir, "ca.pem"), pem("CERTIFICATE"));
    writeFileSync(join(dir, "cert.pem"), pem("CERTIFICATE"));
    writeFileSync(join(dir, "key.pem"), pem("PRIVATE KEY"));
    writeFileSync(join(dir, "not.pem"), "hello");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads them for an mqtts:// broker and hands them to the MQTT connection", () => {
    const o = resolveOptions({}, { MQTT_URL: "mqtts://broker:8883", MQTT_CA_FILE: join(dir, "ca.pem"), MQTT_CERT_FILE: join(dir, "cert.pem"), MQTT_KEY_FILE: join(dir, "key.pem") });
    expect(o.mqttTls?.ca?.toString()).to.equal(pem("CERTIFICATE"));
    expect(o.mqttTls?.key?.toString()).to.equal(pem("PRIVATE KEY"));
    expect(o.mqttTlsFiles).to.deep.equal({ ca: join(dir, "ca.pem"), cert: join(dir, "cert.pem"), key: join(dir, "key.pem") });
  });

  it("refuses a missing or non-PEM file, a certificate without its key, and TLS files with a plain-text broker — each by name", () => {
    const mqtts = { MQTT_URL: "mqtts://broker:8883" };
    expect(refusal({ ...mqtts, MQTT_CA_FILE: join(dir, "missing.pem") })).to.contain(`MQTT_CA_FILE=${join(dir, "missing.pem")} cannot be read (ENOENT)`);
    expect(refusal({ ...mqtts, MQTT_CA_FILE: join(dir, "not.pem") })).to.contain("MQTT_CA_FILE").and.to.contain("is not a PEM file");
    expect(refusal({ ...mqtts, MQTT_CERT_FILE: join(dir, "cert.pem") })).to.contain("MQTT_CERT_FILE and MQTT_KEY_FILE go together");
    expect(refusal({ MQTT_URL: "mqtt://broker:1883", MQTT_CA_FILE: join(dir, "ca.pem") })).to.contain("MQTT_CA_FILE set but MQTT_URL is mqtt:// (no TLS)");
    expect(refusal({ MQTT_CA_FILE: join(dir, "ca.pem") })).to.contain("MQTT_CA_FILE set but MQTT_URL is not");
    // In production, with the rest of the list.
    const m = refusal({ ...without("DATABASE_URL"), MQTT_URL: "mqtts://u:p@broker:8883", MQTT_KEY_FILE: join(dir, "key.pem") });
    expect(m).to.contain("2 problems (DATABASE_URL, MQTT_CERT_FILE)");
  });
});
