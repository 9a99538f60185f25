import { expect } from "chai";
import { percentile, seededRandom, tallyExits, type ExitRecord } from "../../hil/chaos/campaign";
import { killSchedule } from "../../hil/chaos/cloud-campaign";

const ok: ExitRecord = { key: "s1", successesActedOn: 1, letOut: true, status: "closed", closes: 1, paymentsCaptured: 1 };

describe("chaos: the one tally of lost / doubled / stuck exits", () => {
  it("an exit paid once, let out once and closed once is clean", () => {
    expect(tallyExits([ok])).to.deep.equal({ lost: 0, doubled: 0, stuck: 0, problems: [] });
  });

  it("lost: an exit request that vanished (no success, session still active), or an exit/done never processed", () => {
    const t = tallyExits([
      { ...ok, key: "req", successesActedOn: 0, letOut: false, status: "active", closes: 0, paymentsCaptured: 0 },
      { ...ok, key: "done", status: "paid", closes: 0 },
    ]);
    expect([t.lost, t.doubled, t.stuck]).to.deep.equal([2, 0, 0]);
    expect(t.problems[0]).to.match(/^lost req: status active/);
    expect(t.problems[1]).to.match(/^lost done: status paid, .*let out$/);
  });

  it("stuck: the driver never let out while the session waits paid or pending_payment (counted once, not also lost)", () => {
    const t = tallyExits([
      { ...ok, key: "a", successesActedOn: 0, letOut: false, status: "paid", closes: 0 },
      { ...ok, key: "b", successesActedOn: 0, letOut: false, status: "pending_payment", closes: 0, paymentsCaptured: 0 },
    ]);
    expect([t.lost, t.doubled, t.stuck]).to.deep.equal([0, 0, 2]);
  });

  it("doubled: two successes acted on, two closes or two captures — whatever else is true of the exit", () => {
    const t = tallyExits([{ ...ok, key: "x", closes: 2 }, { ...ok, key: "y", paymentsCaptured: 2 }, { ...ok, key: "z", successesActedOn: 2 }]);
    expect([t.lost, t.doubled, t.stuck]).to.deep.equal([0, 3, 0]);
  });

  it("an exit that owes no payment needs no success, but still one close", () => {
    expect(tallyExits([{ ...ok, successesActedOn: 0, paymentsCaptured: 0, paymentOwed: false }]).lost).to.equal(0);
  });

  it("percentile is nearest-rank; the seeded kill schedule is the same for the same seed, spread and inside the run", () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).to.equal(3);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 99)).to.equal(99);
    expect(Number.isNaN(percentile([], 99))).to.equal(true);
    const a = killSchedule(5000, 20, seededRandom(7));
    expect(a).to.deep.equal(killSchedule(5000, 20, seededRandom(7)));
    expect(a).to.have.length(20);
    expect(a[0]).to.be.greaterThan(0);
    expect(a[19]).to.be.lessThan(5000);
    expect([...a].sort((x, y) => x - y)).to.deep.equal(a);
  });
});
