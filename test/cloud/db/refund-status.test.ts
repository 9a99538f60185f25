/** PAYMENT_REFUND_MACHINE (issue 16): a paid payment's refund status only moves forward. */
import { expect } from "chai";
import { IllegalTransitionError, PAYMENT_REFUND_MACHINE, assertTransition, canTransition, classify } from "../../../cloud/domain/state-machines";

/** The legal pairs, written out independently of the table under test. */
const LEGAL = new Set(["none>partial", "none>full", "partial>partial", "partial>full"]);

describe("state machine: payment_refund (none → partial → full)", () => {
  for (const from of PAYMENT_REFUND_MACHINE.states) {
    for (const to of PAYMENT_REFUND_MACHINE.states) {
      const key = `${from}>${to}`;
      it(`${from} → ${to} is ${LEGAL.has(key) ? "legal" : "illegal"}`, () => {
        expect(canTransition(PAYMENT_REFUND_MACHINE, from, to)).to.equal(LEGAL.has(key));
        if (LEGAL.has(key)) expect(classify(PAYMENT_REFUND_MACHINE, from, to)).to.equal("apply");
        else {
          expect(() => assertTransition(PAYMENT_REFUND_MACHINE, from, to, "pay_1")).to.throw(IllegalTransitionError, /payment_refund/);
          expect(classify(PAYMENT_REFUND_MACHINE, from, to)).to.equal(from === to ? "noop" : "stale");
        }
      });
    }
  }
  it("full is terminal", () => expect(PAYMENT_REFUND_MACHINE.terminal).to.deep.equal(["full"]));
});
