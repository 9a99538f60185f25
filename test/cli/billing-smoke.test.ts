/**
 * `syspark billing smoke` as a person runs it: a child process of bin/syspark.js, against the
 * in-process Stripe test emulator; a live key refused by name; a failing step named in the exit.
 */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { expect } from "chai";
import { spawnEmulator } from "../cloud/server/emulator-process";

interface Report {
  ok: boolean;
  failed_step: string | null;
  database: string;
  stripe_mode: string | null;
  steps: { step: string; ok: boolean; ms: number; detail: Record<string, unknown>; error?: string }[];
}

/** The environment without any Stripe variable, and a DATABASE_URL / MQTT_URL nobody answers: the smoke must read neither. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: "postgres://nobody@127.0.0.1:1/must_not_be_used", MQTT_URL: "mqtt://127.0.0.1:1", ...extra };
  for (const k of ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY", "STRIPE_API_BASE", "BILLING_ENABLED", "PUBLIC_BASE_URL"]) if (!(k in extra)) delete env[k];
  return env;
}

const run = (args: string[], env: NodeJS.ProcessEnv) => spawnSync("node", ["bin/syspark.js", "billing", "smoke", ...args], { encoding: "utf8", env, timeout: 150_000 });

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("syspark billing smoke", function () {
  this.timeout(180_000);

  it("pays an exit, refunds part of it and fetches the receipt on a throwaway cloud (in-process emulator, --json)", () => {
    const r = run(["--json", "--refund-amount", "100"], cleanEnv());
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.ok).to.equal(true);
    expect(report.failed_step).to.equal(null);
    expect(report.stripe_mode).to.equal("emulator");
    expect(report.database).to.match(/PGlite in memory \(throwaway/);
    expect(report.steps.map((s) => s.step)).to.deep.equal(["start", "gateway", "exit_request", "intent", "card_payment", "confirm", "payment_success", "refund", "receipt"]);
    const d = Object.fromEntries(report.steps.map((s) => [s.step, s.detail]));
    expect(d.start.cloud).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(d.start.mqtt).to.not.equal("mqtt://127.0.0.1:1");
    const paid = d.exit_request.amount as number;
    expect(paid).to.be.greaterThan(100);
    expect(d.exit_request).to.not.have.property("token");
    expect(r.stdout).to.not.match(/[?&]t=[A-Za-z0-9_-]{10,}/); // the pay link's token is never printed
    expect(d.intent.amount).to.equal(paid);
    expect(d.card_payment.status).to.equal("succeeded");
    expect(d.confirm.via).to.equal("webhook");
    expect(d.confirm.state).to.equal("paid");
    expect(d.payment_success.provider_ref).to.equal(d.intent.payment_intent);
    expect(d.refund).to.include({ amount: 100, state: "succeeded", payment_refunded: 100, refund_status: "partial" });
    expect(d.receipt.number).to.match(/^R-\d{4}-\d{6}$/);
    expect((d.receipt.pdf as { sha256: string }).sha256).to.match(/^[0-9a-f]{64}$/);
    expect((d.receipt.html as { sha256: string }).sha256).to.match(/^[0-9a-f]{64}$/);
  });

  it("prints one line per step for a person by default, and the half-amount refund — also in the real cloud's production shell, whose settings the throwaway cloud ignores", () => {
    // Where the smoke is run (a Render shell, docker compose exec): production mode and the real cloud's broker TLS file.
    const r = run([], cleanEnv({ SYSPARK_ENV: "production", NODE_ENV: "production", MQTT_CA_FILE: "/nonexistent/ca.pem", TRUST_PROXY: "1" }));
    expect(r.status, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/throwaway cloud on PGlite in memory/);
    for (const step of ["start", "exit_request", "card_payment", "confirm", "refund", "receipt"]) expect(r.stdout).to.match(new RegExp(`^ok\\s+${step}\\s+\\d+ ms`, "m"));
    const amount = Number(/exit_request .* amount=(\d+)/.exec(r.stdout)?.[1]);
    expect(r.stdout).to.match(new RegExp(`refund .* amount=${Math.floor(amount / 2)} `));
    expect(r.stdout).to.match(/^billing smoke: OK/m);
  });

  it("against a Stripe test emulator in its own process (STRIPE_API_BASE), no webhook reaches it: confirmed by the server-side retrieve", async () => {
    const key = "sk_test_smoke_external_emulator";
    const whsec = "whsec_smoke_external_emulator";
    const emu = await spawnEmulator(["--port", "0", "--api-key", key, "--webhook-secret", whsec]);
    try {
      const r = spawnSync("node", ["bin/syspark.js", "billing", "smoke", "--json"], { encoding: "utf8", env: cleanEnv({ STRIPE_API_BASE: emu.url, STRIPE_SECRET_KEY: key, STRIPE_WEBHOOK_SECRET: whsec }), timeout: 150_000 });
      expect(r.status, r.stderr + r.stdout).to.equal(0);
      const report = JSON.parse(r.stdout) as Report;
      const d = Object.fromEntries(report.steps.map((s) => [s.step, s.detail]));
      expect(d.start.stripe).to.include(`STRIPE_API_BASE`);
      expect(d.confirm).to.include({ via: "server-side retrieve (return page)", state: "paid" });
      expect(d.refund).to.include({ state: "succeeded" });
      expect(d.receipt.number).to.match(/^R-\d{4}-\d{6}$/);
    } finally {
      await emu.stop();
    }
  });

  it("refuses a live key by name before starting anything", () => {
    for (const [name, value] of [["STRIPE_SECRET_KEY", "sk_live_abcdefghijklmnop"], ["STRIPE_SECRET_KEY", "rk_live_abcdefghijklmnop"], ["STRIPE_PUBLISHABLE_KEY", "pk_live_abcdefghijklmnop"]] as const) {
      const r = run(["--json"], cleanEnv({ [name]: value, ...(name === "STRIPE_PUBLISHABLE_KEY" ? { STRIPE_SECRET_KEY: "sk_test_abcdefghijklmnop" } : {}) }));
      expect(r.status, r.stdout).to.equal(2);
      expect(r.stderr).to.include(`${name} is a LIVE key`);
      expect(r.stdout).to.equal("");
    }
    const human = run([], cleanEnv({ STRIPE_SECRET_KEY: "sk_live_abcdefghijklmnop" }));
    expect(human.status).to.equal(2);
    expect(human.stdout).to.equal(""); // not even "a throwaway cloud…": nothing started
  });

  it("exits non-zero naming the failing step: a Stripe emulator nobody answers fails at `intent`", async () => {
    const port = await closedPort();
    const env = cleanEnv({ STRIPE_API_BASE: `http://127.0.0.1:${port}`, STRIPE_SECRET_KEY: "sk_test_smoke_unreachable", STRIPE_WEBHOOK_SECRET: "whsec_smoke_unreachable", STRIPE_MAX_NETWORK_RETRIES: "0" });
    const r = run(["--json", "--wait-ms", "5000"], env);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('billing smoke failed at step "intent"');
    const report = JSON.parse(r.stdout) as Report;
    expect(report.ok).to.equal(false);
    expect(report.failed_step).to.equal("intent");
    expect(report.steps.map((s) => [s.step, s.ok])).to.deep.equal([["start", true], ["gateway", true], ["exit_request", true], ["intent", false]]);
    expect(report.steps[3].error).to.match(/HTTP 503/);
    const human = run(["--wait-ms", "5000"], env);
    expect(human.status).to.equal(1);
    expect(human.stdout).to.match(/^FAIL intent /m);
    expect(human.stdout).to.match(/FAILED at step "intent"/);
  });

  it("refuses bad flags by name", () => {
    let r = run(["--wait-ms", "abc"], cleanEnv());
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.match(/--wait-ms must be a whole number/);
    r = run(["--refund-amount", "0"], cleanEnv());
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.match(/--refund-amount must be between 1 and/);
  });
});
