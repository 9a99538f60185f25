/**
 * The emulator as a server (node:http): its options, the state it loads from and saves to a state
 * directory, the webhook dispatcher, and the dispatch of a request to the API (api.ts), the
 * resources' pages (resources/*-pages.ts) or the test controls (/emulator/…).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import { createLogger, type Logger } from "../host/log";
import { apiHandler, authenticate } from "./api";
import { StripeApiError } from "./errors";
import { commonHeaders, EMULATOR_LABEL, formatHostForUrl, readBody, sendHtml, sendJson, type HttpEnv } from "./http";
import { newId, randomToken } from "./ids";
import { Idempotency, type SavedEntry } from "./idempotency";
import { escapeHtml, indexPage, messagePage, type Locale } from "./pages";
import { handleCheckoutPage } from "./resources/checkout-pages";
import { handlePortalPage } from "./resources/billing-portal";
import { advanceClock, runDueRenewals } from "./resources/renewals";
import { handlePayPage, handleThreeDsPage } from "./resources/payment-intent-pages";
import { sweepExpiredHolds } from "./resources/hold-expiry";
import { handleSetupThreeDsPage } from "./resources/setup-intent-pages";
import { resumeProcessing } from "./resources/payment-intents-confirm";
import { EmulatorState, type EmulatorEvent } from "./state";
import { lockStateDir, STATE_FORMAT, STATE_VERSION, StateStore, type LoadedState } from "./store";
import { DEFAULT_RETRY, WebhookDispatcher, type DeliveryRecord, type WebhookRetryOptions } from "./webhooks";

export { EMULATOR_LABEL, returnRedirect } from "./http";

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
  /**
   * Moves the emulator clock forward (like a Stripe Test Clock): the subscription renewals and
   * retries that fell due run (resources/renewals.ts) and the holds older than 7 days are
   * canceled (resources/hold-expiry.ts); saved before it resolves.
   */
  advanceClock(seconds: number): Promise<{ now: number; ran: number }>;
  /** Resolves once no webhook is queued, in flight or waiting for a retry. */
  whenWebhooksIdle(timeoutMs?: number): Promise<void>;
  /** Resolves with the first finished delivery matching (past or future). */
  waitForDelivery(match: (r: DeliveryRecord) => boolean, timeoutMs?: number): Promise<DeliveryRecord>;
  close(): Promise<void>;
}

function checkOptions(options: StripeEmulatorOptions): void {
  if (options.webhookSecret !== undefined && (typeof options.webhookSecret !== "string" || options.webhookSecret.trim() === "")) {
    throw new Error("createStripeEmulator: webhookSecret must be a non-empty string (the value the webhook receiver verifies signatures with, e.g. whsec_…)");
  }
  if (options.webhookSecret === undefined && options.stateDir === undefined) {
    throw new Error("createStripeEmulator: webhookSecret is required (the value the webhook receiver verifies signatures with, e.g. whsec_…)");
  }
  if (options.apiKey !== undefined && !options.apiKey.startsWith("sk_test_")) {
    throw new Error("createStripeEmulator: apiKey must be a test key (sk_test_…); the emulator never accepts live keys");
  }
}

/** A restart on the same state directory: everything Stripe would still know (store.ts), under its lock. */
function lockAndLoad(stateDir: string | undefined): { release: () => void; loaded: LoadedState | undefined } {
  const release = stateDir !== undefined ? lockStateDir(stateDir) : () => undefined;
  try {
    return { release, loaded: stateDir !== undefined ? StateStore.load(stateDir) : undefined };
  } catch (err) {
    release();
    throw err;
  }
}

/** Loads a previous run's state; returns the events it still owed the webhook endpoint. */
function restoreState(state: EmulatorState, idempotency: Idempotency, loaded: LoadedState): EmulatorEvent[] {
  state.restore(loaded.snapshot.state);
  idempotency.restore(loaded.snapshot.idempotency);
  state.applyJournal(loaded.journal);
  // After the journal: it holds what became of the snapshot's processing payments (resuming
  // before it charged some twice) and the payments that went processing since (never resumed).
  resumeProcessing(state);
  idempotency.restore(loaded.journal.flatMap((r) => (r.k === "idem" ? [[r.key, r.v] as [string, SavedEntry]] : [])));
  const owed: EmulatorEvent[] = [];
  for (const e of state.allEvents()) {
    if (e.pending_webhooks > 0) {
      e.pending_webhooks = 0; // counted again as each is queued
      owed.push(e);
    }
  }
  return owed;
}

interface Running {
  state: EmulatorState;
  idempotency: Idempotency;
  dispatcher: WebhookDispatcher;
  webhookSecret: string;
  apiKey: string | undefined;
  now: () => number;
  log: Logger;
  /** The port listened on, once listening (saved, so a restart can take it again). */
  port: () => number;
}

