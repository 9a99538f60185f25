/**
 * The API's HTTP face: Stripe's v1 wire format for the endpoints SysPark uses, authentication
 * with test keys only, Idempotency-Key handling, `expand[]`. The routes themselves belong to the
 * resources (resources/*.ts).
 *
 * Wire format (https://docs.stripe.com/api): form-encoded request bodies and query strings,
 * pretty-printed JSON answers, errors as `{ "error": { type, code, message, param, … } }` with
 * Stripe's HTTP statuses, `Request-Id` on every answer, `Idempotent-Replayed: true` on a replay.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { authError, paramError, StripeApiError } from "./errors";
import { decodeForm } from "./form";
import { readBody, type HttpEnv } from "./http";
import type { Idempotency } from "./idempotency";
import { checkoutLineItems, checkoutSessionRoutes } from "./resources/checkout-sessions";
import { chargeRoutes } from "./resources/charges";
import { customerRoutes } from "./resources/customers";
import { eventRoutes } from "./resources/events";
import { paymentIntentRoutes } from "./resources/payment-intents";
import { paymentMethodRoutes } from "./resources/payment-methods";
import { refundRoutes } from "./resources/refunds";
import { setupIntentRoutes } from "./resources/setup-intents";
import { portalRoutes } from "./resources/billing-portal";
import { invoiceRoutes } from "./resources/invoices";
import { priceRoutes } from "./resources/prices";
import { subscriptionCheckoutRoutes } from "./resources/subscription-checkout";
import { subscriptionRoutes } from "./resources/subscriptions";
import type { Route } from "./route";
import type { EmulatorState, RequestContext } from "./state";

export interface ApiOptions extends HttpEnv {
  idempotency: Idempotency;
  /** Accept only this `sk_test_` key (default: any `sk_test_` key). */
  apiKey: string | undefined;
  apiVersion: string;
}

export function apiRoutes(state: EmulatorState): Route[] {
  return [...paymentIntentRoutes(state), ...chargeRoutes(state), ...paymentMethodRoutes(state), ...refundRoutes(state), ...subscriptionCheckoutRoutes(state), ...checkoutSessionRoutes(state), ...customerRoutes(state), ...eventRoutes(state), ...priceRoutes(state), ...subscriptionRoutes(state), ...invoiceRoutes(state), ...portalRoutes(state), ...setupIntentRoutes(state)];
}

// ------------------------------------------------------------ expand[]

const cannotExpand = (path: string): StripeApiError => paramError("parameter_invalid_string", "expand", `This property cannot be expanded (${path}).`);

function expandInto(state: EmulatorState, target: Record<string, unknown>, parts: string[], full: string): void {
  const [head, ...rest] = parts;
  if (target.object === "checkout.session" && head === "line_items") {
    const items = checkoutLineItems(state, target.id as string);
    target.line_items = { object: "list", data: items, has_more: false, url: `/v1/checkout/sessions/${String(target.id)}/line_items` };
    if (rest.length > 0) throw cannotExpand(full);
    return;
  }
  if (!Object.prototype.hasOwnProperty.call(target, head)) throw cannotExpand(full);
  let v = target[head];
  if (typeof v === "string") {
    const found = state.lookup(v);
    if (!found) throw cannotExpand(full);
    target[head] = found;
    v = found;
  }
  if (rest.length === 0 || v === null) return;
  if (typeof v !== "object" || Array.isArray(v)) throw cannotExpand(full);
  expandInto(state, v as Record<string, unknown>, rest, full);
}

function applyExpand(state: EmulatorState, result: unknown, paths: string[]): unknown {
  for (const path of paths) {
    const parts = path.split(".");
    const r = result as Record<string, unknown>;
    if (r.object === "list") {
      if (parts[0] !== "data") throw cannotExpand(path);
      for (const item of r.data as Array<Record<string, unknown>>) expandInto(state, item, parts.slice(1), path);
    } else {
      expandInto(state, r, parts, path);
    }
  }
  return result;
}

// ------------------------------------------------------------ authentication

