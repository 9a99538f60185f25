/**
 * The HIL lane verbs and scenarios read the cloud through cloud/db's named query functions (or
 * the cloud's HTTP API), never with SQL of their own (issue 15): a schema change then breaks
 * one tested function in cloud/db, not a scenario at run time on the rig.
 */
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const HIL = join(__dirname, "../../hil");

describe("hil layering", () => {
  it("no lane verb or scenario runs SQL on the cloud's database itself", () => {
    const offenders: string[] = [];
    for (const dir of ["harness", "scenarios"]) {
      for (const name of readdirSync(join(HIL, dir)).filter((n) => n.endsWith(".ts"))) {
        readFileSync(join(HIL, dir, name), "utf8")
          .split("\n")
          .forEach((line, i) => {
            if (/\bsql\s*(<[^>]*>)?\s*`|\b(select|insert|update|delete)\s.*\b(from|into|set)\b/i.test(line) && !/^\s*(\*|\/\/)/.test(line)) offenders.push(`hil/${dir}/${name}:${i + 1}: ${line.trim().slice(0, 140)}`);
          });
      }
    }
    assert.deepEqual(offenders, [], `SQL in the HIL lane verbs (use a cloud/db query function):\n${offenders.join("\n")}`);
  });
});
