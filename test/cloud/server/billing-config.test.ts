/**
 * BILLING_ENABLED and the `stripe` client's patience (cloud/server/billing-config.ts), what counts
 * as "the provider is unavailable" (cloud/flows/provider-outage.ts, with the real `stripe`
 * package's error classes), and `syspark billing health` against a running cloud.
 */
import { execFile } from "node:child_process";
import { expect } from "chai";
import Stripe from "stripe";
import { ConfigError, resolveOptions } from "../../../cloud/server/config";
import { isProviderUnavailable, providerUnavailableKind } from "../../../cloud/flows/provider-outage";
import { freePort } from "../../../host/ports";
import express from "express";
import type { AddressInfo } from "node:net";
import { billingRouter } from "../../../cloud/http/billing";
import type { BillingHealth } from "../../../cloud/flows/billing-health";
import { silentLogger } from "../../../host/log";
import { startEmbedded, type TestCloud } from "./helpers";

const KEYS = { STRIPE_SECRET_KEY: "sk_test_a", STRIPE_WEBHOOK_SECRET: "whsec_b" };
/** Production mode's other requirements (issue 19: test/cloud/production-config.test.ts), so that only billing is in question here. */
const PRODUCTION = { NODE_ENV: "production", DATABASE_URL: "postgres://db/x", SYSPARK_AUTH_SECRET: "a".repeat(32), SYSPARK_ACL_HMAC_KEY: "k".repeat(16), MQTT_URL: "mqtts://u:p@broker:8883", PUBLIC_BASE_URL: "https://pay.example.com" };

describe("BILLING_ENABLED and the Stripe client's timeout / retries", () => {
  it("defaults: on with the emulator and with Stripe keys; production without keys refuses unless BILLING_ENABLED=false (never the emulator)", () => {
    expect(resolveOptions({}, {}).billingEnabled).to.equal(true);
    expect(() => resolveOptions({}, PRODUCTION)).to.throw(ConfigError, /STRIPE_SECRET_KEY is not set/);
    expect(resolveOptions({}, { ...PRODUCTION, BILLING_ENABLED: "false" }).billingEnabled).to.equal(false);
    expect(resolveOptions({}, { ...PRODUCTION, ...KEYS }).billingEnabled).to.equal(true);
    expect(resolveOptions({}, { ...PRODUCTION, STRIPE_SECRET_KEY: "sk_live_a", STRIPE_WEBHOOK_SECRET: "whsec_b" }).billingEnabled).to.equal(true);
    expect(() => resolveOptions({}, { ...PRODUCTION, STRIPE_API_BASE: "http://127.0.0.1:12111", STRIPE_SECRET_KEY: "sk_test_emu", STRIPE_WEBHOOK_SECRET: "whsec_emu" })).to.throw(ConfigError, /STRIPE_API_BASE is set/);
  });

  it("honours an explicit value (env or option; the option wins)", () => {
    expect(resolveOptions({}, { BILLING_ENABLED: "false" }).billingEnabled).to.equal(false);
    expect(resolveOptions({}, { BILLING_ENABLED: "0", ...KEYS }).billingEnabled).to.equal(false);
    expect(resolveOptions({}, { BILLING_ENABLED: "TRUE" }).billingEnabled).to.equal(true);
    expect(resolveOptions({ billingEnabled: true }, { BILLING_ENABLED: "false" }).billingEnabled).to.equal(true);
    expect(resolveOptions({ billingEnabled: false }, {}).billingEnabled).to.equal(false);
    expect(resolveOptions({}, { ...PRODUCTION, BILLING_ENABLED: "true", ...KEYS }).billingEnabled).to.equal(true);
  });

  it("refuses BILLING_ENABLED=true in production without Stripe keys, and a value that is not a boolean, naming the variable", () => {
    expect(() => resolveOptions({}, { ...PRODUCTION, BILLING_ENABLED: "true" })).to.throw(ConfigError, /2 problems \(STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET\)/);
    expect(() => resolveOptions({ billingEnabled: true }, PRODUCTION)).to.throw(ConfigError, /STRIPE_SECRET_KEY is not set/);
    expect(() => resolveOptions({}, { BILLING_ENABLED: "maybe" })).to.throw(ConfigError, /BILLING_ENABLED must be true or false, got "maybe"/);
  });

  it("gives the client an explicit timeout and bounded retries, validated by name", () => {
    const d = resolveOptions({}, {});
    expect(d.stripe?.timeoutMs).to.equal(8000);
    expect(d.stripe?.maxNetworkRetries).to.equal(1);
    expect(resolveOptions({}, KEYS).stripe?.maxNetworkRetries).to.equal(2);
    const e = resolveOptions({}, { STRIPE_TIMEOUT_MS: "1500", STRIPE_MAX_NETWORK_RETRIES: "0" });
    expect(e.stripe?.timeoutMs).to.equal(1500);
    expect(e.stripe?.maxNetworkRetries).to.equal(0);
    expect(() => resolveOptions({}, { STRIPE_TIMEOUT_MS: "fast" })).to.throw(ConfigError, /STRIPE_TIMEOUT_MS must be a whole number between 100 and 60000, got "fast"/);
    expect(() => resolveOptions({}, { STRIPE_TIMEOUT_MS: "99" })).to.throw(ConfigError, /STRIPE_TIMEOUT_MS .* got 99/);
    expect(() => resolveOptions({}, { STRIPE_MAX_NETWORK_RETRIES: "9" })).to.throw(ConfigError, /STRIPE_MAX_NETWORK_RETRIES must be a whole number between 0 and 5, got 9/);
    expect(() => resolveOptions({ stripe: { timeoutMs: 0 } }, {})).to.throw(ConfigError, /STRIPE_TIMEOUT_MS/);
  });
});