/** The caller's test secret key, or a 401 that says why (a live key is refused by name). */
export function authenticate(req: IncomingMessage, apiKey: string | undefined): string {
  const header = req.headers.authorization;
  if (!header) {
    throw authError("You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').");
  }
  let key: string;
  if (header.startsWith("Bearer ")) key = header.slice(7).trim();
  else if (header.startsWith("Basic ")) key = Buffer.from(header.slice(6), "base64").toString("utf8").split(":")[0];
  else throw authError("Invalid Authorization header: use Bearer auth with a test secret key (sk_test_…).");
  const redacted = key.length > 12 ? `${key.slice(0, 8)}${"*".repeat(4)}${key.slice(-4)}` : "****";
  if (/^(sk|rk)_live_/.test(key)) {
    throw authError(`This is the SysPark Stripe TEST EMULATOR, not Stripe: it refuses live keys (${redacted}). Use a test secret key (sk_test_…).`);
  }
  if (key.startsWith("pk_")) throw authError("This API call cannot be made with a publishable API key. Please use a secret API key.");
  if (!key.startsWith("sk_test_") || key.length <= "sk_test_".length) throw authError(`Invalid API Key provided: ${redacted}`);
  if (apiKey !== undefined && key !== apiKey) throw authError(`Invalid API Key provided: ${redacted}`);
  return key;
}

/** One request under /v1/: authenticated, routed, idempotent, expanded, saved, answered. */
export function apiHandler(o: ApiOptions): (req: IncomingMessage, res: ServerResponse, url: URL, requestId: string) => Promise<void> {
  const { state, log, commit, idempotency, apiKey, apiVersion } = o;
  const routes = apiRoutes(state);
  return async (req, res, url, requestId) => {
    const method = req.method ?? "GET";
    const version = req.headers["stripe-version"];
    res.setHeader("Stripe-Version", typeof version === "string" && version !== "" ? version : apiVersion);
    const body = method === "POST" ? await readBody(req) : "";
    const callerKey = authenticate(req, apiKey);
    const route = routes.find((r) => r.method === method && r.pattern.test(url.pathname));
    if (!route) {
      throw new StripeApiError(
        404,
        { type: "invalid_request_error", message: `Unrecognized request URL (${method}: ${url.pathname}). This SysPark Stripe TEST EMULATOR implements only the endpoints listed in docs/stripe-emulator.md.` },
        true,
      );
    }
    const contentType = String(req.headers["content-type"] ?? "");
    if (method === "POST" && body !== "" && !contentType.startsWith("application/x-www-form-urlencoded")) {
      throw paramError("parameter_invalid_string", undefined, `Invalid request: unsupported Content-Type ${contentType || "(none)"}. The Stripe API takes application/x-www-form-urlencoded bodies.`);
    }
    const ids = (route.pattern.exec(url.pathname) as RegExpExecArray).slice(1);
    const idemHeader = req.headers["idempotency-key"];
    const idemKey = method === "POST" && typeof idemHeader === "string" && idemHeader !== "" ? idemHeader : null;
    if (idemKey !== null) res.setHeader("Idempotency-Key", idemKey);
    const ctx: RequestContext = { requestId, idempotencyKey: idemKey };
    const params = decodeForm(method === "POST" ? body : url.search.slice(1));
    if (idemKey !== null) {
      if (idemKey.length > 255) throw paramError("idempotency_key_too_long", undefined, "Idempotency keys may be at most 255 characters long.");
      const prior = idempotency.lookup(callerKey, idemKey, method, url.pathname, params);
      if (prior) {
        res.setHeader("Idempotent-Replayed", "true");
        res.setHeader("Original-Request", prior.requestId);
        log.info({ requestId, method, path: url.pathname, status: prior.status, replayOf: prior.requestId }, "test emulator: idempotent replay");
        res.statusCode = prior.status;
        res.setHeader("Content-Type", "application/json");
        res.end(prior.body);
        return;
      }
    }
    let status = 200;
    let out: unknown;
    try {
      const result = await route.handler(params, ctx, ids);
      const expand = Array.isArray(params.expand) ? (params.expand as string[]) : [];
      out = applyExpand(state, result, expand);
    } catch (err) {
      if (!(err instanceof StripeApiError) || err.beforeExecution || idemKey === null) throw err;
      status = err.status;
      out = { error: err.body };
    }
    const text = JSON.stringify(out, null, 2);
    if (idemKey !== null) idempotency.store(callerKey, idemKey, method, url.pathname, params, { status, body: text, requestId });
    if (method !== "GET") await commit();
    log.info({ requestId, method, path: url.pathname, status }, "test emulator: api request");
    res.statusCode = status;
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Content-Length", Buffer.byteLength(text));
    res.end(text);
  };
}
