import { expect } from "chai";
import { DBG_FIELDS } from "../../firmware/barrier-executor/fpga/regmap";
import { deepFreeze } from "../../firmware/common/link/freeze";
import { BARRIER_STATES, BOARD_KINDS, EXIT_STATES, MESSAGES } from "../../firmware/common/link/messages";
import { DEFAULT_TIMING } from "../../firmware/common/link/session";
import { configFields } from "../../firmware/common/io/config-fields";

/** Every object reachable from value, itself included. */
function objectsIn(value: unknown, out: object[] = []): object[] {
  if (typeof value !== "object" || value === null) return out;
  out.push(value);
  for (const v of Object.values(value)) objectsIn(v, out);
  return out;
}

describe("firmware constant tables (kept in flash on XS: mcconfig warns about any that is not frozen)", () => {
  it("are frozen all the way down", () => {
    // configFields(board) is built at module level by both boards' core/config.ts (preloaded).
    for (const [name, table] of Object.entries({ MESSAGES, BOARD_KINDS, EXIT_STATES, BARRIER_STATES, DEFAULT_TIMING, DBG_FIELDS, configFields: configFields("exit-controller") })) {
      const open = objectsIn(table).filter((o) => !Object.isFrozen(o));
      expect(open, `${name}: objects not frozen`).to.have.length(0);
    }
  });

  it("deepFreeze freezes nested objects and arrays, leaves primitives, and returns its argument", () => {
    const t = { a: { b: [1, { c: "x" }] }, n: 3 };
    expect(deepFreeze(t)).to.equal(t);
    expect(objectsIn(t).every((o) => Object.isFrozen(o))).to.equal(true);
    expect(deepFreeze(5)).to.equal(5);
    expect(deepFreeze(null)).to.equal(null);
  });
});
