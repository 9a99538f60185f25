/**
 * The root hook (test/setup/leaks.ts) fails a mocha run that leaves a process it started
 * running, and names it: here a run of one test that opens a socat pty pair and never closes it.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { requireToolOrSkip } from "../../host/tools";
import { processInfo } from "../setup/processes";

const MOCHA = fileURLToPath(new URL("../../node_modules/mocha/bin/mocha.js", import.meta.url));
const LEAKY = fileURLToPath(new URL("./fixtures/leaky.fixture.ts", import.meta.url));

describe("test runs: a process a test leaves running fails the run", function () {
  this.timeout(60_000);

  it("a run whose test leaves a socat pty pair open fails, naming socat, its pty path and the test", async function () {
    if (!requireToolOrSkip(this, "socat")) return;
    const child = spawn(process.execPath, [MOCHA, "--reporter", "dot", LEAKY], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { out += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    const leak = /LEAK (\{.*\})/.exec(out);
    const { pid, a } = leak ? (JSON.parse(leak[1]) as { pid: number; a: string }) : { pid: undefined, a: "" };
    try {
      expect(leak, out).to.not.equal(null);
      expect(code, out).to.equal(1);
      expect(out).to.include("1 process(es) started by this test run still run after its last test");
      expect(out).to.include(`pid ${pid}: `).and.include(`link=${a}`);
      expect(out).to.include('started during "a test that leaves its pty pair open opens a pty pair"');
    } finally {
      if (pid !== undefined && processInfo(pid)?.command.includes("socat")) process.kill(pid, "SIGTERM");
    }
  });
});
