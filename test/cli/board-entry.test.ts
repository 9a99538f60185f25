/**
 * `syspark board entry-terminal`: the lane controller's entry role as a firmware engineer runs it
 * by hand — its own process on one end of a socat pty pair, a gateway stand-in on the other, the
 * console on its stdin (`arrive`, `ticket`, `printed`).
 */
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { SerialPeer } from "../../hil/harness/serial-peer";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { requireToolOrSkip, spawnOwned } from "../../host/tools";
import { RealClock } from "../../sim/boards/virtual-clock";

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("syspark board entry-terminal", function () {
  this.timeout(60_000);
  let pty: PtyPair | undefined;
  let board: ChildProcess | undefined;
  let gw: SerialPeer | undefined;
  let ticker: NodeJS.Timeout | undefined;

  afterEach(async () => {
    clearInterval(ticker);
    board?.kill("SIGTERM");
    await gw?.close();
    await pty?.close();
  });

  it("announces the entry role, sends the ticket key typed on its console, and prints the admitted ticket", async function () {
    requireToolOrSkip(this, "socat");
    pty = await openPtyPair("cli-entry");
    board = spawnOwned("node", ["bin/syspark.js", "board", "entry-terminal", "--serial", pty.a, "--lane", "E7", "--quiet"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    board.stdout?.on("data", (d: Buffer) => { out += d.toString(); });
    gw = await SerialPeer.open({ path: pty.b, clock: new RealClock() });
    ticker = setInterval(() => gw?.tick(), 50);
    const peer = gw;
    await until(() => peer.hellos.some((h) => h.role === "entry"), 20_000, "the board's HELLO");
    expect(peer.hellos.find((h) => h.role === "entry")).to.include({ kind: "exit-controller", lane: "E7" });
    await gw.waitFor("STATE", { state: "idle" }, { timeoutMs: 10_000 });

    board.stdin?.write("arrive\n");
    await gw.waitFor("STATE", { state: "present" }, { timeoutMs: 10_000 });
    board.stdin?.write("ticket\n");
    await gw.waitFor("BUTTON", { name: "ticket" }, { timeoutMs: 10_000 });
    gw.send("ADMIT", { session: "S1", ticket: "TABCDEFGHIJKLMNOPQRSTUVWXYZ", code: "12345678" });
    await gw.waitFor("PRINTED", { ticket: "TABCDEFGHIJKLMNOPQRSTUVWXYZ", ok: "1" }, { timeoutMs: 10_000 });
    await gw.waitFor("AUTHORISED", { session: "S1" }, { timeoutMs: 10_000 });
    board.stdin?.write("printed\n");
    await until(() => /ticket TABCDEFGHIJKLMNOPQRSTUVWXYZ /.test(out), 10_000, "the console's list of printed tickets");
    expect(out).to.match(/entry-terminal \(simulated board, lane E7\)/);
    expect(out).to.match(/ticket TABCDEFGHIJKLMNOPQRSTUVWXYZ code 12345678 QR SPK1\.TABCDEFGHIJKLMNOPQRSTUVWXYZ/);
  });
});