describe("what counts as 'the payment provider is unavailable'", () => {
  const E = Stripe.errors;
  it("a timeout, a connection error, a 5xx and a 429 are unavailable, each named", () => {
    expect(providerUnavailableKind(new E.StripeConnectionError({ message: "Request aborted due to timeout being reached (500ms)" }))).to.deep.equal({ kind: "timeout" });
    expect(providerUnavailableKind(new E.StripeConnectionError({ message: "An error occurred with our connection to Stripe." }))).to.deep.equal({ kind: "connection" });
    expect(providerUnavailableKind(new E.StripeAPIError({ message: "boom", statusCode: 500 } as never))).to.deep.equal({ kind: "server_error", statusCode: 500 });
    expect(providerUnavailableKind(new E.StripeAPIError({ message: "bad gateway", statusCode: 502 } as never))).to.deep.equal({ kind: "server_error", statusCode: 502 });
    expect(providerUnavailableKind(new E.StripeRateLimitError({ message: "slow down", statusCode: 429 } as never))).to.deep.equal({ kind: "rate_limited", statusCode: 429 });
  });

  it("the real client's errors: a closed port (connection refused) is `connection`, a server that never answers is `timeout`", async () => {
    const refused = new Stripe("sk_test_x", { host: "127.0.0.1", port: await freePort(), protocol: "http", maxNetworkRetries: 0, timeout: 2000 });
    const e1 = await refused.paymentIntents.create({ amount: 100, currency: "eur" }).then(() => undefined, (e: unknown) => e);
    expect(providerUnavailableKind(e1)).to.deep.equal({ kind: "connection" });
    const { createServer } = await import("node:http");
    const silent = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const hanging = new Stripe("sk_test_x", { host: "127.0.0.1", port: (silent.address() as AddressInfo).port, protocol: "http", maxNetworkRetries: 0, timeout: 300 });
      const e2 = await hanging.paymentIntents.create({ amount: 100, currency: "eur" }).then(() => undefined, (e: unknown) => e);
      expect(providerUnavailableKind(e2)).to.deep.equal({ kind: "timeout" });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("a 4xx caused by our request, a card error, a missing object and our own errors are NOT", () => {
    expect(isProviderUnavailable(new E.StripeInvalidRequestError({ message: "Received unknown parameter: bogus", statusCode: 400 } as never))).to.equal(false);
    expect(isProviderUnavailable(new E.StripeInvalidRequestError({ message: "No such payment_intent", statusCode: 404, code: "resource_missing" } as never))).to.equal(false);
    expect(isProviderUnavailable(new E.StripeCardError({ message: "Your card was declined.", statusCode: 402 } as never))).to.equal(false);
    expect(isProviderUnavailable(new E.StripeAuthenticationError({ message: "Invalid API Key", statusCode: 401 } as never))).to.equal(false);
    expect(isProviderUnavailable(new E.StripeIdempotencyError({ message: "Keys for idempotent requests can only be used with the same parameters", statusCode: 400 } as never))).to.equal(false);
    expect(isProviderUnavailable(new Error("PaymentIntent pi_1 amount does not match the quote"))).to.equal(false);
    expect(isProviderUnavailable(undefined)).to.equal(false);
  });
});

describe("syspark billing health", function () {
  this.timeout(120_000);
  let t: TestCloud | undefined;
  after(async () => {
    await t?.close();
  });

  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ["bin/syspark.js", "billing", "health", ...args], { encoding: "utf8", timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });

  it("prints a running cloud's billing health (text and --json), and refuses a bad --url or an unreachable cloud by name", async function () {
    this.timeout(120_000);
    t = await startEmbedded();
    const text = await run(["--url", t.cloud.url]);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.contain(`billing at ${t.cloud.url}: OK`);
    expect(text.stdout).to.match(/stripe reachable\s+yes/);
    expect(text.stdout).to.match(/mode\s+emulator \(Stripe TEST EMULATOR, not Stripe\)/);
    expect(text.stdout).to.match(/provider down\s+0 attempt\(s\) in the last hour/);
    const json = await run(["--url", t.cloud.url, "--json"]);
    expect(json.code).to.equal(0);
    const h = JSON.parse(json.stdout) as { status: string; billing_enabled: boolean; stripe: { reachable: boolean }; outbox: { pending: number } };
    expect(h.status).to.equal("ok");
    expect(h.billing_enabled).to.equal(true);
    expect(h.stripe.reachable).to.equal(true);
    expect(h.outbox.pending).to.be.a("number");

    const bad = await run(["--url", "ftp://127.0.0.1:1"]);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.contain("--url must be an http:// or https:// URL");
    const gone = await run(["--url", `http://127.0.0.1:${await freePort()}`, "--timeout-ms", "2000"]);
    expect(gone.code).to.not.equal(0);
    expect(gone.stderr).to.contain("no answer from the cloud at");
  });
});

describe("GET /billing/health when its figures cannot be read", () => {
  it("answers 503 'degraded' with the reason (JSON, and HTML for a browser), never a bare 500", async () => {
    const failing = { report: () => Promise.reject(new Error("connection terminated")) } as unknown as BillingHealth;
    const app = express().use(billingRouter({ billingHealth: failing, logger: silentLogger }));
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const j = await fetch(`${base}/billing/health`, { headers: { Accept: "application/json" } });
      expect(j.status).to.equal(503);
      const body = (await j.json()) as { status: string; error: string };
      expect(body.status).to.equal("degraded");
      expect(body.error).to.match(/database did not answer/);
      const h = await fetch(`${base}/billing/health`, { headers: { Accept: "text/html,application/xhtml+xml" } });
      expect(h.status).to.equal(503);
      expect(h.headers.get("content-type")).to.match(/text\/html/);
      expect(await h.text()).to.contain('data-status="degraded"');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
