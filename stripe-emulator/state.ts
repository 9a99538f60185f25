/**
 * The emulator's state and behaviour, with no HTTP in it: PaymentIntents, Charges, Refunds,
 * PaymentMethods, Checkout Sessions and Events, and the state machine Stripe documents for a
 * card PaymentIntent (https://docs.stripe.com/payments/paymentintents/lifecycle):
 *
 *   requires_payment_method ──(payment_method)──▶ requires_confirmation ──confirm──▶
 *     ├─ card needs 3-D Secure ─▶ requires_action ─(authenticated)─▶ …succeeds below
 *     │                                           └(failed)─▶ requires_payment_method + last_payment_error
 *     ├─ card declined ─▶ requires_payment_method + last_payment_error (402 card_error)
 *     └─ card succeeds ─▶ [processing, only if processingMs > 0] ─▶ succeeded
 *                                                            (requires_capture with capture_method=manual → capture → succeeded)
 *   cancel: from requires_payment_method | requires_confirmation | requires_action | requires_capture → canceled
 *
 * Every state change records an Event (what Stripe would send to a webhook endpoint). Objects
 * are rendered with the real `stripe` package's types, so a missing or misspelt field is a
 * type error here rather than a surprise in the cloud.
 */
import { createHash, randomBytes } from "node:crypto";
import type Stripe from "stripe";
import { brandOf, findTestCard, LIVE_CARD_IN_TEST_MODE, luhnValid, TEST_PAYMENT_METHODS, type CardOutcome } from "./cards";
import { notFound, paramError, requestError, StripeApiError, unexpectedState, type StripeErrorBody } from "./errors";
import { formatAmount, minimumAmount, SUPPORTED_CURRENCIES } from "./money";
import { throwMissing, type CheckoutSessionCreate, type MetadataParam, type PaymentIntentConfirm, type PaymentIntentCreate, type PaymentIntentUpdate, type RefundCreate } from "./params";

/** An Event as Stripe sends it (the `stripe` types make Event a union keyed by type; this is its common shape). */
export interface EmulatorEvent {
  id: string;
  object: "event";
  api_version: string;
  created: number;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

/** Who caused a change: an API request (its id and idempotency key) or the emulator's own pages. */
export interface RequestContext {
  requestId: string | null;
  idempotencyKey: string | null;
}

export const PAGE_CONTEXT: RequestContext = { requestId: null, idempotencyKey: null };

export interface StateOptions {
  /** Base URL of the emulator as a browser reaches it (hosted pages, next_action URLs). */
  publicBaseUrl: () => string;
  now: () => number;
  apiVersion: string;
  /** > 0: a succeeding card payment sits in `processing` this long before `succeeded`. */
  processingMs: number;
}

/** A card as typed on the emulator's pages. */
export interface CardInput {
  number: string;
  expMonth: number;
  expYear: number;
  cvc: string;
}

interface PaymentIntentRecord {
  pi: Stripe.PaymentIntent;
  returnUrl: string | null;
  checkoutSession: string | null;
  /** The payment method that passed 3-D Secure on this intent (so the retry does not ask again). */
  authenticatedPm: string | null;
}

interface PaymentMethodRecord {
  pm: Stripe.PaymentMethod;
  outcome: CardOutcome;
}

interface SessionRecord {
  session: Stripe.Checkout.Session;
  lineItems: Stripe.LineItem[];
  paymentIntentData: NonNullable<CheckoutSessionCreate["payment_intent_data"]>;
}

/** Everything the emulator knows, as plain JSON (the state file, see store.ts). */
export interface StateSnapshot {
  paymentIntents: PaymentIntentRecord[];
  charges: Stripe.Charge[];
  refunds: Stripe.Refund[];
  paymentMethods: PaymentMethodRecord[];
  sessions: SessionRecord[];
  /** Oldest first; `pending_webhooks` > 0 marks an event still owed to the webhook endpoint. */
  events: EmulatorEvent[];
}

/** One changed object, as appended to the state journal (store.ts); the newest copy wins. */
export type JournalRecord =
  | { k: "pi"; v: PaymentIntentRecord }
  | { k: "ch"; v: Stripe.Charge }
  | { k: "re"; v: Refund }
  | { k: "pm"; v: PaymentMethodRecord }
  | { k: "cs"; v: SessionRecord }
  | { k: "ev"; v: EmulatorEvent }
  | { k: "idem"; key: string; v: import("./idempotency").SavedEntry };

type Refund = Stripe.Refund;

/** A Map that notes which keys were read or written (the objects a request may have changed). */
class TrackedMap<V> extends Map<string, V> {
  constructor(
    private readonly kind: string,
    private readonly touched: Set<string>,
  ) {
    super();
  }

  override get(key: string): V | undefined {
    const v = super.get(key);
    if (v !== undefined) this.touched.add(`${this.kind}\u0000${key}`);
    return v;
  }

  override set(key: string, value: V): this {
    this.touched?.add(`${this.kind}\u0000${key}`);
    return super.set(key, value);
  }

  /** Read without noting it. */
  peek(key: string): V | undefined {
    return super.get(key);
  }
}

export type PayOutcome =
  | { kind: "succeeded" | "processing" | "requires_capture"; paymentIntent: Stripe.PaymentIntent }
  | { kind: "requires_action"; paymentIntent: Stripe.PaymentIntent; redirectUrl: string }
  | { kind: "declined"; paymentIntent: Stripe.PaymentIntent; message: string; code: string; declineCode?: string };

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function randomToken(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i] % ALPHABET.length];
  return out;
}

export const newId = (prefix: string, length = 24): string => `${prefix}_${randomToken(length)}`;

const CANCELABLE: ReadonlyArray<Stripe.PaymentIntent.Status> = ["requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"];
const UPDATABLE: ReadonlyArray<Stripe.PaymentIntent.Status> = ["requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"];

function applyMetadata(current: Record<string, string>, change: MetadataParam | undefined): Record<string, string> {
  if (change === undefined) return current;
  if (change === "") return {};
  const next = { ...current };
  for (const [k, v] of Object.entries(change)) {
    if (v === "") delete next[k];
    else next[k] = v;
  }
  if (Object.keys(next).length > 50) throw paramError("parameter_invalid_string", "metadata", "Metadata may have at most 50 keys.");
  return next;
}

const clone = <T>(v: T): T => structuredClone(v);

