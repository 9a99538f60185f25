import { expect } from "chai";
import fc from "fast-check";
import {
  IllegalTransitionError,
  PAYMENT_MACHINE,
  PAYMENT_STATES,
  REFUND_MACHINE,
  SESSION_MACHINE,
  SESSION_STATUSES,
  assertTransition,
  canTransition,
  classify,
  type PaymentState,
  type SessionStatus,
  type StateMachine,
} from "../../../cloud/domain/state-machines";

/** The legal pairs, written out independently of the tables under test. */
const SESSION_LEGAL = new Set([
  "active>pending_payment",
  "active>paid",
  "active>closed",
  "active>flagged",
  "pending_payment>pending_payment",
  "pending_payment>paid",
  "pending_payment>closed",
  "pending_payment>flagged",
  "paid>closed",
  "paid>flagged",
  "flagged>closed",
]);
const PAYMENT_LEGAL = new Set([
  "requested>pending",
  "requested>paid",
  "requested>failed",
  "requested>canceled",
  "pending>paid",
  "pending>failed",
  "pending>canceled",
  "failed>pending",
  "failed>paid",
  "failed>canceled",
  "canceled>pending",
]);

function everyPair<S extends string>(machine: StateMachine<S>, legal: Set<string>): void {
  for (const from of machine.states) {
    for (const to of machine.states) {
      const key = `${from}>${to}`;
      it(`${machine.name} ${from} → ${to} is ${legal.has(key) ? "legal" : "illegal"}`, () => {
        expect(canTransition(machine, from, to)).to.equal(legal.has(key));
        if (legal.has(key)) {
          expect(() => assertTransition(machine, from, to)).not.to.throw();
          expect(classify(machine, from, to)).to.equal("apply");
        } else {
          expect(() => assertTransition(machine, from, to, "id-1")).to.throw(IllegalTransitionError, new RegExp(`${from} → ${to} for id-1`));
          expect(classify(machine, from, to)).to.equal(from === to ? "noop" : "stale");
        }
      });
    }
  }
}

describe("cloud/domain state machines", () => {
  describe("session: every pair", () => everyPair(SESSION_MACHINE, SESSION_LEGAL));
  describe("payment: every pair", () => everyPair(PAYMENT_MACHINE, PAYMENT_LEGAL));

  it("terminal states have no way out", () => {
    for (const m of [SESSION_MACHINE, PAYMENT_MACHINE, REFUND_MACHINE] as StateMachine<string>[]) {
      for (const t of m.terminal) expect(m.transitions[t], `${m.name} ${t}`).to.deep.equal([]);
    }
  });

  it("IllegalTransitionError is typed and carries machine, from and to", () => {
    try {
      assertTransition(PAYMENT_MACHINE, "paid", "failed", "pay_1");
      expect.fail("should throw");
    } catch (err) {
      expect(err).to.be.instanceOf(IllegalTransitionError);
      const e = err as IllegalTransitionError;
      expect([e.machine, e.from, e.to, e.entityId]).to.deep.equal(["payment", "paid", "failed", "pay_1"]);
    }
  });

  it("property: whatever order payment events arrive in, once paid it stays paid", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<PaymentState>(...PAYMENT_STATES), { maxLength: 30 }), (events) => {
        let state: PaymentState = "requested";
        let paid = false;
        for (const e of events) {
          if (classify(PAYMENT_MACHINE, state, e) === "apply") state = e;
          if (state === "paid") paid = true;
          if (paid) expect(state).to.equal("paid");
        }
      }),
    );
  });

  it("property: a session never returns to active or pending_payment once paid, closed or flagged", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<SessionStatus>(...SESSION_STATUSES), { maxLength: 30 }), (events) => {
        let state: SessionStatus = "active";
        let settled = false;
        for (const e of events) {
          if (classify(SESSION_MACHINE, state, e) === "apply") state = e;
          if (state !== "active" && state !== "pending_payment") settled = true;
          if (settled) expect(state).to.be.oneOf(["paid", "closed", "flagged"]);
        }
      }),
    );
  });
});
