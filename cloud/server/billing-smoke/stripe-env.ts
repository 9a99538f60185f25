/**
 * Which Stripe the billing smoke test talks to, read from the environment exactly as the cloud
 * reads it (config.ts): STRIPE_SECRET_KEY sk_test_ → Stripe test mode, STRIPE_API_BASE → a
 * Stripe test emulator in its own process, nothing → the in-process emulator. A live key is
 * refused BY NAME before anything starts: a smoke test moves money, and only test money.
 */
import { randomBytes } from "node:crypto";

export class SmokeRefused extends Error {
  override readonly name = "SmokeRefused";
}

export interface SmokeStripe {
  /** What the report calls it. */
  description: string;
  /** Extra StripeOptions for startCloud (a placeholder webhook secret, see below). */
  options: { webhookSecret?: string };
  /** A webhook can reach the throwaway cloud only from the in-process emulator. */
  webhookReachable: boolean;
}

const LIVE = /^(sk|rk)_live_/;

export function smokeStripe(env: NodeJS.ProcessEnv): SmokeStripe {
  const key = env.STRIPE_SECRET_KEY || undefined;
  for (const name of ["STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY"] as const) {
    const v = env[name];
    if (v && (LIVE.test(v) || v.startsWith("pk_live_"))) throw new SmokeRefused(`refusing to run: ${name} is a LIVE key — the billing smoke test makes a real payment and a refund; run it with a test key (sk_test_…), STRIPE_API_BASE (a Stripe test emulator) or no Stripe variable (the in-process emulator)`);
  }
  if (env.STRIPE_API_BASE) return { description: `Stripe TEST EMULATOR in its own process at ${env.STRIPE_API_BASE} (STRIPE_API_BASE; not Stripe)`, options: {}, webhookReachable: false };
  if (key) {
    if (!/^(sk|rk)_test_/.test(key)) throw new SmokeRefused("refusing to run: STRIPE_SECRET_KEY must be a test key (sk_test_… or rk_test_…)");
    // Stripe cannot deliver a webhook to a cloud on this machine's loopback: the payment is
    // confirmed by the server-side retrieve, so a missing webhook secret is not needed here —
    // a random placeholder satisfies the cloud's configuration check and verifies nothing.
    const options = env.STRIPE_WEBHOOK_SECRET ? {} : { webhookSecret: `whsec_smoke_placeholder_${randomBytes(12).toString("hex")}` };
    return { description: "Stripe TEST mode (STRIPE_SECRET_KEY sk_test_…; test money only)", options, webhookReachable: false };
  }
  if (env.STRIPE_WEBHOOK_SECRET) throw new SmokeRefused("refusing to run: STRIPE_WEBHOOK_SECRET is set but STRIPE_SECRET_KEY is not: set both (Stripe test mode) or neither (the in-process emulator)");
  return { description: "the in-process Stripe TEST EMULATOR (no Stripe variable set; not Stripe)", options: {}, webhookReachable: true };
}
