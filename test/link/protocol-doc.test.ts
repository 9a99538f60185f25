import { expect } from "chai";
import { readFileSync } from "node:fs";
import { decodeFrame, encodeFrame } from "../../firmware/common/link/frame";
import { validateMessage } from "../../firmware/common/link/messages";
import { GENERATED_DOCS, regenerate } from "../../host/contract-docs";

describe("docs/protocol.md", () => {
  const doc = readFileSync("docs/protocol.md", "utf8");

  it("its test vectors decode as documented", () => {
    const block = /```vectors\n([\s\S]*?)```/.exec(doc);
    expect(block, "a ```vectors block").to.not.equal(null);
    const vectors = block![1].trim().split("\n").map((l) => l.split(" | ").map((s) => s.trim()));
    expect(vectors.length).to.be.at.least(12);
    for (const [expected, line] of vectors) {
      const r = decodeFrame(line);
      if (expected === "ok") {
        expect(r.ok, line).to.equal(true);
        if (r.ok) {
          expect(encodeFrame(r.frame), line).to.equal(line);
          expect(validateMessage(r.frame.type, r.frame.seq, r.frame.fields).ok, `${line} matches the catalogue`).to.equal(true);
        }
      } else {
        expect(r, line).to.deep.include({ ok: false, error: expected });
      }
    }
  });

  it("contract tables in docs/ are generated from the code and up to date (run `syspark docs`)", () => {
    for (const file of GENERATED_DOCS) {
      const text = readFileSync(file, "utf8");
      expect(regenerate(text) === text, `${file} is stale: run node bin/syspark.js docs`).to.equal(true);
      expect(text).to.match(/<!-- BEGIN GENERATED/);
    }
  });
});
