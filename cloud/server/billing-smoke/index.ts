/**
 * `syspark billing smoke` (issue 16, seed 004 "a smoke script"): a paid exit, a refund and a
 * receipt, end to end, against whatever Stripe the environment points at (stripe-env.ts). It
 * starts its own cloud on a THROWAWAY in-memory PGlite database and an embedded MQTT broker on
 * a free port (it never touches a database it was not asked to create), plays a gateway over
 * MQTT, and reports every step with what it did. The first failing step ends the run and is
 * named in the report (`failed_step`).
 */
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../../host/log";
import type { Logger } from "../../../host/log";
import { startCloud, DEMO_SITE, type CloudHandle } from "../index";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../mqtt/broker";
import { SmokeGateway } from "./gateway";
import { smokeStripe } from "./stripe-env";
import { confirmPaid, createIntent, enterAndRequestExit, fetchReceipt, paymentSuccess, payWithTestCard, refundPart, type SmokeContext } from "./steps";

export { SmokeRefused, smokeStripe } from "./stripe-env";

export interface SmokeStep {
  step: string;
  ok: boolean;
  ms: number;
  detail: Record<string, unknown>;
  error?: string;
}

export interface SmokeReport {
  ok: boolean;
  failed_step: string | null;
  database: string;
  stripe: string;
  stripe_mode: string | null;
  steps: SmokeStep[];
}

export interface SmokeOptions {
  env?: NodeJS.ProcessEnv;
  /** Each wait (an MQTT message, the webhook, the receipt) gives up after this long. */
  waitMs?: number;
  /** The partial refund in minor units (default: half the amount paid, at least 1). */
  refundAmount?: number;
  logger?: Logger;
  /** Called as each step ends (the CLI prints it at once). */
  onStep?: (s: SmokeStep) => void;
}

export const SMOKE_DATABASE = "PGlite in memory (throwaway: created for this run, gone when it ends)";

/** Runs one named step: its time, its detail, or its error — which ends the run. */
class Steps {
  readonly done: SmokeStep[] = [];
  failed: string | null = null;
  constructor(private readonly onStep?: (s: SmokeStep) => void) {}

  /** `show` picks what the report may print (a pay link's token is a bearer secret: never printed). */
  async run<T extends Record<string, unknown>>(step: string, fn: () => Promise<T>, show: (v: T) => Record<string, unknown> = (v) => v): Promise<T> {
    const t0 = Date.now();
    try {
      const value = await fn();
      this.record({ step, ok: true, ms: Date.now() - t0, detail: show(value) });
      return value;
    } catch (err) {
      this.failed = step;
      this.record({ step, ok: false, ms: Date.now() - t0, detail: {}, error: (err as Error).message });
      throw err;
    }
  }

  private record(s: SmokeStep): void {
    this.done.push(s);
    this.onStep?.(s);
  }
}

/**
 * The throwaway cloud's environment: the Stripe variables only. The smoke runs where the real
 * cloud runs (a Render shell, `docker compose exec`), whose SYSPARK_ENV=production, DATABASE_URL,
 * MQTT_URL and MQTT_CA_FILE belong to the real cloud: the throwaway one, on PGlite in memory and
 * its own broker, must neither read them nor be refused by production mode for not using them.
 */
export function throwawayCloudEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("STRIPE_")));
}

export async function runBillingSmoke(opts: SmokeOptions = {}): Promise<SmokeReport> {
  const env = opts.env ?? process.env;
  const stripeEnv = smokeStripe(env); // refuses a live key before anything starts
  const steps = new Steps(opts.onStep);
  const waitMs = opts.waitMs ?? 20_000;
  let cloud: CloudHandle | undefined;
  let gateway: SmokeGateway | undefined;
  let broker: EmbeddedBroker | undefined;
  try {
    await steps.run("start", async () => {
      broker = await startEmbeddedBroker({ host: "127.0.0.1", port: 0, logger: opts.logger ?? silentLogger });
      cloud = await startCloud({
        databaseUrl: "", // "" (not undefined): DATABASE_URL is never read — the database is a throwaway PGlite in memory
        // MQTT_URL is never read either: the smoke's own embedded broker, on a free port.
        mqttUrl: broker.url,
        mqttProtocol: 4,
        port: 0,
        host: "127.0.0.1",
        seedDemo: true,
        createFirstAdmin: true,
        authSecret: randomBytes(32).toString("hex"),
        instanceId: `smoke-${randomBytes(4).toString("hex")}`,
        relayPollMs: 100,
        stripe: { emulatorPort: 0, ...stripeEnv.options },
        logger: opts.logger ?? silentLogger,
        pgliteTemplateDir: join(tmpdir(), "syspark-pglite-cache"), // a migrated empty template, copied: only saves the migrations' time
        env: throwawayCloudEnv(env),
      });
      return { cloud: cloud.url, database: SMOKE_DATABASE, mqtt: cloud.mqttUrl, stripe_mode: cloud.stripeMode, stripe: stripeEnv.description, site: DEMO_SITE.siteId };
    });
    const c = cloud as unknown as CloudHandle;
    const ctx: SmokeContext = { cloud: c, waitMs, webhookReachable: stripeEnv.webhookReachable && Boolean(c.emulator), ...(opts.refundAmount !== undefined ? { refundAmount: opts.refundAmount } : {}) };
    await steps.run("gateway", async () => {
      gateway = await SmokeGateway.connect(c.mqttUrl, DEMO_SITE.siteId);
      return { mqtt: c.mqttUrl, site: DEMO_SITE.siteId, lanes: "E1 (entry), L1 (exit)" };
    });
    const g = gateway as unknown as SmokeGateway;
    const exit = await steps.run("exit_request", () => enterAndRequestExit(ctx, g), ({ token: _secret, ...shown }) => shown);
    const { payment_intent: pi } = await steps.run("intent", () => createIntent(ctx, exit));
    await steps.run("card_payment", () => payWithTestCard(ctx, exit, pi));
    const paid = await steps.run("confirm", () => confirmPaid(ctx, exit, pi));
    await steps.run("payment_success", () => paymentSuccess(ctx, g, exit));
    await steps.run("refund", () => refundPart(ctx, exit, String(paid.payment_id)));
    await steps.run("receipt", () => fetchReceipt(ctx, exit));
  } catch {
    // recorded by the step that failed (or a start failure below)
  } finally {
    await gateway?.close().catch(() => undefined);
    await cloud?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
  }
  return { ok: steps.failed === null, failed_step: steps.failed, database: SMOKE_DATABASE, stripe: stripeEnv.description, stripe_mode: cloud?.stripeMode ?? null, steps: steps.done };
}
