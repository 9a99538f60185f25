/**
 * The cloud's state machines, in ONE place (ARCHITECTURE §5: "State transitions are explicit
 * state machines, enforced in one place, inside transactions").
 *
 * Each machine is an explicit table `from → allowed targets`. Nothing else in the code base
 * decides whether a status may change: the repositories in cloud/db/ lock the row
 * (`SELECT … FOR UPDATE`), ask this module, then write. Pure TypeScript, no I/O.
 *
 * Rules the tables encode (user's doc 000 §2, §7; issue 4):
 * - session: active → pending_payment → paid → closed, and flagged for anything that needs an
 *   operator. A paid session never goes back to pending_payment or active, whatever arrives late.
 * - payment: requested → pending → paid | failed | canceled; failed / canceled may return to
 *   pending on a retry; paid is terminal (refunds live in their own machine).
 * - an event that would move a state backwards (failed after paid, …) is *stale*: `classify`
 *   says so and the repositories ignore it instead of applying it.
 */

export const SESSION_STATUSES = ["active", "pending_payment", "paid", "closed", "flagged"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export const PAYMENT_STATES = ["requested", "pending", "paid", "failed", "canceled"] as const;
export type PaymentState = (typeof PAYMENT_STATES)[number];

export const REFUND_STATES = ["requested", "pending", "succeeded", "failed", "canceled"] as const;
export type RefundState = (typeof REFUND_STATES)[number];

export const PERMIT_STATES = ["pending", "active", "past_due", "canceled"] as const;
export type PermitState = (typeof PERMIT_STATES)[number];

export interface StateMachine<S extends string> {
  readonly name: "session" | "payment" | "refund" | "payment_refund" | "prepayment" | "hold" | "permit";
  readonly states: readonly S[];
  /** from → the states it may move to. A state absent from its own list has no self-loop. */
  readonly transitions: Readonly<Record<S, readonly S[]>>;
  /** States after which nothing may change. */
  readonly terminal: readonly S[];
}

/**
 * Session lifecycle.
 * - active → pending_payment: exit request priced (quote); pending_payment → pending_payment: re-quote
 *   (driver waited, price moved on; a new pay token is issued).
 * - active | pending_payment → paid: payment validated server-side, or a zero fee (grace period,
 *   subscriber) that goes straight to success (ARCHITECTURE §4 step 3).
 * - paid → closed: exit done with the barrier result.
 * - active | pending_payment → closed: only with an audited operator override (the repository
 *   enforces the override; see closeSession).
 * - any open state → flagged: vehicle left unpaid, barrier fault, duplicate entry…; flagged →
 *   closed is the operator's resolution.
 */
export const SESSION_MACHINE: StateMachine<SessionStatus> = {
  name: "session",
  states: SESSION_STATUSES,
  transitions: {
    active: ["pending_payment", "paid", "closed", "flagged"],
    pending_payment: ["pending_payment", "paid", "closed", "flagged"],
    paid: ["closed", "flagged"],
    flagged: ["closed"],
    closed: [],
  },
  terminal: ["closed"],
};

/**
 * Payment lifecycle.
 * - requested: row created (idempotency key) before the provider was called.
 * - pending: the provider knows it (PaymentIntent created / processing / retried).
 * - paid: proven server-side (verified webhook or server-side retrieve). Terminal.
 * - requested → paid and failed → paid are legal: the webhook is proof that the money was taken,
 *   and the provider may report success for a retried attempt we never saw as "pending"
 *   (Stripe lets a PaymentIntent succeed after a failed attempt). Refusing it would block a
 *   driver who has paid.
 * - canceled → pending only on an explicit retry; a canceled PaymentIntent never succeeds.
 */
export const PAYMENT_MACHINE: StateMachine<PaymentState> = {
  name: "payment",
  states: PAYMENT_STATES,
  transitions: {
    requested: ["pending", "paid", "failed", "canceled"],
    pending: ["paid", "failed", "canceled"],
    failed: ["pending", "paid", "canceled"],
    canceled: ["pending"],
    paid: [],
  },
  terminal: ["paid"],
};

/** Refund lifecycle (provider refunds: pending → succeeded | failed | canceled). */
export const REFUND_MACHINE: StateMachine<RefundState> = {
  name: "refund",
  states: REFUND_STATES,
  transitions: {
    requested: ["pending", "succeeded", "failed", "canceled"],
    pending: ["succeeded", "failed", "canceled"],
    succeeded: [],
    failed: [],
    canceled: [],
  },
  terminal: ["succeeded", "failed", "canceled"],
};

export const PREPAYMENT_STATES = ["requested", "pending", "paid", "failed", "canceled", "consumed", "refunded"] as const;
export type PrepaymentState = (typeof PREPAYMENT_STATES)[number];

/**
 * Prepayment lifecycle (issue 16 item 3, "paiement fixe": a plate's stay paid before it ends).
 * - requested → pending → paid | failed | canceled, like a payment: paid only on server-side
 *   proof (verified webhook or retrieve); failed → paid is legal (the provider may succeed a
 *   retried attempt), canceled is final (a canceled PaymentIntent never succeeds).
 * - paid → consumed: an exit request used it (once, locked in the exit's transaction).
 * - paid → refunded: an unused prepayment given back (the refund itself is the refund machine's).
 * Nothing leaves consumed / refunded: a late "succeeded" or "failed" is stale.
 */
export const PREPAYMENT_MACHINE: StateMachine<PrepaymentState> = {
  name: "prepayment",
  states: PREPAYMENT_STATES,
  transitions: {
    requested: ["pending", "paid", "failed", "canceled"],
    pending: ["paid", "failed", "canceled"],
    failed: ["pending", "paid", "canceled"],
    canceled: [],
    paid: ["consumed", "refunded"],
    consumed: [],
    refunded: [],
  },
  terminal: ["canceled", "consumed", "refunded"],
};

export const HOLD_STATES = ["requested", "authorized", "saved", "captured", "canceled", "expired", "failed"] as const;
export type HoldState = (typeof HOLD_STATES)[number];

/**
 * A hold at entry (issue 16 item 4: capture_method=manual PaymentIntent for the authorisation amount).
 * - requested: row and PaymentIntent created, the driver has not authorised the card yet.
 * - authorized: proven by a verified webhook (payment_intent.amount_capturable_updated) or a
 *   server-side retrieve showing requires_capture — never by the browser.
 * - captured: the exit's fee was taken from it (payment_intent.succeeded). Terminal.
 * - canceled: released (free stay, abandoned, or by the provider for another reason). Terminal.
 * - expired: the provider canceled it for age (Stripe: ~7 days, cancellation_reason automatic). Terminal.
 * - failed: the card was declined at entry; the driver may try another card (→ authorized).
 * - saved: no authorisation, only a card saved for off-session use (Checkout in setup mode,
 *   proven by setup_intent.succeeded); the exit charges it off-session. → canceled when released.
 * Nothing goes back to requested, and nothing leaves a terminal state: a late
 * amount_capturable_updated after a cancel is stale.
 */
export const HOLD_MACHINE: StateMachine<HoldState> = {
  name: "hold",
  states: HOLD_STATES,
  transitions: {
    requested: ["authorized", "saved", "canceled", "expired", "failed"],
    authorized: ["captured", "canceled", "expired"],
    saved: ["canceled"],
    failed: ["authorized", "saved", "canceled", "expired"],
    captured: [],
    canceled: [],
    expired: [],
  },
  terminal: ["captured", "canceled", "expired"],
};

/**
 * What a PAID payment has had refunded (issue 16), a second axis beside PAYMENT_MACHINE rather
 * than new payment states: payments.state stays 'paid' — the money was taken, and the session's
 * paid total, the exit flow and the receipts rely on that — while refund_status says none /
 * partial / full. The repository derives it from the sum of succeeded refunds (which only
 * grows: a succeeded refund is terminal), so it never moves backwards; partial → partial is a
 * further partial refund.
 */
export const PAYMENT_REFUND_STATUSES = ["none", "partial", "full"] as const;
export type PaymentRefundStatus = (typeof PAYMENT_REFUND_STATUSES)[number];

export const PAYMENT_REFUND_MACHINE: StateMachine<PaymentRefundStatus> = {
  name: "payment_refund",
  states: PAYMENT_REFUND_STATUSES,
  transitions: {
    none: ["partial", "full"],
    partial: ["partial", "full"],
    full: [],
  },
  terminal: ["full"],
};
/**
 * Permit lifecycle (issue 16 item 5): a permit is ACTIVE exactly while Stripe says its
 * subscription is `active` (or `trialing`).
 * - pending: bought, Checkout not completed yet (or the first invoice not paid: `incomplete`).
 * - active ⇄ past_due: a renewal failed (past_due, `unpaid`) / was paid again.
 * - canceled: the subscription ended (canceled, retries exhausted, incomplete_expired). Terminal:
 *   a holder who pays again buys a new permit (/renew-subscription).
 */
export const PERMIT_MACHINE: StateMachine<PermitState> = {
  name: "permit",
  states: PERMIT_STATES,
  transitions: {
    pending: ["active", "past_due", "canceled"],
    active: ["past_due", "canceled"],
    past_due: ["active", "canceled"],
    canceled: [],
  },
  terminal: ["canceled"],
};

/** The permit state a Stripe subscription status means. */
export function permitStateOfSubscription(status: string): PermitState {
  if (status === "active" || status === "trialing") return "active";
  if (status === "past_due" || status === "unpaid" || status === "paused") return "past_due";
  if (status === "canceled" || status === "incomplete_expired") return "canceled";
  return "pending"; // incomplete
}

/** Thrown when code asks for a transition the table forbids. */
export class IllegalTransitionError extends Error {
  override readonly name = "IllegalTransitionError";
  constructor(
    readonly machine: StateMachine<string>["name"],
    readonly from: string,
    readonly to: string,
    readonly entityId?: string,
  ) {
    super(`illegal ${machine} transition ${from} → ${to}${entityId ? ` for ${entityId}` : ""}`);
  }
}

export function canTransition<S extends string>(machine: StateMachine<S>, from: S, to: S): boolean {
  return machine.transitions[from].includes(to);
}

/** Throws IllegalTransitionError unless `from → to` is in the table. */
export function assertTransition<S extends string>(machine: StateMachine<S>, from: S, to: S, entityId?: string): void {
  if (!canTransition(machine, from, to)) throw new IllegalTransitionError(machine.name, from, to, entityId);
}

/**
 * What to do with an event that asks for `to` while the row is in `from`:
 * - "apply": legal transition, write it;
 * - "noop": already there (a duplicate or replay) — act once, report success, change nothing;
 * - "stale": the table forbids it (an out-of-order or late event, e.g. failed after paid) —
 *   ignore it; a state never moves backwards.
 * A legal self-loop (pending_payment → pending_payment, a re-quote) is "apply".
 */
export type TransitionVerdict = "apply" | "noop" | "stale";

export function classify<S extends string>(machine: StateMachine<S>, from: S, to: S): TransitionVerdict {
  if (canTransition(machine, from, to)) return "apply";
  if (from === to) return "noop";
  return "stale";
}

export function isSessionStatus(s: string): s is SessionStatus {
  return (SESSION_STATUSES as readonly string[]).includes(s);
}
export function isPaymentState(s: string): s is PaymentState {
  return (PAYMENT_STATES as readonly string[]).includes(s);
}

/** Statuses in which the vehicle is considered inside the car park (one per identity per site). */
export const OPEN_SESSION_STATUSES: readonly SessionStatus[] = ["active", "pending_payment", "paid"];
