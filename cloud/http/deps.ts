/**
 * What the HTTP layer is built from: already-open parts (database, Stripe, payments, auth) that
 * startCloud (cloud/server/index.ts) hands to buildApp (app.ts), and every router takes its share of.
 */
import type Stripe from "stripe";
import type { Logger } from "../../host/log";
import type { Database } from "../db/index";
import type { HoldService } from "../flows/holds";
import type { PaymentService } from "../flows/payments";
import type { ProviderOutage } from "../flows/provider-outage";
import type { BillingHealth } from "../flows/billing-health";
import type { AuditMode } from "../server/audit-chain";
import type { Auth } from "../server/auth";
import type { StripeMode } from "../server/config";
import type { CloudMetrics } from "../server/metrics";
import type { Lang } from "./pages";
import type { LiveHub } from "../live/hub";

export interface AppDeps {
  db: Database;
  logger: Logger;
  auth: Auth;
  payments: PaymentService;
  metrics: CloudMetrics;
  stripe: Stripe;
  stripeMode: StripeMode;
  publishableKey?: string;
  publicBaseUrl: () => string;
  /** Emulator card page for a client secret (emulator mode only). */
  emulatorPayUrl?: (clientSecret: string, returnUrl: string, lang: Lang) => string;
  src: string;
  wake(): void;
  health(): Promise<{ ok: boolean; body: Record<string, unknown> }>;
  retrieveOnReturn: boolean;
  jsonLimit: number;
  auditMode: AuditMode;
  /** SYSPARK_ACL_HMAC_KEY; absent → the access routes answer 503. */
  aclHmacKey?: string;
  /** Holds at entry (issue 16 item 4); absent → /hold pages answer 503. */
  holds?: HoldService;
  /** Exit-PIN scrypt cost (tests lower it). */
  pinCost?: { N: number; r: number; p: number };
  /** BILLING_ENABLED: false → the pay routes answer 503 (cloud/http/billing.ts). */
  billingEnabled: boolean;
  /** The provider out of reach while a driver pays: reported, audited, told to the lane. */
  outage: ProviderOutage;
  /** GET /billing/health. */
  billingHealth: BillingHealth;
  /** The receipt worker (a refund issues a receipt still owed first: cloud/flows/refunds.ts). */
  receipts?: { issueOwed(paymentId: string): Promise<boolean> };
  /** The console's live fan-out (cloud/live/); absent → the console's event stream answers 503. */
  live?: LiveHub;
  /** The most an `operator` may refund on one payment (minor units; SYSPARK_OPERATOR_REFUND_LIMIT); admins are not limited. */
  operatorRefundLimit?: number;
}
