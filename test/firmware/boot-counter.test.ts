import { expect } from "chai";
import { readFileSync } from "node:fs";
import { bootPreference, nextBootCount, type PreferenceStore } from "../../firmware/common/io/boot-counter";

/** One preferences store shared by every build, as on a lin bench host. */
function sharedStore(): PreferenceStore & { entries: Map<string, unknown> } {
  const entries = new Map<string, unknown>();
  return { entries, get: (d, k) => entries.get(`${d}/${k}`), set: (d, k, v) => { entries.set(`${d}/${k}`, v); } };
}

describe("board boot counters", () => {
  it("each board kind and each lane counts its own boots in a shared store", () => {
    const store = sharedStore();
    expect(nextBootCount(store, "exit-controller", "L1")).to.equal(1);
    expect(nextBootCount(store, "barrier-executor", "L1")).to.equal(1);
    expect(nextBootCount(store, "exit-controller", "L1")).to.equal(2);
    expect(nextBootCount(store, "exit-controller", "L2")).to.equal(1);
    expect(nextBootCount(store, "barrier-executor", "L1")).to.equal(2);
    expect(nextBootCount(store, "exit-controller", "L1")).to.equal(3);
  });

  it("keeps a counter across restarts and ignores a corrupt value", () => {
    const store = sharedStore();
    const { domain, key } = bootPreference("exit-controller", "L1");
    store.set(domain, key, 41);
    expect(nextBootCount(store, "exit-controller", "L1")).to.equal(42);
    store.entries.set(`${domain}/${key}`, "junk");
    expect(nextBootCount(store, "exit-controller", "L1")).to.equal(1);
  });

  it("names fit the ESP32 NVS limit (15 characters) even for a 16-character lane", () => {
    for (const kind of ["exit-controller", "barrier-executor"] as const) {
      for (const lane of ["L1", "north-gate-lane7", "north-gate-lane8"]) {
        const { domain, key } = bootPreference(kind, lane);
        expect(domain.length, domain).to.be.at.most(15);
        expect(key.length, key).to.be.at.most(15);
      }
    }
    expect(bootPreference("exit-controller", "north-gate-lane7").key).to.not.equal(bootPreference("exit-controller", "north-gate-lane8").key);
  });

  it("both XS entry points take their counter from the one XS host (nextBootCount) with their own kind", () => {
    const host = readFileSync("firmware/common/xs/boot.ts", "utf8");
    expect(host).to.match(/bootCount: nextBootCount\(Preference, kind, lane\)/);
    expect(host).to.not.match(/Preference\.(get|set)\(/);
    for (const kind of ["exit-controller", "barrier-executor"]) {
      const main = readFileSync(`firmware/${kind}/xs/main.ts`, "utf8");
      expect(main, kind).to.match(new RegExp(`xsHost<\\w+>\\("${kind}"\\)`));
      expect(main, kind).to.not.match(/Preference/);
    }
  });
});
