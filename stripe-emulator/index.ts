/**
 * SysPark's local Stripe TEST EMULATOR — not Stripe. What the cloud talks to on embedded
 * defaults and in tests, through the real `stripe` client:
 *
 *   const emu = await createStripeEmulator({ webhookSecret, webhookUrl });
 *   const stripe = new Stripe("sk_test_…", emu.clientConfig);
 *
 * See docs/stripe-emulator.md for what it implements, the test cards and the card-page contract.
 */
export { createStripeEmulator, generateTestWebhookSecret, returnRedirect, EMULATOR_LABEL, type StripeEmulator, type StripeEmulatorOptions } from "./server";
export { signPayload, DEFAULT_RETRY, type DeliveryRecord, type DeliveryAttempt, type WebhookRetryOptions } from "./webhooks";
export { TEST_CARDS, TEST_PAYMENT_METHODS, type TestCard } from "./cards";
export type { EmulatorEvent, RequestContext } from "./state";
export type { Locale } from "./pages";
