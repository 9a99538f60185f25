/**
 * The emulator's state, with no HTTP and no resource behaviour in it: the objects it knows
 * (PaymentIntents, Charges, Refunds, PaymentMethods, Checkout Sessions, Customers, … — see SPECS), the Events their
 * changes record, and what the state file needs (snapshot, journal of changes, restore).
 * Each resource's state transitions live in resources/<resource>.ts and work on this.
 *
 * Objects are rendered with the real `stripe` package's types, so a missing or misspelt field
 * is a type error here rather than a surprise in the cloud.
 */
import type Stripe from "stripe";
import type { CardOutcome } from "./cards";
import { notFound } from "./errors";
import { clone, newId } from "./ids";
import type { CheckoutSessionCreate } from "./params";

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

export interface PaymentIntentRecord {
  pi: Stripe.PaymentIntent;
  returnUrl: string | null;
  checkoutSession: string | null;
  /** The payment method that passed 3-D Secure on this intent (so the retry does not ask again). */
  authenticatedPm: string | null;
  /** Confirmed with `off_session`: the customer is away, a 3-D Secure challenge is a decline. */
  offSession?: boolean;
}

export interface PaymentMethodRecord {
  pm: Stripe.PaymentMethod;
  outcome: CardOutcome;
  /** Detached from its customer: Stripe refuses to use it again. */
  detached?: boolean;
  /** Set up for future use (SetupIntent or setup_future_usage): off-session payments skip 3-D Secure where the card allows. */
  setUp?: boolean;
}

export interface SetupIntentRecord {
  si: Stripe.SetupIntent;
  returnUrl: string | null;
  /** The Checkout Session (mode=setup) that made it, if any. */
  checkoutSession: string | null;
}

export interface SessionRecord {
  session: Stripe.Checkout.Session;
  lineItems: Stripe.LineItem[];
  paymentIntentData: NonNullable<CheckoutSessionCreate["payment_intent_data"]>;
  /** mode=setup: what the session's SetupIntent is created with. */
  setupIntentData?: NonNullable<CheckoutSessionCreate["setup_intent_data"]>;
  /** mode=subscription: what the subscription is created with (resources/subscription-checkout.ts). */
  subscriptionData?: NonNullable<CheckoutSessionCreate["subscription_data"]>;
}

/** The emulator clock's lead over real time (resources/renewals.ts), kept like any object. */
export interface EmulatorClock {
  id: "clock_emulator";
  object: "test_helpers.test_clock";
  offset_ms: number;
}

/** A Subscription and what its renewals need (resources/subscriptions.ts). */
export interface SubscriptionRecord {
  sub: Stripe.Subscription;
  /** The open invoice of a failed renewal, retried on the emulator clock until paid or given up. */
  retryInvoice: string | null;
}

/**
 * Every kind of object the emulator keeps, by its journal tag: the snapshot array it is saved
 * in, the id prefix `expand[]` and lookups recognise, the Stripe `object` name an Event carries
 * (so emitting an event journals its object), and how to get the id and the Stripe object out of
 * the record. Adding a resource is one entry here and one `collection(...)` field in
 * EmulatorState: the snapshot, the journal, restore and `lookup` follow from this table.
 */
const SPECS = {
  pi: spec<PaymentIntentRecord>("paymentIntents", "pi_", "payment_intent", (r) => r.pi.id, (r) => r.pi),
  ch: spec<Stripe.Charge>("charges", "ch_", "charge", (c) => c.id, (c) => c),
  re: spec<Stripe.Refund>("refunds", "re_", "refund", (r) => r.id, (r) => r),
  pm: spec<PaymentMethodRecord>("paymentMethods", "pm_", "payment_method", (r) => r.pm.id, (r) => r.pm),
  cs: spec<SessionRecord>("sessions", "cs_", "checkout.session", (r) => r.session.id, (r) => r.session),
  cus: spec<Stripe.Customer>("customers", "cus_", "customer", (c) => c.id, (c) => c),
  seti: spec<SetupIntentRecord>("setupIntents", "seti_", "setup_intent", (r) => r.si.id, (r) => r.si),
  prod: spec<Stripe.Product>("products", "prod_", "product", (p) => p.id, (p) => p),
  price: spec<Stripe.Price>("prices", "price_", "price", (p) => p.id, (p) => p),
  sub: spec<SubscriptionRecord>("subscriptions", "sub_", "subscription", (r) => r.sub.id, (r) => r.sub),
  in: spec<Stripe.Invoice>("invoices", "in_", "invoice", (i) => i.id as string, (i) => i),
  bps: spec<Stripe.BillingPortal.Session>("portalSessions", "bps_", "billing_portal.session", (b) => b.id, (b) => b),
  clk: spec<EmulatorClock>("clocks", "clock_", "test_helpers.test_clock", (c) => c.id, (c) => c),
};

