/**
 * The billing smoke test's steps, each one thing the real system does, through its real
 * boundaries: the gateway's MQTT messages, the pay API a kiosk or the pay page uses, the test
 * card at the provider, the webhook (or the return page's server-side retrieve when no webhook
 * can reach this cloud), the operators' refund API and the driver's receipt links. Each returns
 * what it did (ids, amounts) for the report, or throws a message naming what went wrong.
 */
import { createHash, randomBytes } from "node:crypto";
import { findActiveSession, listPayments } from "../../db/index";
import type { CloudHandle } from "../index";
import { DEMO_ENTRY_LANE, DEMO_EXIT_LANE, DEMO_SITE } from "../seed";
import type { SmokeGateway } from "./gateway";

export interface SmokeContext {
  cloud: CloudHandle;
  waitMs: number;
  /** The in-process emulator delivers webhooks to this cloud; Stripe and an external emulator cannot. */
  webhookReachable: boolean;
  refundAmount?: number;
}

export interface ExitRequested extends Record<string, unknown> {
  session_id: string;
  plate: string;
  amount: number;
  currency: string;
  token: string;
}

const SRC = "syspark-billing-smoke";
const eventId = () => `smoke-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn every 100 ms until it answers, or fails after waitMs naming what it waited for. */
async function poll<T>(fn: () => Promise<T | undefined>, waitMs: number, what: string): Promise<T> {
  const end = Date.now() + waitMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`no ${what} within ${waitMs} ms`);
    await sleep(100);
  }
}

async function json<T>(r: Response, what: string): Promise<T> {
  const text = await r.text();
  if (!r.ok) throw new Error(`${what} answered HTTP ${r.status}: ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${what} answered something that is not JSON (HTTP ${r.status})`);
  }
}

/** A car enters (two hours ago) and asks to leave: the cloud prices it and sends parking/payment/req with its pay link. */
export async function enterAndRequestExit(ctx: SmokeContext, g: SmokeGateway): Promise<ExitRequested> {
  const plate = `SMOKE${randomBytes(3).toString("hex").toUpperCase()}`;
  const identity = { method: "plate" as const, value: plate };
  await g.publish("entry", { ts: Date.now() - 2 * 3600_000, src: SRC, event_id: eventId(), lane_id: DEMO_ENTRY_LANE, identity });
  const session = await poll(() => findActiveSession(ctx.cloud.db.sql, DEMO_SITE.siteId, identity), ctx.waitMs, `session opened by the entry of ${plate}`);
  await g.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: DEMO_EXIT_LANE, identity });
  const req = await g.waitFor("paymentReq", session.sessionId, ctx.waitMs);
  const payUrl = String(req.payload.pay_url ?? "");
  const token = payUrl ? new URL(payUrl).searchParams.get("t") : null;
  if (!token) throw new Error(`parking/payment/req for ${session.sessionId} carries no pay link (pay_url): is billing enabled (BILLING_ENABLED)?`);
  const amount = Number(req.payload.amount);
  if (!(amount > 0)) throw new Error(`the exit of ${session.sessionId} was priced ${amount}: nothing to pay, nothing to refund`);
  const link = new URL(payUrl);
  link.search = ""; // the token stays out of the report
  return { session_id: session.sessionId, plate, amount, currency: String(req.payload.currency), pay_link: `${link.toString()}?t=…`, token };
}

/** The pay API creates the PaymentIntent (amount from the cloud's pricing, never from the client). */
export async function createIntent(ctx: SmokeContext, exit: ExitRequested): Promise<{ payment_intent: string; amount: number; currency: string }> {
  const r = await fetch(`${ctx.cloud.url}/api/pay/${encodeURIComponent(exit.session_id)}/intent?t=${encodeURIComponent(exit.token)}`, { method: "POST" });
  const body = await json<{ payment_intent: string; amount: number; currency: string }>(r, "POST /api/pay/:id/intent");
  if (body.amount !== exit.amount) throw new Error(`the PaymentIntent is for ${body.amount} but the exit was priced ${exit.amount}`);
  return { payment_intent: body.payment_intent, amount: body.amount, currency: body.currency };
}

/** The test card pm_card_visa pays the PaymentIntent at the provider (server-side; works on Stripe test mode too). */
export async function payWithTestCard(ctx: SmokeContext, exit: ExitRequested, pi: string): Promise<Record<string, unknown>> {
  const returnUrl = `${ctx.cloud.publicBaseUrl}/pay/${encodeURIComponent(exit.session_id)}/return?t=${encodeURIComponent(exit.token)}`;
  const confirmed = await ctx.cloud.stripe.paymentIntents.confirm(pi, { payment_method: "pm_card_visa", return_url: returnUrl });
  if (confirmed.status !== "succeeded") throw new Error(`PaymentIntent ${pi} is ${confirmed.status} after the test card pm_card_visa (expected succeeded)`);
  return { payment_intent: pi, status: confirmed.status, card: "pm_card_visa", amount_received: confirmed.amount_received };
}

/**
 * The cloud learns of the payment: by the signed webhook when one can reach it, else by the
 * return page's server-side retrieve (PaymentService.confirmByRetrieve) — as a driver coming back
 * from the card page would trigger. Either way the payment row ends `paid`.
 */
export async function confirmPaid(ctx: SmokeContext, exit: ExitRequested, pi: string): Promise<Record<string, unknown>> {
  let via = "webhook";
  if (!ctx.webhookReachable) {
    via = "server-side retrieve (return page)";
    const r = await fetch(`${ctx.cloud.url}/pay/${encodeURIComponent(exit.session_id)}/return?t=${encodeURIComponent(exit.token)}&payment_intent=${encodeURIComponent(pi)}&redirect_status=succeeded`);
    if (r.status >= 400) throw new Error(`the return page answered HTTP ${r.status}`);
    await r.arrayBuffer();
  }
  const payment = await poll(async () => (await listPayments(ctx.cloud.db.sql, exit.session_id)).find((p) => p.providerRef === pi && p.state === "paid"), ctx.waitMs, `payment of ${pi} marked paid by the ${via}`);
  return { via, payment_id: payment.paymentId, state: payment.state, amount: payment.amount, currency: payment.currency };
}

/** What the gateway hears: parking/payment/success for the session (through the outbox). */
export async function paymentSuccess(ctx: SmokeContext, g: SmokeGateway, exit: ExitRequested): Promise<Record<string, unknown>> {
  try {
    const m = await g.waitFor("paymentSuccess", exit.session_id, ctx.waitMs);
    return { topic: "parking/payment/success", provider_ref: m.payload.provider_ref, amount: m.payload.amount, currency: m.payload.currency };
  } catch (err) {
    const failed = g.failureOf(exit.session_id);
    throw new Error(failed ? `the site was told parking/payment/failed (${String(failed.reason)}) instead` : (err as Error).message, { cause: err });
  }
}

/** An operator (the first admin of the throwaway database) refunds part of it through the operator API. */
export async function refundPart(ctx: SmokeContext, exit: ExitRequested, paymentId: string): Promise<Record<string, unknown>> {
  const admin = ctx.cloud.firstAdmin;
  if (!admin) throw new Error("the throwaway database has no first admin to log in with");
  const login = await json<{ token: string }>(await fetch(`${ctx.cloud.url}/api/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(admin) }), "POST /api/login");
  const amount = ctx.refundAmount ?? Math.max(1, Math.floor(exit.amount / 2));
  if (amount > exit.amount) throw new Error(`--refund-amount ${amount} is more than the ${exit.amount} paid`);
  const r = await fetch(`${ctx.cloud.url}/api/operator/refunds`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${login.token}`, "Idempotency-Key": `smoke-${randomBytes(8).toString("hex")}` },
    body: JSON.stringify({ payment_id: paymentId, amount, reason: "billing smoke test: a partial refund" }),
  });
  const body = await json<{ refund: { refund_id: string; amount: number; currency: string; state: string; provider_ref: string | null }; payment: { refunded_amount: number; refund_status: string } }>(r, "POST /api/operator/refunds");
  if (body.refund.state !== "succeeded" && body.refund.state !== "pending") throw new Error(`refund ${body.refund.refund_id} is ${body.refund.state} (HTTP ${r.status})`);
  return { http: r.status, refund_id: body.refund.refund_id, provider_ref: body.refund.provider_ref, amount: body.refund.amount, currency: body.refund.currency, state: body.refund.state, payment_refunded: body.payment.refunded_amount, refund_status: body.payment.refund_status };
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The driver's receipt (it may be issued asynchronously: polled, bounded), as HTML and PDF, with checksums. */
export async function fetchReceipt(ctx: SmokeContext, exit: ExitRequested): Promise<Record<string, unknown>> {
  const base = `${ctx.cloud.url}/api/pay/${encodeURIComponent(exit.session_id)}?t=${encodeURIComponent(exit.token)}`;
  type Receipt = { status: "issued"; number: string; html_url: string; pdf_url: string } | { status: "pending" };
  // `{status: "pending"}` while the receipt worker has not issued it yet: keep polling until "issued".
  const issued = (r: Receipt | null): Extract<Receipt, { status: "issued" }> | undefined => (r?.status === "issued" ? r : undefined);
  const receipt = await poll(async () => issued((await json<{ receipt: Receipt | null }>(await fetch(base), "GET /api/pay/:id")).receipt), ctx.waitMs, `receipt for session ${exit.session_id}`);
  const html = await fetch(new URL(receipt.html_url, ctx.cloud.url));
  const htmlBytes = new Uint8Array(await html.arrayBuffer());
  if (html.status !== 200 || !/text\/html/.test(html.headers.get("content-type") ?? "")) throw new Error(`the receipt's HTML answered HTTP ${html.status} (${html.headers.get("content-type")})`);
  if (!Buffer.from(htmlBytes).toString("utf8").includes(receipt.number)) throw new Error(`the receipt's HTML does not show its number ${receipt.number}`);
  const pdf = await fetch(new URL(receipt.pdf_url, ctx.cloud.url));
  const pdfBytes = new Uint8Array(await pdf.arrayBuffer());
  if (pdf.status !== 200 || Buffer.from(pdfBytes.subarray(0, 5)).toString("latin1") !== "%PDF-") throw new Error(`the receipt's PDF answered HTTP ${pdf.status} without a PDF (${pdf.headers.get("content-type")})`);
  return { number: receipt.number, html: { bytes: htmlBytes.length, sha256: sha256(htmlBytes) }, pdf: { bytes: pdfBytes.length, sha256: sha256(pdfBytes) } };
}
