import { expect } from "chai";
import fc from "fast-check";
import { BarrierPlant, DEFAULT_PLANT } from "../../sim/plant/barrier-plant";

const UP = { motorUp: true, motorDown: false, brake: false };
const DOWN = { motorUp: false, motorDown: true, brake: false };
const OFF = { motorUp: false, motorDown: false, brake: true };

/** Run the plant until an output changes (as the simulator does), at most `limitMs`. */
function runToChange(p: BarrierPlant, limitMs = 60000): number {
  const dt = Math.min(p.msUntilChange(), limitMs);
  p.advance(dt === 0 ? 1e-6 : dt);
  return dt;
}

describe("barrier plant", () => {
  it("starts closed on the closed limit switch, with the obstruction sensor healthy", () => {
    const p = new BarrierPlant();
    expect(p.outputs()).to.deep.equal({ limOpen: false, limClosed: true, obstruction: false, overCurrent: false, emergency: false, sensorOk: true });
    expect(p.currentA).to.equal(0);
    expect(p.msUntilChange()).to.equal(Infinity);
  });

  it("travels closed to open in travelMs, leaving one switch and making the other at the predicted times", () => {
    const p = new BarrierPlant({ travelMs: 4000 });
    p.setDrive(UP);
    expect(p.currentA).to.equal(DEFAULT_PLANT.runCurrentA);
    const leave = runToChange(p);
    expect(leave).to.be.closeTo(40, 1e-6); // 1 % band of 4 s
    p.advance(0.01);
    expect(p.outputs().limClosed).to.equal(false);
    const make = runToChange(p);
    expect(leave + 0.01 + make).to.be.closeTo(3960, 1e-6);
    p.advance(0.01);
    expect(p.outputs().limOpen).to.equal(true);
    p.setDrive(OFF);
    expect(p.positionPct).to.be.closeTo(99, 0.01);
    expect(p.currentA).to.equal(0);
  });

  it("stalls on a jam: the current climbs to the over-current trip in the predicted time and stays there", () => {
    const p = new BarrierPlant();
    p.setDrive(UP);
    p.advance(500);
    const at = p.positionPct;
    p.jam();
    const trip = p.msUntilChange();
    const expected = ((DEFAULT_PLANT.overCurrentA - DEFAULT_PLANT.runCurrentA) / (DEFAULT_PLANT.stallCurrentA - DEFAULT_PLANT.runCurrentA)) * DEFAULT_PLANT.stallRiseMs;
    expect(trip).to.be.closeTo(expected, 1e-9);
    p.advance(trip - 0.1);
    expect(p.outputs().overCurrent).to.equal(false);
    p.advance(0.2);
    expect(p.outputs().overCurrent).to.equal(true);
    expect(p.positionPct).to.equal(at);
    p.advance(1000);
    expect(p.currentA).to.equal(DEFAULT_PLANT.stallCurrentA);
    p.setDrive(OFF);
    expect(p.currentA).to.equal(0);
    expect(p.outputs().overCurrent, "the drive's trip stays latched while the boom is jammed").to.equal(true);
    p.clearJam();
    expect(p.outputs().overCurrent).to.equal(false);
    p.setDrive(UP);
    p.advance(100);
    expect(p.positionPct).to.be.greaterThan(at);
  });

  it("drives into the end stop when the open limit switch is missing, and stalls there", () => {
    const p = new BarrierPlant({ travelMs: 3000 });
    p.breakLimitSwitch("open", "missing");
    p.setDrive(UP);
    p.advance(3000 * 1.02 + 5);
    expect(p.positionPct).to.equal(100 + DEFAULT_PLANT.overtravelPct);
    expect(p.outputs().limOpen).to.equal(false);
    p.advance(DEFAULT_PLANT.stallRiseMs);
    expect(p.outputs().overCurrent).to.equal(true);
  });

  it("a stuck closed switch reads made with the boom open (both limits)", () => {
    const p = new BarrierPlant({}, 100);
    p.breakLimitSwitch("closed", "stuck");
    expect(p.outputs()).to.include({ limOpen: true, limClosed: true });
    p.breakLimitSwitch("closed", "ok");
    expect(p.outputs()).to.include({ limOpen: true, limClosed: false });
  });

  it("sees a vehicle under the boom unless the sensor failed (then its health output is low)", () => {
    const p = new BarrierPlant();
    p.setVehicleUnder(true);
    expect(p.outputs()).to.include({ obstruction: true, sensorOk: true });
    p.failObstructionSensor(true);
    expect(p.outputs()).to.include({ obstruction: false, sensorOk: false });
    p.setEmergency(true);
    expect(p.outputs().emergency).to.equal(true);
  });

  it("refuses an impossible configuration", () => {
    expect(() => new BarrierPlant({ overCurrentA: 1 })).to.throw(/runCurrentA < overCurrentA/);
    expect(() => new BarrierPlant({ travelMs: 0 })).to.throw(/travelMs/);
  });

  it("property: position stays within the mechanical range and moving in steps equals moving at once", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ dir: fc.constantFrom(UP, DOWN, OFF), ms: fc.integer({ min: 1, max: 2000 }), split: fc.integer({ min: 1, max: 7 }) }), { maxLength: 30 }),
      (steps) => {
        const a = new BarrierPlant(), b = new BarrierPlant();
        for (const s of steps) {
          a.setDrive(s.dir); b.setDrive(s.dir);
          a.advance(s.ms);
          for (let i = 0; i < s.split; i++) b.advance(s.ms / s.split);
          expect(a.positionPct).to.be.within(-DEFAULT_PLANT.overtravelPct, 100 + DEFAULT_PLANT.overtravelPct);
          expect(b.positionPct).to.be.closeTo(a.positionPct, 1e-6);
          expect(b.outputs()).to.deep.equal(a.outputs());
        }
      },
    ), { numRuns: 100 });
  });
});
