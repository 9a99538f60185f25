import { expect } from "chai";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { buildProgram } from "../../cli/main";

function allCommands(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...allCommands(c, [...prefix, c.name()])]);
}

describe("syspark CLI", function () {
  this.timeout(60000);

  it("has --help on every subcommand", async () => {
    const program = await buildProgram();
    const commands = allCommands(program);
    expect(commands.map((c) => c.join(" "))).to.include.members(["board exit-controller", "board entry-terminal", "check-firmware", "up", "docs"]);
    for (const path of commands) {
      const out = execFileSync("node", ["bin/syspark.js", ...path, "--help"], { encoding: "utf8" });
      expect(out, path.join(" ")).to.match(/^Usage: syspark /);
    }
  });

  it("refuses bad flags with a precise message", () => {
    const r = spawnSync("node", ["bin/syspark.js", "up", "--http-port", "99999"], { encoding: "utf8" });
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.match(/--http-port must be between 0 and 65535, got 99999/);
    const lanes = spawnSync("node", ["bin/syspark.js", "up", "--lanes", "two"], { encoding: "utf8" });
    expect(lanes.status).to.not.equal(0);
    expect(lanes.stderr).to.match(/--lanes must be a whole number, got "two"/);
    const missing = spawnSync("node", ["bin/syspark.js", "board", "exit-controller"], { encoding: "utf8" });
    expect(missing.status).to.not.equal(0);
    expect(missing.stderr).to.match(/required option '--serial <path>'/);
  });

  it("check-firmware fails on Node or npm use under firmware/", () => {
    const root = mkdtempSync(join(tmpdir(), "fwcheck-"));
    cpSync("firmware", join(root, "firmware"), { recursive: true });
    cpSync("manifests", join(root, "manifests"), { recursive: true });
    // the typings are found relative to the copied tsconfig
    mkdirSync(join(root, "node_modules", "@moddable"), { recursive: true });
    cpSync("node_modules/@moddable/typings", join(root, "node_modules", "@moddable", "typings"), { recursive: true });
    const ok = spawnSync("node", [join(process.cwd(), "bin/syspark.js"), "check-firmware", "--root", root], { encoding: "utf8", cwd: root });
    expect(ok.status, ok.stderr).to.equal(0);
    writeFileSync(join(root, "firmware", "common", "bad.ts"), 'import { readFileSync } from "node:fs";\nimport mqtt from "mqtt";\nexport const x = Buffer.from("a");\nexport const y = readFileSync;\nexport const z = mqtt;\n');
    const bad = spawnSync("node", [join(process.cwd(), "bin/syspark.js"), "check-firmware", "--root", root], { encoding: "utf8", cwd: root });
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/bad\.ts:1 Node built-in "node:fs"/);
    expect(bad.stderr).to.match(/bad\.ts:2 "mqtt" is an npm or Node module/);
    expect(bad.stderr).to.match(/bad\.ts:3 uses Buffer/);
  });
});
