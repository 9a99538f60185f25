/**
 * The gateway's floors (issue 15): gateway/outbox/ is below gateway/bridge/ (the relay reads the
 * outbox, never the other way), so no module of the outbox imports from the bridge.
 */
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const OUTBOX_DIR = join(__dirname, "../../gateway/outbox");

describe("gateway floors", () => {
  it("gateway/outbox imports nothing from gateway/bridge", () => {
    const offenders: string[] = [];
    for (const name of readdirSync(OUTBOX_DIR).filter((n) => n.endsWith(".ts"))) {
      readFileSync(join(OUTBOX_DIR, name), "utf8").split("\n").forEach((line, i) => {
        if (/^\s*(import|export)\b.*from\s+["']\.\.\/bridge\//.test(line)) offenders.push(`gateway/outbox/${name}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, [], `the outbox imports up into the bridge:\n${offenders.join("\n")}`);
  });
});
