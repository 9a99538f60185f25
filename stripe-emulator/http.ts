/**
 * The HTTP plumbing the API and the emulator's pages share (node:http): reading a body, answering
 * JSON, HTML or a redirect, and the small parsers of what a browser sends.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Stripe from "stripe";
import type { Logger } from "../host/log";
import { StripeApiError } from "./errors";
import type { CardFormValues, Locale } from "./pages";
import type { CardInput, EmulatorState } from "./state";

export const EMULATOR_LABEL = "SysPark Stripe TEST EMULATOR - not Stripe";
const MAX_BODY = 256 * 1024;

/** What the API and page handlers work with. */
export interface HttpEnv {
  state: EmulatorState;
  now: () => number;
  log: Logger;
  /** Before answering a request that changed the state: the change is on disk. */
  commit: () => Promise<void>;
}

export function formatHostForUrl(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

export function httpUrl(s: string | undefined | null): string | null {
  if (!s) return null;
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:" ? u.toString() : null;
  } catch {
    return null;
  }
}

function redirectStatus(status: string): "succeeded" | "processing" | "failed" {
  if (status === "succeeded" || status === "requires_capture") return "succeeded";
  if (status === "processing") return "processing";
  return "failed";
}

/** return_url + the query parameters Stripe.js adds after a redirect. */
export function returnRedirect(returnUrl: string, pi: Stripe.PaymentIntent): string {
  const u = new URL(returnUrl);
  u.searchParams.set("payment_intent", pi.id);
  u.searchParams.set("payment_intent_client_secret", pi.client_secret as string);
  u.searchParams.set("redirect_status", redirectStatus(pi.status));
  return u.toString();
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new StripeApiError(413, { type: "invalid_request_error", message: `Request body larger than ${MAX_BODY} bytes.` }, true));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** A page's form: the POST body, or the query string of a GET. */
export async function pageForm(req: IncomingMessage, url: URL): Promise<URLSearchParams> {
  return req.method === "POST" ? new URLSearchParams(await readBody(req)) : url.searchParams;
}

/** Card fields typed on a page → a card, or a message for the driver. */
export function parseCardForm(form: URLSearchParams, now: number): { card: CardInput; values: CardFormValues } | { error: string; values: CardFormValues } {
  const values = { number: form.get("card_number") ?? "", exp: form.get("exp") ?? "", cvc: form.get("cvc") ?? "" };
  const number = values.number.replace(/[\s-]/g, "");
  if (!/^\d{12,19}$/.test(number)) return { error: "Your card number is incomplete or invalid.", values };
  const m = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(values.exp);
  if (!m) return { error: "Your card's expiration date is incomplete (MM/YY).", values };
  const month = Number(m[1]);
  const year = m[2].length === 2 ? 2000 + Number(m[2]) : Number(m[2]);
  if (month < 1 || month > 12) return { error: "Your card's expiration month is invalid.", values };
  const d = new Date(now);
  if (year < d.getUTCFullYear() || (year === d.getUTCFullYear() && month < d.getUTCMonth() + 1)) return { error: "Your card's expiration year is in the past.", values };
  if (!/^\d{3,4}$/.test(values.cvc.trim())) return { error: "Your card's security code is incomplete.", values };
  return { card: { number, expMonth: month, expYear: year, cvc: values.cvc.trim() }, values };
}

export function localeOf(req: IncomingMessage, explicit: string | null): Locale {
  if (explicit === "fr" || explicit === "en") return explicit;
  return /^fr\b/i.test(String(req.headers["accept-language"] ?? "")) ? "fr" : "en";
}

export function commonHeaders(res: ServerResponse, requestId: string): void {
  res.setHeader("Request-Id", requestId);
  res.setHeader("X-Stripe-Emulator", EMULATOR_LABEL);
  res.setHeader("Cache-Control", "no-cache, no-store");
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json");
  res.setHeader("Content-Length", Buffer.byteLength(text));
  res.end(text);
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(html));
  res.setHeader("X-Frame-Options", "DENY");
  res.end(html);
}

export function redirect(res: ServerResponse, location: string): void {
  res.statusCode = 303;
  res.setHeader("Location", location);
  res.end();
}