interface CollectionSpec<V> {
  readonly field: string;
  readonly prefix: string;
  readonly objectType: string;
  idOf(v: V): string;
  objectOf(v: V): unknown;
}

function spec<V>(field: string, prefix: string, objectType: string, idOf: (v: V) => string, objectOf: (v: V) => unknown): CollectionSpec<V> {
  return { field, prefix, objectType, idOf, objectOf };
}

export type CollectionKind = keyof typeof SPECS;
type RecordOf<K extends CollectionKind> = (typeof SPECS)[K] extends CollectionSpec<infer V> ? V : never;

/** The journal tags of the collections (store.ts checks a journal line against them). */
export const COLLECTION_KINDS = Object.keys(SPECS) as CollectionKind[];
/** The snapshot arrays of the collections. */
export const COLLECTION_FIELDS = Object.values(SPECS).map((c) => c.field);

/**
 * Everything the emulator knows, as plain JSON (the state file, see store.ts): one array per
 * collection (SPECS' `field`; a file written before a collection existed simply lacks it) and
 * the events, oldest first — `pending_webhooks` > 0 marks an event still owed to the endpoint.
 */
export interface StateSnapshot {
  events: EmulatorEvent[];
  [collection: string]: unknown[];
}

/** One changed object, as appended to the state journal (store.ts); the newest copy wins. */
export type JournalRecord =
  | { [K in CollectionKind]: { k: K; v: RecordOf<K> } }[CollectionKind]
  | { k: "ev"; v: EmulatorEvent }
  | { k: "idem"; key: string; v: import("./idempotency").SavedEntry };

/** What a card typed on one of the emulator's pages led to. */
export type PayOutcome =
  | { kind: "succeeded" | "processing" | "requires_capture"; paymentIntent: Stripe.PaymentIntent }
  | { kind: "requires_action"; paymentIntent: Stripe.PaymentIntent; redirectUrl: string }
  | { kind: "declined"; paymentIntent: Stripe.PaymentIntent; message: string; code: string; declineCode?: string };

/** A Map that notes which keys were read or written (the objects a request may have changed). */
export class TrackedMap<V> extends Map<string, V> {
  constructor(
    readonly kind: CollectionKind,
    readonly spec: CollectionSpec<V>,
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

export class EmulatorState {
  /** Objects read or written since the last takeChanges() ("kind\0id"): what the journal may need. */
  private readonly touched = new Set<string>();
  private readonly touchedEvents = new Set<string>();
  /** Events before this index are in the journal or the snapshot already. */
  private savedEvents = 0;
  private readonly collections = new Map<CollectionKind, TrackedMap<unknown>>();
  readonly paymentIntents = this.collection("pi");
  readonly byClientSecret = new Map<string, string>();
  readonly charges = this.collection("ch");
  readonly refunds = this.collection("re");
  readonly paymentMethods = this.collection("pm");
  readonly sessions = this.collection("cs");
  readonly customers = this.collection("cus");
  readonly setupIntents = this.collection("seti");
  readonly products = this.collection("prod");
  readonly prices = this.collection("price");
  readonly subscriptions = this.collection("sub");
  readonly invoices = this.collection("in");
  readonly portalSessions = this.collection("bps");
  readonly clocks = this.collection("clk");
  private readonly events: EmulatorEvent[] = [];
  private readonly eventsById = new Map<string, EmulatorEvent>();
  private readonly listeners: Array<(event: EmulatorEvent, orderingKey: string) => void> = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly closers: Array<() => void> = [];

  constructor(readonly opts: StateOptions) {}

  private collection<K extends CollectionKind>(kind: K): TrackedMap<RecordOf<K>> {
    const m = new TrackedMap<RecordOf<K>>(kind, SPECS[kind] as unknown as CollectionSpec<RecordOf<K>>, this.touched);
    this.collections.set(kind, m as TrackedMap<unknown>);
    return m;
  }

  /** Stores a record in its collection (with the PaymentIntents' client-secret index). */
  private put(kind: CollectionKind, v: unknown): void {
    if (kind === "pi") return this.putPaymentIntent(v as PaymentIntentRecord);
    const m = this.collections.get(kind) as TrackedMap<unknown>;
    m.set(m.spec.idOf(v), v);
  }

  onEvent(listener: (event: EmulatorEvent, orderingKey: string) => void): void {
    this.listeners.push(listener);
  }

  /** Runs `fn` after `ms` unless the state is closed first. */
  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const fn of this.closers.splice(0)) fn();
  }

  /** Runs `fn` when the state is closed (the server's periodic jobs). */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  /**
   * The emulator clock's lead over `opts.now` (ms), moved forward by advanceClock
   * (resources/renewals.ts), like a Stripe Test Clock shared by every object: a test advances a
   * month and the renewals due meanwhile run. Saved with the state (a restart keeps the lead).
   */
  get clockOffsetMs(): number {
    return this.clocks.peek("clock_emulator")?.offset_ms ?? 0;
  }

