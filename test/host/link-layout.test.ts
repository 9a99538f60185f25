/**
 * host/link/ (issue 15): one byte-stream interface (host/link/byte-stream.ts) and one way to put
 * a LinkSession on a stream (host/link/stream-link.ts). The gateway, the harness, the simulated
 * boards and the tools build on those two instead of declaring their own.
 */
import { strict as assert } from "node:assert";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(__dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

const CODE = ["bench", "cli", "gateway", "hil", "host", "sim"].flatMap(sources);

function offenders(pattern: RegExp, allowed: string): string[] {
  const found: string[] = [];
  for (const file of CODE) {
    if (relative(allowed, file) === "") continue;
    readFileSync(join(ROOT, file), "utf8").split("\n").forEach((line, i) => {
      if (pattern.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

describe("host/link layout", () => {
  it("the byte-stream interface is declared once, in host/link/byte-stream.ts", () => {
    // An interface member (no body): `setReceiver(receiver: (bytes: Uint8Array) => void): void;`
    const found = offenders(/^\s*setReceiver\([^)]*\)\s*=>\s*void\)\s*:\s*void\s*;/, "host/link/byte-stream.ts");
    assert.deepEqual(found, [], `byte-stream interfaces declared outside host/link/byte-stream.ts:\n${found.join("\n")}`);
  });

  it("a LinkSession is put on a stream only by host/link/stream-link.ts", () => {
    const found = offenders(/new LinkSession\(/, "host/link/stream-link.ts");
    assert.deepEqual(found, [], `LinkSessions built outside host/link/stream-link.ts:\n${found.join("\n")}`);
  });
});