export class EmulatorState {
  /** Objects read or written since the last takeChanges() ("kind\0id"): what the journal may need. */
  private readonly touched = new Set<string>();
  private readonly touchedEvents = new Set<string>();
  /** Events before this index are in the journal or the snapshot already. */
  private savedEvents = 0;
  private readonly paymentIntents = new TrackedMap<PaymentIntentRecord>("pi", this.touched);
  private readonly byClientSecret = new Map<string, string>();
  private readonly charges = new TrackedMap<Stripe.Charge>("ch", this.touched);
  private readonly refunds = new TrackedMap<Stripe.Refund>("re", this.touched);
  private readonly paymentMethods = new TrackedMap<PaymentMethodRecord>("pm", this.touched);
  private readonly sessions = new TrackedMap<SessionRecord>("cs", this.touched);
  private readonly events: EmulatorEvent[] = [];
  private readonly eventsById = new Map<string, EmulatorEvent>();
  private readonly listeners: Array<(event: EmulatorEvent, orderingKey: string) => void> = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: StateOptions) {}

  onEvent(listener: (event: EmulatorEvent, orderingKey: string) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** The whole state, by reference: serialize it at once (JSON.stringify), do not keep it. */
  snapshot(): StateSnapshot {
    return {
      paymentIntents: [...this.paymentIntents.values()],
      charges: [...this.charges.values()],
      refunds: [...this.refunds.values()],
      paymentMethods: [...this.paymentMethods.values()],
      sessions: [...this.sessions.values()],
      events: this.events,
    };
  }

  /**
   * Loads a snapshot into an empty state (a restart). A payment left in `processing` finishes
   * as it would have: it succeeds `processingMs` after the restart.
   */
  restore(snap: StateSnapshot): void {
    if (this.paymentIntents.size > 0 || this.events.length > 0) throw new Error("EmulatorState.restore: the state is not empty");
    for (const rec of snap.paymentIntents) {
      this.paymentIntents.set(rec.pi.id, rec);
      if (rec.pi.client_secret) this.byClientSecret.set(rec.pi.client_secret, rec.pi.id);
    }
    for (const c of snap.charges) this.charges.set(c.id, c);
    for (const r of snap.refunds) this.refunds.set(r.id, r);
    for (const m of snap.paymentMethods) this.paymentMethods.set(m.pm.id, m);
    for (const rec of snap.sessions) this.sessions.set(rec.session.id, rec);
    for (const e of snap.events) {
      this.events.push(e);
      this.eventsById.set(e.id, e);
    }
    for (const rec of this.paymentIntents.values()) {
      const pmId = typeof rec.pi.payment_method === "string" ? rec.pi.payment_method : rec.pi.payment_method?.id;
      const pmRec = pmId ? this.paymentMethods.get(pmId) : undefined;
      if (rec.pi.status !== "processing" || !pmRec) continue;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (rec.pi.status === "processing") this.succeed(rec, pmRec, PAGE_CONTEXT);
      }, this.opts.processingMs);
      this.timers.add(timer);
    }
  }

  /** Replays journal records over the restored snapshot, oldest first (the newest copy wins). */
  applyJournal(records: JournalRecord[]): void {
    for (const r of records) {
      switch (r.k) {
        case "pi":
          this.paymentIntents.set(r.v.pi.id, r.v);
          if (r.v.pi.client_secret) this.byClientSecret.set(r.v.pi.client_secret, r.v.pi.id);
          break;
        case "ch":
          this.charges.set(r.v.id, r.v);
          break;
        case "re":
          this.refunds.set(r.v.id, r.v);
          break;
        case "pm":
          this.paymentMethods.set(r.v.pm.id, r.v);
          break;
        case "cs":
          this.sessions.set(r.v.session.id, r.v);
          break;
        case "ev": {
          const known = this.eventsById.get(r.v.id);
          if (known) Object.assign(known, r.v);
          else {
            this.events.push(r.v);
            this.eventsById.set(r.v.id, r.v);
          }
          break;
        }
        default:
          break; // idempotency records belong to Idempotency
      }
    }
  }

  /** An event's delivery count changed (webhooks): it goes to the journal again. */
  touchEvent(id: string): void {
    this.touchedEvents.add(id);
  }

  /** What changed since the last call, for the journal; forgets it. */
  takeChanges(): JournalRecord[] {
    const out: JournalRecord[] = [];
    for (const key of this.touched) {
      const [kind, id] = key.split("\u0000");
      if (kind === "pi") {
        const v = this.paymentIntents.peek(id);
        if (v) out.push({ k: "pi", v });
      } else if (kind === "ch") {
        const v = this.charges.peek(id);
        if (v) out.push({ k: "ch", v });
      } else if (kind === "re") {
        const v = this.refunds.peek(id);
        if (v) out.push({ k: "re", v });
      } else if (kind === "pm") {
        const v = this.paymentMethods.peek(id);
        if (v) out.push({ k: "pm", v });
      } else if (kind === "cs") {
        const v = this.sessions.peek(id);
        if (v) out.push({ k: "cs", v });
      }
    }
    for (const id of this.touchedEvents) {
      const e = this.eventsById.get(id);
      if (e) out.push({ k: "ev", v: e }); // a new one may appear twice below: the same copy, harmless
    }
    for (let i = this.savedEvents; i < this.events.length; i++) out.push({ k: "ev", v: this.events[i] });
    this.discardChanges();
    return out;
  }

  /** Everything is saved (a full snapshot was just taken). */
  discardChanges(): void {
    this.touched.clear();
    this.touchedEvents.clear();
    this.savedEvents = this.events.length;
  }

  private seconds(): number {
    return Math.floor(this.opts.now() / 1000);
  }

  // ---------------------------------------------------------------- events

  private emit(type: string, object: { id: string }, orderingKey: string, ctx: RequestContext): void {
    const event: EmulatorEvent = {
      id: newId("evt"),
      object: "event",
      api_version: this.opts.apiVersion,
      created: this.seconds(),
      data: { object: clone(object) as unknown as Record<string, unknown> },
      livemode: false,
      pending_webhooks: 0,
      request: { id: ctx.requestId, idempotency_key: ctx.idempotencyKey },
      type,
    };
    this.events.push(event);
    this.eventsById.set(event.id, event);
    const kind = { payment_intent: "pi", charge: "ch", refund: "re", "checkout.session": "cs" }[(object as { object?: string }).object ?? ""];
    if (kind) this.touched.add(`${kind}\u0000${object.id}`);
    for (const l of this.listeners) l(event, orderingKey);
  }

  getEvent(id: string): EmulatorEvent {
    const e = this.eventsById.get(id);
    if (!e) throw notFound("event", id);
    return e;
  }

  /** Oldest first (list endpoints reverse it). */
  allEvents(): readonly EmulatorEvent[] {
    return this.events;
  }

  // ---------------------------------------------------------------- lookups & rendering

  private piRecord(id: string, param = "intent"): PaymentIntentRecord {
    const rec = this.paymentIntents.get(id);
    if (!rec) throw notFound("payment_intent", id, param);
    return rec;
  }

  paymentIntent(id: string): Stripe.PaymentIntent {
    return clone(this.piRecord(id).pi);
  }

  paymentIntentByClientSecret(clientSecret: string): Stripe.PaymentIntent | undefined {
    const id = this.byClientSecret.get(clientSecret);
    return id ? this.paymentIntent(id) : undefined;
  }

  /** The return_url given at create/confirm time (Stripe keeps it; the object does not show it). */
  returnUrlOf(paymentIntentId: string): string | null {
    return this.paymentIntents.get(paymentIntentId)?.returnUrl ?? null;
  }

  checkoutSessionOf(paymentIntentId: string): string | null {
    return this.paymentIntents.get(paymentIntentId)?.checkoutSession ?? null;
  }

  charge(id: string): Stripe.Charge {
    const c = this.charges.get(id);
    if (!c) throw notFound("charge", id);
    return clone(c);
  }

  refund(id: string): Stripe.Refund {
    const r = this.refunds.get(id);
    if (!r) throw notFound("refund", id);
    return clone(r);
  }

  paymentMethod(id: string): Stripe.PaymentMethod {
    const r = this.paymentMethods.get(id);
    if (!r) throw notFound("payment_method", id);
    return clone(r.pm);
  }

  checkoutSession(id: string): Stripe.Checkout.Session {
    const rec = this.sessions.get(id);
    if (!rec) throw notFound("checkout.session", id, "session");
    this.expireIfDue(rec);
    return clone(rec.session);
  }

  checkoutLineItems(id: string): Stripe.LineItem[] {
    const rec = this.sessions.get(id);
    if (!rec) throw notFound("checkout.session", id, "session");
    return clone(rec.lineItems);
  }

  listPaymentIntents(): Stripe.PaymentIntent[] {
    return [...this.paymentIntents.values()].map((r) => clone(r.pi));
  }

  listCharges(): Stripe.Charge[] {
    return [...this.charges.values()].map(clone);
  }

  listRefunds(): Stripe.Refund[] {
    return [...this.refunds.values()].map(clone);
  }

  listCheckoutSessions(): Stripe.Checkout.Session[] {
    return [...this.sessions.values()].map((r) => {
      this.expireIfDue(r);
      return clone(r.session);
    });
  }

  /** Any object by id, for `expand[]`. */
  lookup(id: string): Record<string, unknown> | undefined {
    const get = (): unknown => {
      if (id.startsWith("pi_")) return this.paymentIntents.get(id)?.pi;
      if (id.startsWith("ch_")) return this.charges.get(id);
      if (id.startsWith("re_")) return this.refunds.get(id);
      if (id.startsWith("pm_")) return this.paymentMethods.get(id)?.pm;
      if (id.startsWith("cs_")) return this.sessions.get(id)?.session;
      return undefined;
    };
    const v = get();
    return v === undefined ? undefined : (clone(v) as Record<string, unknown>);
  }

  // ---------------------------------------------------------------- payment methods

  /** A magic test id (pm_card_visa …) makes a fresh PaymentMethod each time it is used, like Stripe. */
  private resolvePaymentMethod(id: string, param: string): PaymentMethodRecord {
    const existing = this.paymentMethods.get(id);
    if (existing) return existing;
    const number = TEST_PAYMENT_METHODS[id];
    if (number === undefined) throw notFound("PaymentMethod", id, param);
    const year = new Date(this.opts.now()).getUTCFullYear();
    return this.createCardPaymentMethod({ number, expMonth: 12, expYear: year + 2, cvc: "123" });
  }

  createCardPaymentMethod(card: CardInput): PaymentMethodRecord {
    const test = findTestCard(card.number);
    const outcome: CardOutcome = test ? test.outcome : LIVE_CARD_IN_TEST_MODE;
    const brand = test?.brand ?? brandOf(card.number);
    const pm: Stripe.PaymentMethod = {
      id: newId("pm"),
      object: "payment_method",
      allow_redisplay: "unspecified",
      billing_details: { address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null }, email: null, name: null, phone: null, tax_id: null },
      card: {
        brand,
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
        country: test?.country ?? "US",
        display_brand: brand,
        exp_month: card.expMonth,
        exp_year: card.expYear,
        fingerprint: createHash("sha256").update(`syspark-emulator:${card.number}`).digest("base64url").slice(0, 16),
        funding: test?.funding ?? "credit",
        generated_from: null,
        last4: card.number.slice(-4),
        networks: { available: [brand], preferred: null },
        regulated_status: "unregulated",
        three_d_secure_usage: { supported: true },
        wallet: null,
      },
      created: this.seconds(),
      customer: null,
      customer_account: null,
      livemode: false,
      metadata: {},
      type: "card",
    };
    const rec = { pm, outcome };
    this.paymentMethods.set(pm.id, rec);
    return rec;
  }

  // ---------------------------------------------------------------- payment intents

  private checkAmount(amount: number, currency: string): void {
    if (!SUPPORTED_CURRENCIES.has(currency)) {
      throw paramError("parameter_invalid_string", "currency", `Invalid currency: ${currency}. This Stripe TEST EMULATOR supports: ${[...SUPPORTED_CURRENCIES].join(", ")}.`);
    }
    const min = minimumAmount(currency);
    if (amount < min) {
      throw new StripeApiError(
        400,
        { type: "invalid_request_error", code: "amount_too_small", param: "amount", message: `Amount must be at least ${formatAmount(min, currency)} ${currency}`, doc_url: "https://docs.stripe.com/error-codes/amount-too-small" },
        true,
      );
    }
  }

  createPaymentIntent(p: PaymentIntentCreate, ctx: RequestContext, checkoutSession: string | null = null): Stripe.PaymentIntent {
    this.checkAmount(p.amount, p.currency);
    if (p.payment_method_types && p.automatic_payment_methods?.enabled) {
      throw paramError("parameter_invalid_string", "automatic_payment_methods", "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.");
    }
    const automatic = p.payment_method_types ? null : { enabled: p.automatic_payment_methods?.enabled ?? true, ...(p.automatic_payment_methods?.allow_redirects ? { allow_redirects: p.automatic_payment_methods.allow_redirects } : {}) };
    if (p.confirm) this.checkReturnUrl(automatic, p.return_url ?? null, checkoutSession);
    // Resolved before anything is created, so an unknown id is a plain 404.
    const pmId = p.payment_method !== undefined ? this.resolvePaymentMethodId(p.payment_method, "payment_method") : undefined;
    const id = newId("pi");
    const pi: Stripe.PaymentIntent = {
      id,
      object: "payment_intent",
      allowed_payment_method_types: null,
      amount: p.amount,
      amount_capturable: 0,
      amount_details: { tip: {} },
      amount_received: 0,
      application: null,
      application_fee_amount: null,
      automatic_payment_methods: automatic,
      canceled_at: null,
      cancellation_reason: null,
      capture_method: p.capture_method ?? "automatic_async",
      client_secret: `${id}_secret_${randomToken(25)}`,
      confirmation_method: p.confirmation_method ?? "automatic",
      created: this.seconds(),
      currency: p.currency,
      customer: null,
      customer_account: null,
      description: p.description ?? null,
      excluded_payment_method_types: null,
      last_payment_error: null,
      latest_charge: null,
      livemode: false,
      managed_payments: null,
      metadata: applyMetadata({}, p.metadata),
      next_action: null,
      on_behalf_of: null,
      payment_method: null,
      payment_method_configuration_details: null,
      payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: "automatic" } },
      payment_method_types: p.payment_method_types ?? ["card"],
      payment_record: null,
      processing: null,
      receipt_email: p.receipt_email ?? null,
      review: null,
      setup_future_usage: null,
      shipping: null,
      source: null,
      statement_descriptor: p.statement_descriptor ?? null,
      statement_descriptor_suffix: p.statement_descriptor_suffix ?? null,
      status: "requires_payment_method",
      transfer_data: null,
      transfer_group: null,
    };
    const rec: PaymentIntentRecord = { pi, returnUrl: p.return_url ?? null, checkoutSession, authenticatedPm: null };
    this.paymentIntents.set(id, rec);
    this.byClientSecret.set(pi.client_secret as string, id);
    if (pmId !== undefined) {
      pi.payment_method = pmId;
      pi.status = "requires_confirmation";
    }
    this.emit("payment_intent.created", pi, id, ctx);
    if (p.confirm) {
      this.confirm(id, { payment_method: undefined, return_url: p.return_url, error_on_requires_action: p.error_on_requires_action }, ctx);
    }
    return clone(pi);
  }

  /**
   * Stripe refuses a server-side confirmation without return_url when automatic payment methods
   * may redirect (the default for a PaymentIntent created without payment_method_types).
   */
  private checkReturnUrl(automatic: Stripe.PaymentIntent.AutomaticPaymentMethods | null, returnUrl: string | null, checkoutSession: string | null): void {
    if (automatic?.enabled && automatic.allow_redirects !== "never" && !returnUrl && checkoutSession === null) {
      throw requestError(
        "parameter_missing",
        "This PaymentIntent is configured to accept payment methods enabled in your Dashboard, some of which may require a full page redirect to succeed. Provide a `return_url` when confirming, or create the PaymentIntent with `payment_method_types[]=card` or `automatic_payment_methods[allow_redirects]=never`.",
        { param: "return_url" },
      );
    }
  }

  private resolvePaymentMethodId(id: string, param: string): string {
    return this.resolvePaymentMethod(id, param).pm.id;
  }

  updatePaymentIntent(id: string, p: PaymentIntentUpdate, _ctx: RequestContext): Stripe.PaymentIntent {
    const rec = this.piRecord(id);
    const pi = rec.pi;
    if (!UPDATABLE.includes(pi.status)) {
      throw unexpectedState(
        `You cannot update this PaymentIntent because it has a status of ${pi.status}. You may only update a PaymentIntent with one of the following statuses: ${UPDATABLE.join(", ")}.`,
        clone(pi),
      );
    }
    const moneyChange = p.amount !== undefined || p.currency !== undefined;
    if (pi.status === "requires_capture" && (moneyChange || p.payment_method !== undefined)) {
      throw unexpectedState(`You cannot change the amount, currency or payment method of this PaymentIntent because it has a status of requires_capture.`, clone(pi));
    }
    const amount = p.amount ?? pi.amount;
    const currency = p.currency ?? pi.currency;
    if (moneyChange) this.checkAmount(amount, currency);
    const pmId = p.payment_method !== undefined ? this.resolvePaymentMethodId(p.payment_method, "payment_method") : undefined;
    pi.amount = amount;
    pi.currency = currency;
    if (p.capture_method !== undefined) pi.capture_method = p.capture_method;
    if (p.description !== undefined) pi.description = p.description;
    if (p.receipt_email !== undefined) pi.receipt_email = p.receipt_email === "" ? null : p.receipt_email;
    if (p.statement_descriptor !== undefined) pi.statement_descriptor = p.statement_descriptor;
    if (p.statement_descriptor_suffix !== undefined) pi.statement_descriptor_suffix = p.statement_descriptor_suffix;
    if (p.payment_method_types !== undefined) {
      pi.payment_method_types = p.payment_method_types;
      pi.automatic_payment_methods = null;
    }
    pi.metadata = applyMetadata(pi.metadata, p.metadata);
    if (pmId !== undefined) {
      pi.payment_method = pmId;
      rec.authenticatedPm = null;
    }
    if (pi.status !== "requires_capture" && (pmId !== undefined || (pi.status === "requires_action" && moneyChange))) {
      pi.next_action = null;
      pi.status = pi.payment_method ? "requires_confirmation" : "requires_payment_method";
    }
    return clone(pi);
  }

  /** POST /v1/payment_intents/:id/confirm. A decline throws a 402 card_error that carries the intent. */
  confirm(id: string, p: PaymentIntentConfirm, ctx: RequestContext): Stripe.PaymentIntent {
    const rec = this.piRecord(id);
    const pi = rec.pi;
    if (pi.status !== "requires_payment_method" && pi.status !== "requires_confirmation") {
      throw unexpectedState(
        `You cannot confirm this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method.`,
        clone(pi),
      );
    }
    const pmId = p.payment_method !== undefined ? this.resolvePaymentMethodId(p.payment_method, "payment_method") : pi.payment_method;
    if (typeof pmId !== "string") {
      throw unexpectedState(
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
        clone(pi),
      );
    }
    this.checkReturnUrl(pi.automatic_payment_methods, p.return_url ?? rec.returnUrl, rec.checkoutSession);
    if (p.capture_method !== undefined) pi.capture_method = p.capture_method;
    if (p.receipt_email !== undefined) pi.receipt_email = p.receipt_email === "" ? null : p.receipt_email;
    if (p.return_url !== undefined) rec.returnUrl = p.return_url;
    if (pi.payment_method !== pmId) rec.authenticatedPm = null;
    pi.payment_method = pmId;
    pi.status = "requires_confirmation";
    const outcome = this.attempt(rec, p.error_on_requires_action === true, ctx);
    if (outcome.kind === "declined") throw outcome.error;
    return clone(pi);
  }

  /** Run the card: the core of confirm, shared by the API and the emulator's pages. */
  private attempt(rec: PaymentIntentRecord, errorOnRequiresAction: boolean, ctx: RequestContext): { kind: "ok" } | { kind: "declined"; error: StripeApiError } {
    const pi = rec.pi;
    const pmRec = this.paymentMethods.get(pi.payment_method as string) as PaymentMethodRecord;
    const outcome = pmRec.outcome;
    pi.last_payment_error = null;
    if (outcome.kind === "authenticate" && rec.authenticatedPm !== pmRec.pm.id) {
      if (errorOnRequiresAction) {
        return this.decline(rec, pmRec, { kind: "decline", code: "authentication_required", declineCode: "authentication_required", message: "Your card was declined. This transaction requires authentication." }, ctx);
      }
      const url = `${this.opts.publicBaseUrl()}/emulator/3ds/${pi.id}?client_secret=${encodeURIComponent(pi.client_secret as string)}`;
      pi.status = "requires_action";
      pi.next_action = rec.returnUrl
        ? { type: "redirect_to_url", redirect_to_url: { url, return_url: rec.returnUrl } }
        : ({ type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect", stripe_js: url, source: pmRec.pm.id } } as unknown as Stripe.PaymentIntent.NextAction);
      this.emit("payment_intent.requires_action", pi, pi.id, ctx);
      return { kind: "ok" };
    }
    if (outcome.kind === "decline") return this.decline(rec, pmRec, outcome, ctx);
    if (this.opts.processingMs > 0) {
      pi.status = "processing";
      pi.next_action = null;
      pi.processing = { type: "card", card: { customer_notification: undefined } } as unknown as Stripe.PaymentIntent.Processing;
      this.emit("payment_intent.processing", pi, pi.id, ctx);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (pi.status === "processing") this.succeed(rec, pmRec, PAGE_CONTEXT);
      }, this.opts.processingMs);
      this.timers.add(timer);
      return { kind: "ok" };
    }
    this.succeed(rec, pmRec, ctx);
    return { kind: "ok" };
  }

  private newCharge(rec: PaymentIntentRecord, pmRec: PaymentMethodRecord, status: "succeeded" | "failed", failure: { code: string; declineCode: string; message: string } | null): Stripe.Charge {
    const pi = rec.pi;
    const card = pmRec.pm.card as Stripe.PaymentMethod.Card;
    const captured = status === "succeeded" && pi.capture_method !== "manual";
    const charge: Stripe.Charge = {
      id: newId("ch"),
      object: "charge",
      amount: pi.amount,
      amount_captured: captured ? pi.amount : 0,
      amount_refunded: 0,
      application: null,
      application_fee: null,
      application_fee_amount: null,
      balance_transaction: null,
      billing_details: pmRec.pm.billing_details,
      calculated_statement_descriptor: "SYSPARK TEST EMULATOR",
      captured,
      created: this.seconds(),
      currency: pi.currency,
      customer: null,
      description: pi.description,
      disputed: false,
      failure_balance_transaction: null,
      failure_code: failure ? failure.code : null,
      failure_message: failure ? failure.message : null,
      fraud_details: {},
      livemode: false,
      metadata: clone(pi.metadata),
      on_behalf_of: null,
      outcome: failure
        ? { advice_code: null, network_advice_code: null, network_decline_code: null, network_status: "declined_by_network", reason: failure.declineCode, risk_level: "normal", risk_score: 20, seller_message: "The bank did not return any further details with this decline.", type: "issuer_declined" }
        : { advice_code: null, network_advice_code: null, network_decline_code: null, network_status: "approved_by_network", reason: null, risk_level: "normal", risk_score: 20, seller_message: "Payment complete.", type: "authorized" },
      paid: status === "succeeded",
      payment_intent: pi.id,
      payment_method: pmRec.pm.id,
      payment_method_details: {
        type: "card",
        card: {
          amount_authorized: status === "succeeded" ? pi.amount : null,
          authorization_code: status === "succeeded" ? "123456" : null,
          brand: card.brand,
          checks: card.checks,
          country: card.country,
          electronic_commerce_indicator: null,
          exp_month: card.exp_month,
          exp_year: card.exp_year,
          fingerprint: card.fingerprint,
          funding: card.funding,
          installments: null,
          last4: card.last4,
          mandate: null,
          network: card.brand,
          network_transaction_id: status === "succeeded" ? randomToken(15) : null,
          regulated_status: "unregulated",
          three_d_secure: rec.authenticatedPm === pmRec.pm.id ? { authentication_flow: "challenge", electronic_commerce_indicator: "05", exemption_indicator: null, result: "authenticated", result_reason: null, transaction_id: randomToken(32), version: "2.2.0" } : null,
          transaction_link_id: null,
          wallet: null,
        },
      },
      receipt_email: pi.receipt_email,
      receipt_number: null,
      receipt_url: null,
      refunded: false,
      review: null,
      shipping: null,
      source: null,
      source_transfer: null,
      statement_descriptor: pi.statement_descriptor,
      statement_descriptor_suffix: pi.statement_descriptor_suffix,
      status,
      transfer_data: null,
      transfer_group: null,
    };
    this.charges.set(charge.id, charge);
    return charge;
  }

  private decline(rec: PaymentIntentRecord, pmRec: PaymentMethodRecord, outcome: Extract<CardOutcome, { kind: "decline" }>, ctx: RequestContext): { kind: "declined"; error: StripeApiError } {
    const pi = rec.pi;
    const charge = this.newCharge(rec, pmRec, "failed", outcome);
    const error: StripeErrorBody = {
      type: "card_error",
      code: outcome.code,
      decline_code: outcome.declineCode,
      message: outcome.message,
      charge: charge.id,
      doc_url: `https://docs.stripe.com/error-codes/${outcome.code.replace(/_/g, "-")}`,
      payment_method: clone(pmRec.pm),
    };
    pi.last_payment_error = { ...error, payment_method: clone(pmRec.pm) } as unknown as Stripe.PaymentIntent.LastPaymentError;
    pi.latest_charge = charge.id;
    pi.payment_method = null;
    pi.next_action = null;
    pi.status = "requires_payment_method";
    this.emit("charge.failed", charge, pi.id, ctx);
    this.emit("payment_intent.payment_failed", pi, pi.id, ctx);
    return { kind: "declined", error: new StripeApiError(402, { ...error, payment_intent: clone(pi) }) };
  }

  private succeed(rec: PaymentIntentRecord, pmRec: PaymentMethodRecord, ctx: RequestContext): void {
    const pi = rec.pi;
    const charge = this.newCharge(rec, pmRec, "succeeded", null);
    pi.latest_charge = charge.id;
    pi.next_action = null;
    pi.processing = null;
    this.emit("charge.succeeded", charge, pi.id, ctx);
    if (pi.capture_method === "manual") {
      pi.status = "requires_capture";
      pi.amount_capturable = pi.amount;
      this.emit("payment_intent.amount_capturable_updated", pi, pi.id, ctx);
    } else {
      pi.status = "succeeded";
      pi.amount_received = pi.amount;
      this.emit("payment_intent.succeeded", pi, pi.id, ctx);
    }
    if (rec.checkoutSession) this.completeSession(rec.checkoutSession, ctx);
  }

  cancel(id: string, reason: Stripe.PaymentIntent.CancellationReason | undefined, ctx: RequestContext): Stripe.PaymentIntent {
    const rec = this.piRecord(id);
    const pi = rec.pi;
    if (!CANCELABLE.includes(pi.status)) {
      throw unexpectedState(
        `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(", ")}.`,
        clone(pi),
      );
    }
    if (pi.status === "requires_capture" && typeof pi.latest_charge === "string") {
      // The uncaptured authorisation is released: Stripe refunds it.
      this.refundCharge(this.charges.get(pi.latest_charge) as Stripe.Charge, pi.amount_capturable, "requested_by_customer", {}, ctx);
    }
    pi.status = "canceled";
    pi.canceled_at = this.seconds();
    pi.cancellation_reason = reason ?? null;
    pi.amount_capturable = 0;
    pi.next_action = null;
    this.emit("payment_intent.canceled", pi, pi.id, ctx);
    return clone(pi);
  }

  capture(id: string, amountToCapture: number | undefined, metadata: MetadataParam | undefined, ctx: RequestContext): Stripe.PaymentIntent {
    const rec = this.piRecord(id);
    const pi = rec.pi;
    if (pi.status !== "requires_capture") {
      throw unexpectedState(
        `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
        clone(pi),
      );
    }
    const amount = amountToCapture ?? pi.amount_capturable;
    if (amount > pi.amount_capturable) {
      throw requestError("amount_too_large", `The amount to capture (${formatAmount(amount, pi.currency)}) is greater than the amount capturable (${formatAmount(pi.amount_capturable, pi.currency)}).`, { param: "amount_to_capture" });
    }
    const charge = this.charges.get(pi.latest_charge as string) as Stripe.Charge;
    charge.captured = true;
    charge.amount_captured = amount;
    charge.amount_refunded = charge.amount - amount; // the uncaptured rest is released, reported as refunded like Stripe
    pi.metadata = applyMetadata(pi.metadata, metadata);
    pi.amount_received = amount;
    pi.amount_capturable = 0;
    pi.status = "succeeded";
    this.emit("charge.captured", charge, pi.id, ctx);
    this.emit("payment_intent.succeeded", pi, pi.id, ctx);
    if (rec.checkoutSession) {
      const s = this.sessions.get(rec.checkoutSession);
      if (s) s.session.payment_status = "paid";
    }
    return clone(pi);
  }

  // ---------------------------------------------------------------- emulator pages

  /**
   * Pay a PaymentIntent with a card typed on the emulator's page (what Stripe.js + the Payment
   * Element would do). Never throws for a decline: the page shows the message instead.
   */
  payWithCard(paymentIntentId: string, card: CardInput, returnUrl: string | null): PayOutcome {
    const rec = this.piRecord(paymentIntentId);
    const pi = rec.pi;
    if (pi.status !== "requires_payment_method" && pi.status !== "requires_confirmation") {
      throw unexpectedState(`This PaymentIntent has a status of ${pi.status} and cannot be paid again.`, clone(pi));
    }
    if (!luhnValid(card.number)) {
      return { kind: "declined", paymentIntent: clone(pi), code: "incorrect_number", message: "Your card number is incorrect." };
    }
    const pmRec = this.createCardPaymentMethod(card);
    if (returnUrl !== null) rec.returnUrl = returnUrl;
    pi.payment_method = pmRec.pm.id;
    rec.authenticatedPm = null;
    pi.status = "requires_confirmation";
    const result = this.attempt(rec, false, PAGE_CONTEXT);
    if (result.kind === "declined") {
      return { kind: "declined", paymentIntent: clone(pi), code: result.error.body.code ?? "card_declined", declineCode: result.error.body.decline_code, message: result.error.body.message };
    }
    return this.outcomeOf(rec);
  }

  private outcomeOf(rec: PaymentIntentRecord): PayOutcome {
    const pi = clone(rec.pi);
    if (pi.status === "requires_action") {
      const next = pi.next_action as unknown as { redirect_to_url?: { url: string }; use_stripe_sdk?: { stripe_js: string } };
      return { kind: "requires_action", paymentIntent: pi, redirectUrl: next.redirect_to_url?.url ?? next.use_stripe_sdk?.stripe_js ?? "" };
    }
    if (pi.status === "succeeded") return { kind: "succeeded", paymentIntent: pi };
    if (pi.status === "processing") return { kind: "processing", paymentIntent: pi };
    if (pi.status === "requires_capture") return { kind: "requires_capture", paymentIntent: pi };
    const err = pi.last_payment_error;
    return { kind: "declined", paymentIntent: pi, code: err?.code ?? "card_declined", declineCode: err?.decline_code, message: err?.message ?? "Payment failed." };
  }

  /** The emulator's 3-D Secure page: complete (the payment proceeds) or fail authentication. */
  authenticate(paymentIntentId: string, success: boolean): PayOutcome {
    const rec = this.piRecord(paymentIntentId);
    const pi = rec.pi;
    if (pi.status !== "requires_action") {
      throw unexpectedState(`This PaymentIntent has a status of ${pi.status}: there is no authentication to complete.`, clone(pi));
    }
    const pmRec = this.paymentMethods.get(pi.payment_method as string) as PaymentMethodRecord;
    if (success) {
      rec.authenticatedPm = pmRec.pm.id;
      this.attempt(rec, false, PAGE_CONTEXT);
    } else {
      pi.last_payment_error = {
        type: "invalid_request_error",
        code: "payment_intent_authentication_failure",
        message: "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
        doc_url: "https://docs.stripe.com/error-codes/payment-intent-authentication-failure",
        payment_method: clone(pmRec.pm),
      } as Stripe.PaymentIntent.LastPaymentError;
      pi.payment_method = null;
      pi.next_action = null;
      pi.status = "requires_payment_method";
      this.emit("payment_intent.payment_failed", pi, pi.id, PAGE_CONTEXT);
    }
    return this.outcomeOf(rec);
  }

  // ---------------------------------------------------------------- refunds

  createRefund(p: RefundCreate, ctx: RequestContext): Stripe.Refund {
    if (p.payment_intent === undefined && p.charge === undefined) {
      throw paramError("parameter_missing", "payment_intent", "One of the following params should be provided for this request: payment_intent or charge.");
    }
    let charge: Stripe.Charge | undefined;
    if (p.payment_intent !== undefined) {
      const rec = this.piRecord(p.payment_intent, "payment_intent");
      if (p.charge !== undefined && rec.pi.latest_charge !== p.charge) {
        throw paramError("parameter_invalid_string", "charge", `Charge ${p.charge} does not belong to PaymentIntent ${p.payment_intent}.`);
      }
      if (rec.pi.status !== "succeeded") {
        throw requestError("charge_not_refundable", `This PaymentIntent (${rec.pi.id}) does not have a successful charge to refund (its status is ${rec.pi.status}).`, { param: "payment_intent" });
      }
      charge = this.charges.get(rec.pi.latest_charge as string);
    } else {
      charge = this.charges.get(p.charge as string);
      if (!charge) throw notFound("charge", p.charge as string, "charge");
      if (charge.status !== "succeeded" || !charge.captured) {
        throw requestError("charge_not_refundable", `Charge ${charge.id} has not been captured and cannot be refunded.`, { param: "charge" });
      }
    }
    const c = charge as Stripe.Charge;
    const remaining = c.amount - c.amount_refunded; // amount_refunded includes any uncaptured rest released at capture
    if (remaining <= 0) throw requestError("charge_already_refunded", `Charge ${c.id} has already been refunded.`);
    const amount = p.amount ?? remaining;
    if (amount > remaining) {
      throw requestError("amount_too_large", `Refund amount (${formatAmount(amount, c.currency)}) is greater than unrefunded amount on charge (${formatAmount(remaining, c.currency)})`, { param: "amount" });
    }
    return clone(this.refundCharge(c, amount, p.reason ?? null, applyMetadata({}, p.metadata), ctx));
  }

  private refundCharge(charge: Stripe.Charge, amount: number, reason: Stripe.Refund.Reason | null, metadata: Record<string, string>, ctx: RequestContext): Stripe.Refund {
    const refund: Stripe.Refund = {
      id: newId("re"),
      object: "refund",
      amount,
      balance_transaction: null,
      charge: charge.id,
      created: this.seconds(),
      currency: charge.currency,
      customer: null,
      customer_account: null,
      destination_details: { type: "card", card: { reference_status: "pending", reference_type: "acquirer_reference_number", type: "refund" } },
      metadata,
      payment_intent: charge.payment_intent,
      payment_method: charge.payment_method,
      reason,
      receipt_number: null,
      source_transfer_reversal: null,
      status: "succeeded",
      transfer_reversal: null,
    };
    this.refunds.set(refund.id, refund);
    charge.amount_refunded += amount;
    charge.refunded = charge.amount_refunded >= charge.amount;
    const key = typeof charge.payment_intent === "string" ? charge.payment_intent : charge.id;
    this.emit("refund.created", refund, key, ctx);
    this.emit("charge.refunded", charge, key, ctx);
    return refund;
  }

  updateRefundMetadata(id: string, metadata: MetadataParam | undefined): Stripe.Refund {
    const r = this.refunds.get(id);
    if (!r) throw notFound("refund", id);
    r.metadata = applyMetadata(r.metadata ?? {}, metadata);
    return clone(r);
  }

  updatePaymentIntentMetadataOnly(id: string, metadata: MetadataParam | undefined): void {
    const rec = this.piRecord(id);
    rec.pi.metadata = applyMetadata(rec.pi.metadata, metadata);
  }

  // ---------------------------------------------------------------- checkout sessions

  createCheckoutSession(p: CheckoutSessionCreate, _ctx: RequestContext): Stripe.Checkout.Session {
    if (p.mode !== "payment") {
      throw paramError("parameter_invalid_string", "mode", `mode=${p.mode} is not implemented by this Stripe TEST EMULATOR (only mode=payment is).`);
    }
    if (!p.line_items) throwMissing("line_items");
    if (!p.success_url) throwMissing("success_url");
    const items = p.line_items;
    const lineItems: Stripe.LineItem[] = items.map((li, i) => {
      if (li.price !== undefined) throw notFound("price", li.price, `line_items[${i}][price]`);
      if (!li.price_data) throwMissing(`line_items[${i}][price_data]`);
      const pd = li.price_data;
      if (!pd.product_data) {
        if (pd.product !== undefined) throw notFound("product", pd.product, `line_items[${i}][price_data][product]`);
        throwMissing(`line_items[${i}][price_data][product_data]`);
      }
      const unit = pd.unit_amount ?? (pd.unit_amount_decimal !== undefined ? Number.parseInt(pd.unit_amount_decimal, 10) : undefined);
      if (unit === undefined) throwMissing(`line_items[${i}][price_data][unit_amount]`);
      if (li.quantity === undefined) throwMissing(`line_items[${i}][quantity]`);
      const quantity = li.quantity;
      const productId = newId("prod", 14);
      const price = {
        id: newId("price"),
        object: "price",
        active: false,
        billing_scheme: "per_unit",
        created: this.seconds(),
        currency: pd.currency,
        custom_unit_amount: null,
        livemode: false,
        lookup_key: null,
        metadata: {},
        nickname: null,
        product: productId,
        recurring: null,
        tax_behavior: pd.tax_behavior ?? "unspecified",
        tiers_mode: null,
        transform_quantity: null,
        type: "one_time",
        unit_amount: unit,
        unit_amount_decimal: String(unit) as unknown as Stripe.Price["unit_amount_decimal"], // a decimal string on the wire; stripe-node turns it into a Decimal
      };
      return {
        id: newId("li"),
        object: "item",
        adjustable_quantity: null,
        amount_discount: 0,
        amount_subtotal: unit * quantity,
        amount_tax: 0,
        amount_total: unit * quantity,
        currency: pd.currency,
        description: pd.product_data.name,
        metadata: {},
        price,
        quantity,
      } as Stripe.LineItem;
    });
    const currency = lineItems[0].currency;
    if (lineItems.some((li) => li.currency !== currency)) {
      throw paramError("parameter_invalid_string", "line_items", "All line_items must use the same currency.");
    }
    const total = lineItems.reduce((s, li) => s + li.amount_total, 0);
    this.checkAmount(total, currency);
    const now = this.seconds();
    const expiresAt = p.expires_at ?? now + 24 * 3600;
    if (expiresAt < now + 30 * 60 || expiresAt > now + 24 * 3600) {
      throw paramError("parameter_invalid_integer", "expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.");
    }
    const id = `cs_test_${randomToken(40)}`;
    const session: Stripe.Checkout.Session = {
      id,
      object: "checkout.session",
      adaptive_pricing: null,
      after_expiration: null,
      allow_promotion_codes: null,
      allowed_payment_method_types: null,
      amount_subtotal: total,
      amount_total: total,
      automatic_tax: { enabled: false, liability: null, provider: null, status: null },
      billing_address_collection: null,
      cancel_url: p.cancel_url ?? null,
      client_reference_id: p.client_reference_id ?? null,
      client_secret: null,
      collected_information: null,
      consent: null,
      consent_collection: null,
      created: now,
      currency,
      currency_conversion: null,
      custom_fields: [],
      custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
      customer: null,
      customer_account: null,
      customer_creation: "if_required",
      customer_details: null,
      customer_email: p.customer_email ?? null,
      discounts: [],
      expires_at: expiresAt,
      integration_identifier: null,
      invoice: null,
      invoice_creation: null,
      livemode: false,
      locale: p.locale ?? null,
      managed_payments: null,
      metadata: applyMetadata({}, p.metadata),
      mode: "payment",
      origin_context: null,
      payment_intent: null,
      payment_link: null,
      payment_method_collection: "if_required",
      payment_method_configuration_details: null,
      payment_method_options: { card: { request_three_d_secure: "automatic" } },
      payment_method_types: p.payment_method_types ?? ["card"],
      payment_status: "unpaid",
      permissions: null,
      recovered_from: null,
      saved_payment_method_options: null,
      setup_intent: null,
      shipping_address_collection: null,
      shipping_cost: null,
      shipping_options: [],
      status: "open",
      submit_type: p.submit_type ?? null,
      subscription: null,
      success_url: p.success_url,
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      ui_mode: "hosted",
      url: `${this.opts.publicBaseUrl()}/emulator/checkout/${id}`,
      wallet_options: null,
    };
    this.sessions.set(id, { session, lineItems, paymentIntentData: p.payment_intent_data ?? {} });
    // Stripe sends no event when a Checkout Session is created.
    return clone(session);
  }

  private expireIfDue(rec: SessionRecord): void {
    if (rec.session.status === "open" && this.seconds() >= rec.session.expires_at) this.expireSession(rec, PAGE_CONTEXT);
  }

  private expireSession(rec: SessionRecord, ctx: RequestContext): void {
    const s = rec.session;
    s.status = "expired";
    s.url = null;
    if (typeof s.payment_intent === "string") {
      const piRec = this.paymentIntents.get(s.payment_intent);
      if (piRec && CANCELABLE.includes(piRec.pi.status) && piRec.pi.status !== "requires_capture") this.cancel(piRec.pi.id, "abandoned", ctx);
    }
    this.emit("checkout.session.expired", s, s.id, ctx);
  }

  expireCheckoutSession(id: string, ctx: RequestContext): Stripe.Checkout.Session {
    const rec = this.sessions.get(id);
    if (!rec) throw notFound("checkout.session", id, "session");
    this.expireIfDue(rec);
    if (rec.session.status !== "open") {
      throw requestError("checkout_session_unexpected_state", `This Checkout Session has a status of ${rec.session.status}: only an open session can be expired.`);
    }
    this.expireSession(rec, ctx);
    return clone(rec.session);
  }

  /** The hosted checkout page's payment: makes (once) the session's PaymentIntent and pays it. */
  payCheckoutSession(id: string, card: CardInput): PayOutcome {
    const rec = this.sessions.get(id);
    if (!rec) throw notFound("checkout.session", id, "session");
    this.expireIfDue(rec);
    const s = rec.session;
    if (s.status !== "open") throw requestError("checkout_session_unexpected_state", `This Checkout Session is ${s.status}.`);
    let piId = typeof s.payment_intent === "string" ? s.payment_intent : null;
    if (piId === null) {
      const d = rec.paymentIntentData;
      const pi = this.createPaymentIntent(
        {
          amount: s.amount_total as number,
          currency: s.currency as string,
          payment_method_types: ["card"],
          capture_method: d.capture_method,
          description: d.description,
          metadata: d.metadata,
          receipt_email: d.receipt_email ?? s.customer_email ?? undefined,
          statement_descriptor: d.statement_descriptor,
          statement_descriptor_suffix: d.statement_descriptor_suffix,
        },
        PAGE_CONTEXT,
        id,
      );
      piId = pi.id;
      s.payment_intent = piId;
    }
    return this.payWithCard(piId, card, `${this.opts.publicBaseUrl()}/emulator/checkout/${id}/return`);
  }

  private completeSession(id: string, ctx: RequestContext): void {
    const rec = this.sessions.get(id);
    if (!rec || rec.session.status !== "open") return;
    const s = rec.session;
    const pi = this.paymentIntents.get(s.payment_intent as string)?.pi;
    s.status = "complete";
    s.payment_status = pi?.status === "succeeded" ? "paid" : "unpaid";
    s.url = null;
    s.customer_details = { address: null, business_name: null, email: s.customer_email, individual_name: null, name: null, phone: null, tax_exempt: "none", tax_ids: [] } as unknown as Stripe.Checkout.Session.CustomerDetails;
    this.emit("checkout.session.completed", s, s.id, ctx);
  }
}
