/**
 * `syspark stripe-emulator`: the local Stripe TEST EMULATOR on its own (the cloud starts one
 * in-process on embedded defaults; this is for manual tests, demos and other processes).
 */
import type { Command } from "commander";
import { intOption } from "../main";

interface Opts {
  port: number;
  host: string;
  webhookUrl?: string;
  publicUrl?: string;
  apiKey?: string;
  webhookSecret?: string;
  stateDir?: string;
  webhookAttempts: number;
  processingMs: number;
}

function httpUrlOption(name: string): (value: string) => string {
  return (value: string) => {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      throw new Error(`${name} must be an absolute URL such as http://127.0.0.1:8080/webhooks/stripe, got "${value}"`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`${name} must be an http:// or https:// URL, got "${value}"`);
    return value;
  };
}

export function register(program: Command): void {
  program
    .command("stripe-emulator")
    .description("run the local Stripe TEST EMULATOR (not Stripe): the Stripe API subset SysPark uses, signed webhooks, a card page")
    .option("--port <n>", "TCP port (0 = any free port)", intOption("--port", 0, 65535), 12111)
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--webhook-url <url>", "where to POST signed events, e.g. the cloud's /webhooks/stripe", httpUrlOption("--webhook-url"))
    .option("--public-url <url>", "base URL phones/browsers use to reach the emulator (default: its own URL)", httpUrlOption("--public-url"))
    .option("--api-key <key>", "accept only this sk_test_ key (default: any sk_test_ key)")
    .option("--webhook-secret <whsec>", "sign webhooks with this secret (whsec_…; the cloud's STRIPE_WEBHOOK_SECRET); default: STRIPE_WEBHOOK_SECRET, else a generated test one")
    .option("--state-dir <dir>", "keep the state (PaymentIntents, sessions, events, idempotency keys, webhooks owed, the secret and key) in <dir>/state.json, crash-safe: a restart forgets nothing (default: in memory)")
    .option("--webhook-attempts <n>", "delivery attempts per event before giving up", intOption("--webhook-attempts", 1, 50), 8)
    .option("--processing-ms <n>", "hold successful card payments in `processing` this long (0 = succeed at once, like Stripe cards)", intOption("--processing-ms", 0, 600_000), 0)
    .addHelpText(
      "after",
      `
Environment:
  STRIPE_WEBHOOK_SECRET  secret webhooks are signed with (whsec_…) when --webhook-secret is not given; if neither, a test-only one is generated and printed

A cloud in another process uses it with (it outlives a killed cloud, as Stripe does):
  STRIPE_API_BASE=http://127.0.0.1:12111 STRIPE_SECRET_KEY=<--api-key> STRIPE_WEBHOOK_SECRET=<--webhook-secret> syspark cloud

Point the stripe client at it:
  new Stripe("sk_test_anything", { host: "127.0.0.1", port: 12111, protocol: "http" })
Live keys (sk_live_…) are refused. See docs/stripe-emulator.md.`,
    )
    .action(async (opts: Opts) => {
      if (opts.apiKey !== undefined && !opts.apiKey.startsWith("sk_test_")) {
        throw new Error("--api-key must be a test key (sk_test_…): the emulator never accepts live keys");
      }
      if (opts.webhookSecret !== undefined && !/^whsec_\S{8,}$/.test(opts.webhookSecret)) throw new Error("--webhook-secret must look like whsec_… (at least 8 characters after whsec_, no spaces)");
      const fromEnv = opts.webhookSecret ?? process.env.STRIPE_WEBHOOK_SECRET;
      if (fromEnv !== undefined && fromEnv.trim() === "") throw new Error("STRIPE_WEBHOOK_SECRET is set but empty: unset it (a test secret is then generated) or give it a whsec_… value");
      const { createStripeEmulator, generateTestWebhookSecret } = await import("../../stripe-emulator");
      const { createLogger } = await import("../../host/log");
      if (opts.stateDir !== undefined && opts.stateDir.trim() === "") throw new Error("--state-dir must name a directory");
      // With a state directory and no secret given, the one saved there (else a new one, saved).
      const webhookSecret = fromEnv ?? (opts.stateDir !== undefined ? undefined : generateTestWebhookSecret());
      const emu = await createStripeEmulator({
        ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
        port: opts.port,
        host: opts.host,
        webhookUrl: opts.webhookUrl ?? null,
        ...(webhookSecret !== undefined ? { webhookSecret } : {}),
        publicBaseUrl: opts.publicUrl,
        apiKey: opts.apiKey,
        webhookRetry: { maxAttempts: opts.webhookAttempts },
        processingMs: opts.processingMs,
        logger: createLogger("stripe-emulator"),
      });
      const lines = [
        "",
        "  ================================================================",
        "   Stripe TEST EMULATOR — a SysPark test tool. This is NOT Stripe.",
        "   No real card is charged. Live keys (sk_live_…) are refused.",
        "  ================================================================",
        `   API:          ${emu.url}   (new Stripe("sk_test_…", { host: "${emu.clientConfig.host}", port: ${emu.port}, protocol: "http" }))`,
        `   Webhooks to:  ${opts.webhookUrl ?? "(none: events are recorded, list them with GET /v1/events)"}`,
        fromEnv !== undefined
          ? `   Webhook secret: from ${opts.webhookSecret !== undefined ? "--webhook-secret" : "STRIPE_WEBHOOK_SECRET"}`
          : `   Webhook secret (TEST ONLY, ${opts.stateDir !== undefined ? "kept in the state directory" : "generated"}): ${emu.webhookSecret}`,
        `   State:        ${emu.stateFile ?? "in memory (lost when it stops; --state-dir keeps it)"}`,
        `   Card page:    ${emu.url}/emulator/pay/<client_secret>?return_url=<url>`,
        "   Test cards:   4242 4242 4242 4242 ok · 4000 0000 0000 0002 declined · 4000 0000 0000 9995 insufficient funds · 4000 0025 0000 3155 3-D Secure",
        "",
      ];
      process.stderr.write(lines.join("\n") + "\n");
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        process.stderr.write("stripe-emulator: stopping\n");
        void emu.close().then(() => process.exit(0));
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