/** The one emulator clock (kept in the state) moves: renewals due run, lapsed holds are canceled. */
function advanceEmulatorClock(state: EmulatorState, seconds: number): { now: number; ran: number } {
  const r = advanceClock(state, seconds);
  sweepExpiredHolds(state);
  return r;
}

function openStore(stateDir: string, r: Running): StateStore {
  const { state, idempotency, now, log } = r;
  return new StateStore(
    stateDir,
    {
      full: () => ({ format: STATE_FORMAT, version: STATE_VERSION, savedAt: new Date(now()).toISOString(), webhookSecret: r.webhookSecret, apiKey: r.apiKey ?? null, ...(r.port() ? { port: r.port() } : {}), state: state.snapshot(), idempotency: idempotency.snapshot() }),
      changes: () => [...state.takeChanges(), ...idempotency.takeChanges().map(([key, v]) => ({ k: "idem" as const, key, v }))],
      discard: () => {
        state.discardChanges();
        idempotency.takeChanges();
      },
    },
    (err) => log.error({ err: err.message }, "test emulator: cannot save its state"),
  );
}

/** Health, deliveries and resend: the test controls under /emulator/. */
async function handleControl(r: Running, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const { state, dispatcher } = r;
  if (url.pathname === "/emulator/health" && req.method === "GET") {
    sendJson(res, 200, { ok: true, emulator: EMULATOR_LABEL, webhook_url: dispatcher.endpoint, events: state.allEvents().length });
    return true;
  }
  if (url.pathname === "/emulator/deliveries" && req.method === "GET") {
    authenticate(req, r.apiKey);
    sendJson(res, 200, { object: "list", data: dispatcher.deliveries() });
    return true;
  }
  if (url.pathname === "/emulator/clock/advance" && req.method === "POST") {
    // Test control (not a Stripe endpoint): body `seconds=<n>`.
    authenticate(req, r.apiKey);
    const seconds = Number(new URLSearchParams(await readBody(req)).get("seconds"));
    if (!Number.isInteger(seconds) || seconds <= 0 || seconds > 10 * 366 * 86_400) {
      sendJson(res, 400, { error: { type: "invalid_request_error", param: "seconds", message: "seconds must be a positive whole number of seconds (at most ten years)" } });
      return true;
    }
    sendJson(res, 200, advanceEmulatorClock(state, seconds));
    return true;
  }
  const m = /^\/emulator\/events\/([A-Za-z0-9_]+)\/resend$/.exec(url.pathname);
  if (m && req.method === "POST") {
    authenticate(req, r.apiKey);
    await readBody(req);
    const record = await dispatcher.resend(state.getEvent(m[1]));
    sendJson(res, 200, record);
    return true;
  }
  return false;
}

