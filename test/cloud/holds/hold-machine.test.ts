/**
 * HOLD_MACHINE (cloud/domain/state-machines.ts): a hold never goes back to requested, a terminal
 * state never moves, and a late authorisation after a cancel or a capture is stale (ignored).
 */
import { expect } from "chai";
import { HOLD_MACHINE, HOLD_STATES, classify, type HoldState } from "../../../cloud/domain/state-machines";

describe("HOLD_MACHINE", () => {
  it("nothing goes back to requested, and captured / canceled / expired are final", () => {
    for (const from of HOLD_STATES) expect(classify(HOLD_MACHINE, from, "requested"), `${from} → requested`).to.not.equal("apply");
    for (const from of HOLD_MACHINE.terminal) {
      for (const to of HOLD_STATES) expect(classify(HOLD_MACHINE, from, to), `${from} → ${to}`).to.equal(from === to ? "noop" : "stale");
    }
  });

  it("out-of-order provider events are stale, replays are noop, the documented paths apply", () => {
    const v = (from: HoldState, to: HoldState) => classify(HOLD_MACHINE, from, to);
    expect(v("requested", "authorized")).to.equal("apply");
    expect(v("authorized", "authorized")).to.equal("noop"); // a replayed amount_capturable_updated
    expect(v("canceled", "authorized")).to.equal("stale"); // the authorisation arriving after the cancel
    expect(v("captured", "expired")).to.equal("stale");
    expect(v("authorized", "captured")).to.equal("apply");
    expect(v("authorized", "expired")).to.equal("apply");
    expect(v("failed", "authorized")).to.equal("apply"); // another card after a decline
    expect(v("requested", "saved")).to.equal("apply");
    expect(v("saved", "authorized")).to.equal("stale");
  });
});
