/**
 * The cloud's HTTP layer parses, calls a flow and shapes the answer (issue 15): no SQL in a
 * route — a query or a transaction belongs in cloud/flows/ (or cloud/db/), where it is one
 * transaction a test can call without HTTP.
 */
import { strict as assert } from "node:assert";
import { expect } from "chai";
import { readFileSync, readdirSync } from "node:fs";
import { relative } from "node:path";
import { join } from "node:path";

const HTTP_DIR = join(__dirname, "../../../cloud/http");

describe("cloud/http layering", () => {
  it("no router runs SQL or opens a transaction itself", () => {
    const offenders: string[] = [];
    // Every router, the console's too (cloud/http/console/…).
    const files = (readdirSync(HTTP_DIR, { recursive: true }) as string[]).filter((n) => n.endsWith(".ts"));
    expect(files.some((f) => f.startsWith("console"))).to.equal(true);
    for (const name of files) {
      readFileSync(join(HTTP_DIR, name), "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (/\b(sql|tx)\s*(<[^>]*>)?\s*`|\.tx\(|\b(SELECT|INSERT|UPDATE|DELETE)\s/.test(line) && !/^\s*(\*|\/\/)/.test(line)) offenders.push(`${relative(join(HTTP_DIR, "../.."), join(HTTP_DIR, name))}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(offenders, [], `SQL in the HTTP layer (move it to a flow in cloud/flows/):\n${offenders.join("\n")}`);
  });
});
