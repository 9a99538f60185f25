/**
 * The HTTP face of the emulator (node:http): Stripe's v1 wire format for the endpoints SysPark
 * uses, authentication with test keys only, Idempotency-Key handling, `expand[]`, list
 * pagination — plus the emulator's own pages (/emulator/…) and test controls.
 *
 * Wire format (https://docs.stripe.com/api): form-encoded request bodies and query strings,
 * pretty-printed JSON answers, errors as `{ "error": { type, code, message, param, … } }` with
 * Stripe's HTTP statuses, `Request-Id` on every answer, `Idempotent-Replayed: true` on a replay.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import { createLogger, type Logger } from "../host/log";
import { authError, notFound, paramError, StripeApiError } from "./errors";
import { decodeForm, type FormValue } from "./form";
import { Idempotency, type SavedEntry } from "./idempotency";
import { checkoutPage, escapeHtml, indexPage, localizedDecline, messagePage, payPage, texts, threeDsPage, type CardFormValues, type Locale } from "./pages";
import * as P from "./params";
import { EmulatorState, newId, randomToken, type CardInput, type EmulatorEvent, type PayOutcome, type RequestContext } from "./state";
import { lockStateDir, STATE_FORMAT, STATE_VERSION, StateStore, type LoadedState } from "./store";
import { DEFAULT_RETRY, WebhookDispatcher, type DeliveryRecord, type WebhookRetryOptions } from "./webhooks";

export const EMULATOR_LABEL = "SysPark Stripe TEST EMULATOR - not Stripe";
const MAX_BODY = 256 * 1024;

export interface StripeEmulatorOptions {
  /** TCP port; 0 picks a free one (default 0; the CLI defaults to 12111). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Where events are POSTed (e.g. the cloud's /webhooks/stripe); none: events are only recorded. */
  webhookUrl?: string | null;
  /**
   * Secret used to sign webhooks (`whsec_…`); the receiver verifies with the same value.
   * Required without a stateDir; with one, absent → the secret saved there (else a new test one).
   */
  webhookSecret?: string;
  /**
   * Keep the state (PaymentIntents, Checkout Sessions, events, idempotency keys, webhooks still
   * owed, the secret and key in use) in `<stateDir>/state.json`, crash-safe; a restart on the
   * same directory forgets nothing. Absent: in memory only.
   */
  stateDir?: string;
  /** Base URL browsers use to reach the emulator (pages, next_action URLs). Default: its own URL. */
  publicBaseUrl?: string;
  /** Accept only this `sk_test_` key (default: any `sk_test_` key). */
  apiKey?: string;
  /** Webhook retry policy (defaults: 6 attempts, 1 s doubling to 60 s, 10 s timeout). */
  webhookRetry?: Partial<WebhookRetryOptions>;
  /** > 0: card payments pass through `processing` for this long before `succeeded` (default 0, like Stripe cards). */
  processingMs?: number;
  /** API version stamped on events (default: the version the installed `stripe` package pins). */
  apiVersion?: string;
  logger?: Logger;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
}

export interface StripeEmulator {
  /** Base URL the emulator listens on, e.g. http://127.0.0.1:12111. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  /** What to pass to `new Stripe(key, …)` to reach this emulator. */
  readonly clientConfig: { host: string; port: number; protocol: "http" };
  readonly webhookSecret: string;
  /** Where the state is kept (with a stateDir). */
  readonly stateFile?: string;
  readonly state: EmulatorState;
  /** The card page for a PaymentIntent (the contract in docs/stripe-emulator.md). */
  payUrl(clientSecret: string, returnUrl?: string, locale?: Locale): string;
  setWebhookUrl(url: string | null): void;
  events(): readonly EmulatorEvent[];
  deliveries(): readonly DeliveryRecord[];
  /** Deliver an event again (same id, fresh signature); resolves when delivered or given up. */
  resendEvent(eventId: string): Promise<DeliveryRecord>;
  /** Resolves once no webhook is queued, in flight or waiting for a retry. */
  whenWebhooksIdle(timeoutMs?: number): Promise<void>;
  /** Resolves with the first finished delivery matching (past or future). */
  waitForDelivery(match: (r: DeliveryRecord) => boolean, timeoutMs?: number): Promise<DeliveryRecord>;
  close(): Promise<void>;
}

