/**
 * What a process starts beside it — a socat pty pair, a private Mosquitto — dies with it,
 * however it ends: SIGKILLed, failing with an uncaught error, or exiting without stopping them
 * (mocha's --exit). Each case runs in a child Node process (test/host/fixtures/owner.ts).
 */
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { requireToolOrSkip } from "../../host/tools";
import { processInfo, stillRunningAfter } from "../setup/processes";

const OWNER = fileURLToPath(new URL("./fixtures/owner.ts", import.meta.url));

/** Starts the owner; resolves with the pid it reports once what it started is up. */
function startOwner(what: "pty" | "mosquitto", ending: "sigkill" | "throw" | "exit"): { child: ChildProcess; started: Promise<number> } {
  const child = spawn(process.execPath, ["--import", "tsx", OWNER, what, ending], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
  const started = new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n")) resolve(JSON.parse(line).pid);
    });
    child.once("exit", (code) => reject(new Error(`owner exited (${code}) before reporting a pid: ${err.trim()}`)));
  });
  return { child, started };
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r()));

describe("host: what a process starts beside it dies with it", function () {
  this.timeout(60_000);
  const cases = [
    { what: "pty", tool: "socat", ending: "sigkill", how: "is SIGKILLed" },
    { what: "pty", tool: "socat", ending: "throw", how: "fails with an uncaught error" },
    { what: "pty", tool: "socat", ending: "exit", how: "calls process.exit() without closing it" },
    { what: "mosquitto", tool: "mosquitto", ending: "sigkill", how: "is SIGKILLed" },
  ] as const;

  for (const c of cases) {
    it(`${c.what === "pty" ? "a socat pty pair" : "a private Mosquitto"} is gone after the process that started it ${c.how}`, async function () {
      if (!requireToolOrSkip(this, c.tool)) return;
      const { child, started } = startOwner(c.what, c.ending);
      let pid: number | undefined;
      try {
        pid = await started;
        expect(processInfo(pid)?.command, "the owner reports what it started").to.include(c.tool);
        if (c.ending === "sigkill") child.kill("SIGKILL");
        await exited(child);
        const left = await stillRunningAfter([pid], 5000);
        expect(left, `${c.tool} (pid ${pid}) still runs 5 s after its owner ended: ${processInfo(pid)?.command}`).to.deep.equal([]);
      } finally {
        // Stop what a failing run left: the owner, and what it started (only if it is still it).
        if (child.exitCode === null && child.signalCode === null) { child.kill("SIGKILL"); await exited(child); }
        if (pid !== undefined && processInfo(pid)?.command.includes(c.tool)) process.kill(pid, "SIGTERM");
      }
    });
  }
});