  set clockOffsetMs(ms: number) {
    this.clocks.set("clock_emulator", { id: "clock_emulator", object: "test_helpers.test_clock", offset_ms: ms });
  }

  seconds(): number {
    return Math.floor((this.opts.now() + this.clockOffsetMs) / 1000);
  }

  // ---------------------------------------------------------------- persistence

  /** The whole state, by reference: serialize it at once (JSON.stringify), do not keep it. */
  snapshot(): StateSnapshot {
    const out: StateSnapshot = { events: this.events };
    for (const m of this.collections.values()) out[m.spec.field] = [...m.values()];
    return out;
  }

  /**
   * Loads a snapshot into an empty state (a restart). The payments left in `processing` are
   * finished by resources/payment-intents-confirm.ts (resumeProcessing).
   */
  restore(snap: StateSnapshot): void {
    if (this.paymentIntents.size > 0 || this.events.length > 0) throw new Error("EmulatorState.restore: the state is not empty");
    for (const [kind, m] of this.collections) for (const v of snap[m.spec.field] ?? []) this.put(kind, v);
    for (const e of snap.events) this.pushEvent(e);
  }

  /** Replays journal records over the restored snapshot, oldest first (the newest copy wins). */
  applyJournal(records: JournalRecord[]): void {
    for (const r of records) {
      if (r.k === "ev") {
        const known = this.eventsById.get(r.v.id);
        if (known) Object.assign(known, r.v);
        else this.pushEvent(r.v);
      } else if (r.k !== "idem") this.put(r.k, r.v);
      // idempotency records belong to Idempotency
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
      const [kind, id] = key.split("\u0000") as [CollectionKind, string];
      const rec = this.changed(kind, id);
      if (rec) out.push(rec);
    }
    for (const id of this.touchedEvents) {
      const e = this.eventsById.get(id);
      if (e) out.push({ k: "ev", v: e }); // a new one may appear twice below: the same copy, harmless
    }
    for (let i = this.savedEvents; i < this.events.length; i++) out.push({ k: "ev", v: this.events[i] });
    this.discardChanges();
    return out;
  }

  private changed(kind: CollectionKind, id: string): JournalRecord | undefined {
    const v = this.collections.get(kind)?.peek(id);
    return v === undefined ? undefined : ({ k: kind, v } as JournalRecord);
  }

  /** Everything is saved (a full snapshot was just taken). */
  discardChanges(): void {
    this.touched.clear();
    this.touchedEvents.clear();
    this.savedEvents = this.events.length;
  }

  putPaymentIntent(rec: PaymentIntentRecord): void {
    this.paymentIntents.set(rec.pi.id, rec);
    if (rec.pi.client_secret) this.byClientSecret.set(rec.pi.client_secret, rec.pi.id);
  }

  private pushEvent(e: EmulatorEvent): void {
    this.events.push(e);
    this.eventsById.set(e.id, e);
  }

  // ---------------------------------------------------------------- events

  /** Records the Event Stripe would send for a change, and tells the listeners (webhooks, state file). */
  emit(type: string, object: { id: string }, orderingKey: string, ctx: RequestContext, previousAttributes?: Record<string, unknown>): void {
    const event: EmulatorEvent = {
      id: newId("evt"),
      object: "event",
      api_version: this.opts.apiVersion,
      created: this.seconds(),
      data: { object: clone(object) as unknown as Record<string, unknown>, ...(previousAttributes ? { previous_attributes: clone(previousAttributes) } : {}) },
      livemode: false,
      pending_webhooks: 0,
      request: { id: ctx.requestId, idempotency_key: ctx.idempotencyKey },
      type,
    };
    this.pushEvent(event);
    const objectType = (object as { object?: string }).object;
    for (const [kind, m] of this.collections) if (m.spec.objectType === objectType) this.touched.add(`${kind}\u0000${object.id}`);
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

  // ---------------------------------------------------------------- lookups

  piRecord(id: string, param = "intent"): PaymentIntentRecord {
    const rec = this.paymentIntents.get(id);
    if (!rec) throw notFound("payment_intent", id, param);
    return rec;
  }

  paymentIntent(id: string): Stripe.PaymentIntent {
    return clone(this.piRecord(id).pi);
  }

  listPaymentIntents(): Stripe.PaymentIntent[] {
    return [...this.paymentIntents.values()].map((r) => clone(r.pi));
  }

  listCharges(): Stripe.Charge[] {
    return [...this.charges.values()].map(clone);
  }

  /** Any object by id, for `expand[]`. */
  lookup(id: string): Record<string, unknown> | undefined {
    const get = (): unknown => {
      for (const m of this.collections.values()) {
        if (!id.startsWith(m.spec.prefix)) continue;
        const rec = m.get(id);
        if (rec !== undefined) return m.spec.objectOf(rec);
      }
      return undefined;
    };
    const v = get();
    return v === undefined ? undefined : (clone(v) as Record<string, unknown>);
  }
}