type Handler = (params: Record<string, FormValue>, ctx: RequestContext, ids: string[]) => unknown | Promise<unknown>;

interface Route {
  method: "GET" | "POST";
  pattern: RegExp;
  handler: Handler;
}

const ID = "([A-Za-z0-9_]+)";

function formatHostForUrl(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

function httpUrl(s: string | undefined | null): string | null {
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

function readBody(req: IncomingMessage): Promise<string> {
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

/** Card fields typed on a page → a card, or a message for the driver. */
function parseCardForm(form: URLSearchParams, now: number): { card: CardInput; values: CardFormValues } | { error: string; values: CardFormValues } {
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

export async function createStripeEmulator(options: StripeEmulatorOptions): Promise<StripeEmulator> {
  if (options.webhookSecret !== undefined && (typeof options.webhookSecret !== "string" || options.webhookSecret.trim() === "")) {
    throw new Error("createStripeEmulator: webhookSecret must be a non-empty string (the value the webhook receiver verifies signatures with, e.g. whsec_…)");
  }
  if (options.webhookSecret === undefined && options.stateDir === undefined) {
    throw new Error("createStripeEmulator: webhookSecret is required (the value the webhook receiver verifies signatures with, e.g. whsec_…)");
  }
  if (options.apiKey !== undefined && !options.apiKey.startsWith("sk_test_")) {
    throw new Error("createStripeEmulator: apiKey must be a test key (sk_test_…); the emulator never accepts live keys");
  }
  // A restart on the same state directory: everything Stripe would still know (store.ts).
  const release = options.stateDir !== undefined ? lockStateDir(options.stateDir) : () => undefined;
  let loaded: LoadedState | undefined;
  try {
    loaded = options.stateDir !== undefined ? StateStore.load(options.stateDir) : undefined;
  } catch (err) {
    release();
    throw err;
  }
  const stored = loaded?.snapshot;
  const webhookSecret = options.webhookSecret ?? stored?.webhookSecret ?? generateTestWebhookSecret();
  const apiKey = options.apiKey ?? stored?.apiKey ?? undefined;
  const host = options.host ?? "127.0.0.1";
  const now = options.now ?? Date.now;
  const baseLogger = options.logger ?? createLogger("stripe-emulator");
  const log = baseLogger.child({ component: "stripe-test-emulator", notStripe: true });
  const apiVersion = options.apiVersion ?? Stripe.API_VERSION;
  let publicBase = options.publicBaseUrl?.replace(/\/+$/, "") ?? "";
  if (options.webhookUrl) new URL(options.webhookUrl); // fail fast on a malformed URL

  const state = new EmulatorState({ publicBaseUrl: () => publicBase, now, apiVersion, processingMs: options.processingMs ?? 0 });
  const idempotency = new Idempotency(now);
  let store: StateStore | undefined;
  let listeningPort = 0;
  const dispatcher = new WebhookDispatcher({
    url: options.webhookUrl ?? null,
    secret: webhookSecret,
    retry: { ...DEFAULT_RETRY, ...options.webhookRetry },
    logger: log,
    now,
    userAgent: "SysPark-Stripe-Test-Emulator/1.0 (not Stripe; +docs/stripe-emulator.md)",
    onSettled: (eventId) => {
      state.touchEvent(eventId); // its pending_webhooks changed
      store?.schedule();
    },
  });
  /** Events a previous run still owed the webhook endpoint: sent once there is an endpoint. */
  let owed: EmulatorEvent[] = [];
  const sendOwed = (): void => {
    if (dispatcher.endpoint === null || owed.length === 0) return;
    const list = owed;
    owed = [];
    log.info({ events: list.length }, "test emulator: delivering the webhooks a previous run still owed");
    for (const e of list) dispatcher.enqueue(e, String(e.data.object.id ?? e.id));
  };
  if (options.stateDir !== undefined) {
    if (loaded) {
      state.restore(loaded.snapshot.state);
      idempotency.restore(loaded.snapshot.idempotency);
      state.applyJournal(loaded.journal);
      idempotency.restore(loaded.journal.flatMap((r) => (r.k === "idem" ? [[r.key, r.v] as [string, SavedEntry]] : [])));
      for (const e of state.allEvents()) {
        if (e.pending_webhooks > 0) {
          e.pending_webhooks = 0; // counted again as each is queued
          owed.push(e);
        }
      }
    }
    store = new StateStore(
      options.stateDir,
      {
        full: () => ({ format: STATE_FORMAT, version: STATE_VERSION, savedAt: new Date(now()).toISOString(), webhookSecret, apiKey: apiKey ?? null, ...(listeningPort ? { port: listeningPort } : {}), state: state.snapshot(), idempotency: idempotency.snapshot() }),
        changes: () => [...state.takeChanges(), ...idempotency.takeChanges().map(([key, v]) => ({ k: "idem" as const, key, v }))],
        discard: () => {
          state.discardChanges();
          idempotency.takeChanges();
        },
      },
      (err) => log.error({ err: err.message }, "test emulator: cannot save its state"),
    );
    log.info({ file: store.file, paymentIntents: state.listPaymentIntents().length, events: state.allEvents().length, journalRecords: loaded?.journal.length ?? 0, owedWebhooks: owed.length }, loaded ? "test emulator: state loaded" : "test emulator: new state file");
  }
  /** Before answering a request that changed the state: the change is on disk. */
  const commit = async (): Promise<void> => {
    await store?.commit();
  };
  state.onEvent((event, key) => {
    log.info({ eventId: event.id, type: event.type, objectId: event.data.object.id }, "test emulator: event");
    dispatcher.enqueue(event, key);
    store?.schedule(); // changes no request waits for (timers, lazy expiry) are saved too
  });

  // ------------------------------------------------------------ API routes
  const list = <T extends { id: string }>(items: T[], params: Record<string, FormValue>, schema: typeof P.listParams, path: string, filter?: (p: Record<string, unknown>, item: T) => boolean) => {
    const p = P.parseParams(schema, params) as Record<string, unknown> & { limit?: number; starting_after?: string; ending_before?: string };
    let all = [...items].reverse(); // newest first
    if (filter) all = all.filter((i) => filter(p, i));
    const limit = p.limit ?? 10;
    let start = 0;
    let end = all.length;
    if (p.starting_after !== undefined) {
      const i = all.findIndex((x) => x.id === p.starting_after);
      if (i === -1) throw notFound("object", p.starting_after, "starting_after");
      start = i + 1;
    }
    if (p.ending_before !== undefined) {
      const i = all.findIndex((x) => x.id === p.ending_before);
      if (i === -1) throw notFound("object", p.ending_before, "ending_before");
      end = i;
      start = Math.max(start, end - limit);
    }
    const data = all.slice(start, Math.min(end, start + limit));
    return { object: "list", data, has_more: start + limit < end, url: path };
  };

  const routes: Route[] = [
    { method: "POST", pattern: /^\/v1\/payment_intents$/, handler: (p, ctx) => state.createPaymentIntent(P.parseParams(P.paymentIntentCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/payment_intents$/,
      handler: (p) => list(state.listPaymentIntents(), p, P.paymentIntentList, "/v1/payment_intents", (q, pi) => q.customer === undefined || pi.customer === q.customer),
    },
    {
      method: "GET",
      pattern: new RegExp(`^/v1/payment_intents/${ID}$`),
      handler: (p, _ctx, [id]) => {
        const q = P.parseParams(P.retrieveParams, p);
        const pi = state.paymentIntent(id);
        if (q.client_secret !== undefined && q.client_secret !== pi.client_secret) throw notFound("payment_intent", id, "intent");
        return pi;
      },
    },
    { method: "POST", pattern: new RegExp(`^/v1/payment_intents/${ID}$`), handler: (p, ctx, [id]) => state.updatePaymentIntent(id, P.parseParams(P.paymentIntentUpdate, p), ctx) },
    { method: "POST", pattern: new RegExp(`^/v1/payment_intents/${ID}/confirm$`), handler: (p, ctx, [id]) => state.confirm(id, P.parseParams(P.paymentIntentConfirm, p), ctx) },
    {
      method: "POST",
      pattern: new RegExp(`^/v1/payment_intents/${ID}/cancel$`),
      handler: (p, ctx, [id]) => state.cancel(id, P.parseParams(P.paymentIntentCancel, p).cancellation_reason, ctx),
    },
    {
      method: "POST",
      pattern: new RegExp(`^/v1/payment_intents/${ID}/capture$`),
      handler: (p, ctx, [id]) => {
        const q = P.parseParams(P.paymentIntentCapture, p);
        return state.capture(id, q.amount_to_capture, q.metadata, ctx);
      },
    },
    {
      method: "GET",
      pattern: /^\/v1\/charges$/,
      handler: (p) => list(state.listCharges(), p, P.chargeList, "/v1/charges", (q, c) => q.payment_intent === undefined || c.payment_intent === q.payment_intent),
    },
    { method: "GET", pattern: new RegExp(`^/v1/charges/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), state.charge(id)) },
    { method: "GET", pattern: new RegExp(`^/v1/payment_methods/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), state.paymentMethod(id)) },
    { method: "POST", pattern: /^\/v1\/refunds$/, handler: (p, ctx) => state.createRefund(P.parseParams(P.refundCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/refunds$/,
      handler: (p) =>
        list(state.listRefunds(), p, P.refundList, "/v1/refunds", (q, r) => (q.payment_intent === undefined || r.payment_intent === q.payment_intent) && (q.charge === undefined || r.charge === q.charge)),
    },
    { method: "GET", pattern: new RegExp(`^/v1/refunds/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), state.refund(id)) },
    { method: "POST", pattern: new RegExp(`^/v1/refunds/${ID}$`), handler: (p, _ctx, [id]) => state.updateRefundMetadata(id, P.parseParams(P.metadataUpdate, p).metadata) },
    { method: "POST", pattern: /^\/v1\/checkout\/sessions$/, handler: (p, ctx) => state.createCheckoutSession(P.parseParams(P.checkoutSessionCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/checkout\/sessions$/,
      handler: (p) =>
        list(state.listCheckoutSessions(), p, P.checkoutSessionList, "/v1/checkout/sessions", (q, s) => (q.payment_intent === undefined || s.payment_intent === q.payment_intent) && (q.status === undefined || s.status === q.status)),
    },
    { method: "GET", pattern: new RegExp(`^/v1/checkout/sessions/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), state.checkoutSession(id)) },
    {
      method: "GET",
      pattern: new RegExp(`^/v1/checkout/sessions/${ID}/line_items$`),
      handler: (p, _ctx, [id]) => list(state.checkoutLineItems(id).reverse(), p, P.listParams, `/v1/checkout/sessions/${id}/line_items`),
    },
    { method: "POST", pattern: new RegExp(`^/v1/checkout/sessions/${ID}/expire$`), handler: (p, ctx, [id]) => (P.parseParams(P.checkoutSessionExpire, p), state.expireCheckoutSession(id, ctx)) },
    {
      method: "GET",
      pattern: /^\/v1\/events$/,
      handler: (p) =>
        list([...state.allEvents()], p, P.eventList, "/v1/events", (q, e) => {
          const types = (q.types as string[] | undefined) ?? (q.type !== undefined ? [q.type as string] : undefined);
          if (types && !types.some((t) => (t.endsWith(".*") ? e.type.startsWith(t.slice(0, -1)) : e.type === t))) return false;
          if (q.delivery_success !== undefined && (e.pending_webhooks === 0) !== q.delivery_success) return false;
          return true;
        }),
    },
    { method: "GET", pattern: new RegExp(`^/v1/events/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), state.getEvent(id)) },
  ];

  // ------------------------------------------------------------ expand[]
  const cannotExpand = (path: string): StripeApiError => paramError("parameter_invalid_string", "expand", `This property cannot be expanded (${path}).`);
  const expandInto = (target: Record<string, unknown>, parts: string[], full: string): void => {
    const [head, ...rest] = parts;
    if (target.object === "checkout.session" && head === "line_items") {
      const items = state.checkoutLineItems(target.id as string);
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
    expandInto(v as Record<string, unknown>, rest, full);
  };
  const applyExpand = (result: unknown, paths: string[]): unknown => {
    for (const path of paths) {
      const parts = path.split(".");
      const r = result as Record<string, unknown>;
      if (r.object === "list") {
        if (parts[0] !== "data") throw cannotExpand(path);
        for (const item of r.data as Array<Record<string, unknown>>) expandInto(item, parts.slice(1), path);
      } else {
        expandInto(r, parts, path);
      }
    }
    return result;
  };

  // ------------------------------------------------------------ responses
  const commonHeaders = (res: ServerResponse, requestId: string): void => {
    res.setHeader("Request-Id", requestId);
    res.setHeader("X-Stripe-Emulator", EMULATOR_LABEL);
    res.setHeader("Cache-Control", "no-cache, no-store");
  };
  const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body, null, 2);
    res.statusCode = status;
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Content-Length", Buffer.byteLength(text));
    res.end(text);
  };
  const sendHtml = (res: ServerResponse, status: number, html: string): void => {
    res.statusCode = status;
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.setHeader("Content-Length", Buffer.byteLength(html));
    res.setHeader("X-Frame-Options", "DENY");
    res.end(html);
  };
  const redirect = (res: ServerResponse, location: string): void => {
    res.statusCode = 303;
    res.setHeader("Location", location);
    res.end();
  };

  const authenticate = (req: IncomingMessage): string => {
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
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<void> => {
    const method = req.method ?? "GET";
    const version = req.headers["stripe-version"];
    res.setHeader("Stripe-Version", typeof version === "string" && version !== "" ? version : apiVersion);
    const body = method === "POST" ? await readBody(req) : "";
    const callerKey = authenticate(req);
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
      out = applyExpand(result, expand);
    } catch (err) {
      if (!(err instanceof StripeApiError) || err.beforeExecution || idemKey === null) throw err;
      status = err.status;
      out = { error: err.body };
    }
    const text = JSON.stringify(out, null, 2);
    if (idemKey !== null) idempotency.store(callerKey, idemKey, method, url.pathname, params, { status, body: text, requestId });
    if (method === "POST") await commit();
    log.info({ requestId, method, path: url.pathname, status }, "test emulator: api request");
    res.statusCode = status;
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Content-Length", Buffer.byteLength(text));
    res.end(text);
  };

  // ------------------------------------------------------------ pages
  const localeOf = (req: IncomingMessage, explicit: string | null): Locale => {
    if (explicit === "fr" || explicit === "en") return explicit;
    return /^fr\b/i.test(String(req.headers["accept-language"] ?? "")) ? "fr" : "en";
  };

  /** After a page-driven payment step: redirect (Stripe.js style) or show the outcome. */
  const afterPayment = (res: ServerResponse, outcome: PayOutcome, returnUrl: string | null, locale: Locale, rerender: (error: string) => void): void => {
    if (outcome.kind === "declined") {
      rerender(localizedDecline(locale, outcome.code, outcome.declineCode, outcome.message));
      return;
    }
    if (outcome.kind === "requires_action") {
      const u = new URL(outcome.redirectUrl);
      u.searchParams.set("locale", locale);
      redirect(res, u.pathname + u.search);
      return;
    }
    if (returnUrl) {
      redirect(res, returnRedirect(returnUrl, outcome.paymentIntent));
      return;
    }
    sendHtml(res, 200, messagePage(texts(locale).done, texts(locale).done, locale));
  };

  const handlePay = async (req: IncomingMessage, res: ServerResponse, url: URL, clientSecret: string): Promise<void> => {
    const pi = state.paymentIntentByClientSecret(clientSecret);
    const form = req.method === "POST" ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
    const t = texts(locale);
    if (!pi) {
      sendHtml(res, 404, messagePage("Not found", "No PaymentIntent has this client secret.", locale));
      return;
    }
    const rawReturn = form.get("return_url") ?? url.searchParams.get("return_url");
    const returnUrl = httpUrl(rawReturn) ?? state.returnUrlOf(pi.id);
    if (rawReturn && !httpUrl(rawReturn)) {
      sendHtml(res, 400, messagePage("Bad return_url", "return_url must be an absolute http(s) URL.", locale));
      return;
    }
    const action = `/emulator/pay/${encodeURIComponent(clientSecret)}`;
    const render = (status: number, error?: string, values?: CardFormValues) => sendHtml(res, status, payPage({ pi: state.paymentIntent(pi.id), action, returnUrl, locale, error, values }));
    if (pi.status === "requires_action") {
      const next = pi.next_action as unknown as { redirect_to_url?: { url: string }; use_stripe_sdk?: { stripe_js: string } };
      const target = new URL(next.redirect_to_url?.url ?? next.use_stripe_sdk?.stripe_js ?? "/", "http://x");
      target.searchParams.set("locale", locale);
      redirect(res, target.pathname + target.search);
      return;
    }
    if (pi.status !== "requires_payment_method" && pi.status !== "requires_confirmation") {
      if (pi.status !== "canceled" && returnUrl && req.method === "GET") {
        redirect(res, returnRedirect(returnUrl, pi));
        return;
      }
      const msg = pi.status === "canceled" ? t.canceled : pi.status === "processing" ? t.processing : t.paid;
      sendHtml(res, pi.status === "canceled" ? 410 : 409, messagePage(msg, msg, locale, returnUrl ? { href: returnRedirect(returnUrl, pi), text: t.back } : undefined));
      return;
    }
    if (req.method === "GET") {
      render(200);
      return;
    }
    const parsed = parseCardForm(form, now());
    if ("error" in parsed) {
      render(400, parsed.error, parsed.values);
      return;
    }
    const outcome = state.payWithCard(pi.id, parsed.card, returnUrl);
    await commit();
    log.info({ paymentIntent: pi.id, outcome: outcome.kind }, "test emulator: card page payment");
    afterPayment(res, outcome, returnUrl, locale, (error) => render(402, error, { ...parsed.values, number: "" }));
  };

  const handle3ds = async (req: IncomingMessage, res: ServerResponse, url: URL, piId: string): Promise<void> => {
    const form = req.method === "POST" ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
    let pi: Stripe.PaymentIntent;
    try {
      pi = state.paymentIntent(piId);
    } catch {
      sendHtml(res, 404, messagePage("Not found", "No such PaymentIntent.", locale));
      return;
    }
    if (url.searchParams.get("client_secret") !== pi.client_secret) {
      sendHtml(res, 404, messagePage("Not found", "No such PaymentIntent (wrong client secret).", locale));
      return;
    }
    const returnUrl = state.returnUrlOf(pi.id);
    if (pi.status !== "requires_action") {
      if (returnUrl) redirect(res, returnRedirect(returnUrl, pi));
      else sendHtml(res, 409, messagePage("Nothing to authenticate", `This PaymentIntent has a status of ${pi.status}.`, locale));
      return;
    }
    const action = `/emulator/3ds/${pi.id}?client_secret=${encodeURIComponent(pi.client_secret as string)}`;
    if (req.method === "GET") {
      sendHtml(res, 200, threeDsPage({ pi, action, locale }));
      return;
    }
    const outcome = state.authenticate(pi.id, form.get("outcome") === "complete");
    await commit();
    log.info({ paymentIntent: pi.id, outcome: outcome.kind }, "test emulator: 3-D Secure page");
    if (returnUrl) {
      redirect(res, returnRedirect(returnUrl, outcome.paymentIntent));
      return;
    }
    const msg = outcome.kind === "declined" ? localizedDecline(locale, outcome.code, outcome.declineCode, outcome.message) : texts(locale).done;
    sendHtml(res, outcome.kind === "declined" ? 402 : 200, messagePage(msg, msg, locale));
  };

  const handleCheckout = async (req: IncomingMessage, res: ServerResponse, url: URL, sessionId: string, sub: string | undefined): Promise<void> => {
    const form = req.method === "POST" ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
    let s: Stripe.Checkout.Session;
    try {
      s = state.checkoutSession(sessionId);
    } catch {
      sendHtml(res, 404, messagePage("Not found", "No such Checkout Session.", locale));
      return;
    }
    const successUrl = (s.success_url ?? "").replace(/\{CHECKOUT_SESSION_ID\}/g, s.id);
    const action = `/emulator/checkout/${s.id}`;
    const render = (status: number, error?: string, values?: CardFormValues) =>
      sendHtml(res, status, checkoutPage({ session: s, lineItems: state.checkoutLineItems(s.id), action, locale, error, values }));
    if (sub === "cancel") {
      if (s.cancel_url) redirect(res, s.cancel_url.replace(/\{CHECKOUT_SESSION_ID\}/g, s.id));
      else render(200);
      return;
    }
    if (s.status === "complete") {
      redirect(res, successUrl);
      return;
    }
    if (s.status === "expired") {
      sendHtml(res, 410, messagePage("Expired", "This Checkout Session has expired.", locale));
      return;
    }
    if (sub === "return") {
      // Back from the 3-D Secure page with the session still open: the authentication failed.
      const pi = typeof s.payment_intent === "string" ? state.paymentIntent(s.payment_intent) : null;
      const err = pi?.last_payment_error;
      render(402, err ? localizedDecline(locale, err.code ?? "card_declined", err.decline_code, err.message ?? "") : undefined);
      return;
    }
    if (req.method === "GET") {
      render(200);
      return;
    }
    const parsed = parseCardForm(form, now());
    if ("error" in parsed) {
      render(400, parsed.error, parsed.values);
      return;
    }
    const outcome = state.payCheckoutSession(s.id, parsed.card);
    await commit();
    log.info({ checkoutSession: s.id, outcome: outcome.kind }, "test emulator: checkout page payment");
    if (outcome.kind === "declined") {
      render(402, localizedDecline(locale, outcome.code, outcome.declineCode, outcome.message), { ...parsed.values, number: "" });
    } else if (outcome.kind === "requires_action") {
      const u = new URL(outcome.redirectUrl);
      u.searchParams.set("locale", locale);
      redirect(res, u.pathname + u.search);
    } else {
      redirect(res, successUrl);
    }
  };

  const handleControl = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (url.pathname === "/emulator/health" && req.method === "GET") {
      sendJson(res, 200, { ok: true, emulator: EMULATOR_LABEL, webhook_url: dispatcher.endpoint, events: state.allEvents().length });
      return true;
    }
    if (url.pathname === "/emulator/deliveries" && req.method === "GET") {
      authenticate(req);
      sendJson(res, 200, { object: "list", data: dispatcher.deliveries() });
      return true;
    }
    const m = /^\/emulator\/events\/([A-Za-z0-9_]+)\/resend$/.exec(url.pathname);
    if (m && req.method === "POST") {
      authenticate(req);
      await readBody(req);
      const record = await dispatcher.resend(state.getEvent(m[1]));
      sendJson(res, 200, record);
      return true;
    }
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = newId("req", 14);
    commonHeaders(res, requestId);
    const url = new URL(req.url ?? "/", "http://emulator.invalid");
    try {
      if (url.pathname.startsWith("/v1/")) {
        await handleApi(req, res, url, requestId);
        return;
      }
      if (req.method !== "GET" && req.method !== "POST") {
        sendHtml(res, 405, messagePage("Method not allowed", `${req.method ?? ""} is not supported here.`, "en"));
        return;
      }
      let m: RegExpExecArray | null;
      if (url.pathname === "/" && req.method === "GET") sendHtml(res, 200, indexPage(publicBase, dispatcher.endpoint));
      else if ((m = /^\/emulator\/pay\/([A-Za-z0-9_]+)$/.exec(url.pathname))) await handlePay(req, res, url, m[1]);
      else if ((m = /^\/emulator\/3ds\/(pi_[A-Za-z0-9]+)$/.exec(url.pathname))) await handle3ds(req, res, url, m[1]);
      else if ((m = /^\/emulator\/checkout\/(cs_[A-Za-z0-9_]+)(?:\/(return|cancel))?$/.exec(url.pathname))) await handleCheckout(req, res, url, m[1], m[2]);
      else if (!(await handleControl(req, res, url))) sendHtml(res, 404, messagePage("Not found", `Nothing at ${url.pathname} on this Stripe test emulator.`, "en"));
    } catch (err) {
      if (err instanceof StripeApiError) {
        if (req.method === "POST") await commit().catch(() => undefined); // a decline is recorded (charge, event) before it is answered
        if (err.status >= 500) log.error({ requestId, err: err.message }, "test emulator: error");
        else log.info({ requestId, method: req.method, path: url.pathname, status: err.status, code: err.body.code }, "test emulator: api request refused");
        if (!res.headersSent) sendJson(res, err.status, { error: err.body });
        return;
      }
      log.error({ requestId, err }, "test emulator: internal error");
      if (!res.headersSent) sendJson(res, 500, { error: { type: "api_error", message: `The Stripe TEST EMULATOR hit an internal error (request ${requestId}).` } });
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  try {
    // "Any free port" on a restart: the one used before if it is free, so the card pages and
    // next_action URLs handed out before the restart still lead here.
    const previous = (options.port ?? 0) === 0 ? stored?.port : undefined;
    if (previous) await listen(previous).catch(() => listen(0));
    else await listen(options.port ?? 0);
  } catch (err) {
    release();
    throw err;
  }
  listeningPort = (server.address() as AddressInfo).port;
  const port = (server.address() as AddressInfo).port;
  const url = `http://${formatHostForUrl(host)}:${port}`;
  if (publicBase === "") publicBase = url;
  log.info({ url, publicBaseUrl: publicBase, webhookUrl: dispatcher.endpoint }, "Stripe TEST EMULATOR listening (SysPark test tool, not Stripe)");
  sendOwed();
  try {
    await store?.commit(); // the secret, key and port in use, at once: a state directory that cannot be written fails the start
  } catch (err) {
    dispatcher.close();
    state.close();
    server.close();
    release();
    throw err;
  }

  return {
    url,
    port,
    host,
    clientConfig: { host: formatHostForUrl(host).replace(/^\[|\]$/g, ""), port, protocol: "http" },
    webhookSecret,
    ...(store ? { stateFile: store.file } : {}),
    state,
    payUrl(clientSecret, returnUrl, locale) {
      const u = new URL(`${publicBase}/emulator/pay/${encodeURIComponent(clientSecret)}`);
      if (returnUrl !== undefined) u.searchParams.set("return_url", returnUrl);
      if (locale !== undefined) u.searchParams.set("locale", locale);
      return u.toString();
    },
    setWebhookUrl: (u) => {
      dispatcher.setUrl(u);
      sendOwed();
    },
    events: () => state.allEvents(),
    deliveries: () => dispatcher.deliveries(),
    resendEvent: (eventId) => dispatcher.resend(state.getEvent(eventId)),
    whenWebhooksIdle: (timeoutMs) => dispatcher.whenIdle(timeoutMs),
    waitForDelivery: (match, timeoutMs) => dispatcher.waitForDelivery(match, timeoutMs),
    async close() {
      dispatcher.close();
      state.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store?.close();
      release();
    },
  };
}

/** A webhook signing secret for test use only (`whsec_test_…`). */
export function generateTestWebhookSecret(): string {
  return `whsec_test_${randomToken(32)}`;
}

export { escapeHtml };