/** Every request: the API under /v1/, else a page or a test control; a Stripe-shaped error otherwise. */
function requestHandler(r: Running, env: HttpEnv, apiVersion: string, publicBase: () => string): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { log, commit } = env;
  const handleApi = apiHandler({ ...env, idempotency: r.idempotency, apiKey: r.apiKey, apiVersion });
  const route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    let m: RegExpExecArray | null;
    if (url.pathname === "/" && req.method === "GET") sendHtml(res, 200, indexPage(publicBase(), r.dispatcher.endpoint));
    else if ((m = /^\/emulator\/pay\/([A-Za-z0-9_]+)$/.exec(url.pathname))) await handlePayPage(env, req, res, url, m[1]);
    else if ((m = /^\/emulator\/3ds\/(pi_[A-Za-z0-9]+)$/.exec(url.pathname))) await handleThreeDsPage(env, req, res, url, m[1]);
    else if ((m = /^\/emulator\/3ds\/(seti_[A-Za-z0-9]+)$/.exec(url.pathname))) await handleSetupThreeDsPage(env, req, res, url, m[1]);
    else if ((m = /^\/emulator\/checkout\/(cs_[A-Za-z0-9_]+)(?:\/(return|cancel))?$/.exec(url.pathname))) await handleCheckoutPage(env, req, res, url, m[1], m[2]);
    else if ((m = /^\/emulator\/portal\/(bps_[A-Za-z0-9]+)$/.exec(url.pathname))) await handlePortalPage(env, req, res, url, m[1]);
    else if (!(await handleControl(r, req, res, url))) sendHtml(res, 404, messagePage("Not found", `Nothing at ${url.pathname} on this Stripe test emulator.`, "en"));
  };
  return async (req, res) => {
    const requestId = newId("req", 14);
    commonHeaders(res, requestId);
    const url = new URL(req.url ?? "/", "http://emulator.invalid");
    try {
      if (url.pathname.startsWith("/v1/")) {
        sweepExpiredHolds(r.state); // Stripe's 7-day hold expiry, by the emulator's clock
        await handleApi(req, res, url, requestId);
        return;
      }
      if (req.method !== "GET" && req.method !== "POST") {
        sendHtml(res, 405, messagePage("Method not allowed", `${req.method ?? ""} is not supported here.`, "en"));
        return;
      }
      await route(req, res, url);
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
}

/**
 * Listens on `port`; "any free port" (0) on a restart takes the one used before if it is free, so
 * the card pages and next_action URLs handed out before the restart still lead here.
 */
async function listenOn(server: Server, host: string, port: number, previous: number | undefined): Promise<void> {
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(p, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  if (port === 0 && previous) await listen(previous).catch(() => listen(0));
  else await listen(port);
}

export async function createStripeEmulator(options: StripeEmulatorOptions): Promise<StripeEmulator> {
  checkOptions(options);
  const { release, loaded } = lockAndLoad(options.stateDir);
  const stored = loaded?.snapshot;
  const webhookSecret = options.webhookSecret ?? stored?.webhookSecret ?? generateTestWebhookSecret();
  const host = options.host ?? "127.0.0.1";
  const now = options.now ?? Date.now;
  const log = (options.logger ?? createLogger("stripe-emulator")).child({ component: "stripe-test-emulator", notStripe: true });
  const apiVersion = options.apiVersion ?? Stripe.API_VERSION;
  let publicBase = options.publicBaseUrl?.replace(/\/+$/, "") ?? "";
  if (options.webhookUrl) new URL(options.webhookUrl); // fail fast on a malformed URL

  const state = new EmulatorState({ publicBaseUrl: () => publicBase, now, apiVersion, processingMs: options.processingMs ?? 0 });
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
  const r: Running = { state, idempotency: new Idempotency(now), dispatcher, webhookSecret, apiKey: options.apiKey ?? stored?.apiKey ?? undefined, now, log, port: () => listeningPort };
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
    if (loaded) owed = restoreState(state, r.idempotency, loaded);
    store = openStore(options.stateDir, r);
    log.info({ file: store.file, paymentIntents: state.listPaymentIntents().length, events: state.allEvents().length, journalRecords: loaded?.journal.length ?? 0, owedWebhooks: owed.length }, loaded ? "test emulator: state loaded" : "test emulator: new state file");
  }
  const commit = async (): Promise<void> => {
    await store?.commit();
  };
  state.onEvent((event, key) => {
    log.info({ eventId: event.id, type: event.type, objectId: event.data.object.id }, "test emulator: event");
    dispatcher.enqueue(event, key);
    store?.schedule(); // changes no request waits for (timers, lazy expiry) are saved too
  });

  // Renewals also fall due in real time (a long-running demo emulator): checked every 30 s.
  const renewalTimer = setInterval(() => {
    try {
      if (runDueRenewals(state) > 0) store?.schedule();
    } catch (err) {
      log.error({ err: (err as Error).message }, "test emulator: renewals failed");
    }
  }, 30_000);
  renewalTimer.unref();
  state.onClose(() => clearInterval(renewalTimer));

  const server: Server = createServer((req, res) => void handle(req, res));
  const handle = requestHandler(r, { state, now, log, commit }, apiVersion, () => publicBase);
  try {
    await listenOn(server, host, options.port ?? 0, stored?.port);
  } catch (err) {
    state.close();
    release();
    throw err;
  }
  listeningPort = (server.address() as AddressInfo).port;
  const port = listeningPort;
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
  return emulatorHandle({ url, port, host, webhookSecret, store, state, dispatcher, server, release, publicBase: () => publicBase, sendOwed });
}

function emulatorHandle(o: {
  url: string;
  port: number;
  host: string;
  webhookSecret: string;
  store: StateStore | undefined;
  state: EmulatorState;
  dispatcher: WebhookDispatcher;
  server: Server;
  release: () => void;
  publicBase: () => string;
  sendOwed: () => void;
}): StripeEmulator {
  const { url, port, host, webhookSecret, store, state, dispatcher, server, release } = o;
  return {
    url,
    port,
    host,
    clientConfig: { host: formatHostForUrl(host).replace(/^\[|\]$/g, ""), port, protocol: "http" },
    webhookSecret,
    ...(store ? { stateFile: store.file } : {}),
    state,
    payUrl(clientSecret, returnUrl, locale) {
      const u = new URL(`${o.publicBase()}/emulator/pay/${encodeURIComponent(clientSecret)}`);
      if (returnUrl !== undefined) u.searchParams.set("return_url", returnUrl);
      if (locale !== undefined) u.searchParams.set("locale", locale);
      return u.toString();
    },
    setWebhookUrl: (u) => {
      dispatcher.setUrl(u);
      o.sendOwed();
    },
    events: () => state.allEvents(),
    deliveries: () => dispatcher.deliveries(),
    resendEvent: (eventId) => dispatcher.resend(state.getEvent(eventId)),
    async advanceClock(seconds) {
      const r = advanceEmulatorClock(state, seconds);
      await store?.commit();
      return r;
    },
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
