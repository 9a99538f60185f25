/**
 * A pair of connected pseudo-terminals made by socat: a real serial device path on each side,
 * so boards and the gateway open them with `serialport` exactly as they open /dev/ttyUSB0.
 * Whoever opens a pair owns it and closes it; socat also dies with the process that opened the
 * pair (spawnOwned), so a run that fails, exits early or is killed leaves no socat behind.
 */
import { type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnOwned, which } from "../tools";

export interface PtyPair {
  /** Device path for one end (e.g. the board). */
  a: string;
  /** Device path for the other end (e.g. the gateway or test). */
  b: string;
  close(): Promise<void>;
}

let socat: string | undefined;

/** A socat pty pair whose ends are the symlinks `<dir>/<name>-a` and `-b`, or the paths in `links`. */
export async function openPtyPair(name = "link", dir?: string, links?: { a: string; b: string }): Promise<PtyPair> {
  socat ??= which("socat");
  if (!socat) throw new Error("socat is not installed (apt-get install -y socat)");
  const base = links ? "" : (dir ?? mkdtempSync(join(tmpdir(), "syspark-pty-")));
  const a = links?.a ?? join(base, `${name}-a`), b = links?.b ?? join(base, `${name}-b`);
  const proc: ChildProcess = spawnOwned(socat, ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve) => {
    if (proc.pid === undefined) resolve();
    else proc.once("exit", () => resolve());
  });
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) proc.kill("SIGTERM");
    await exited;
  };
  const spawnError = new Promise<never>((_, reject) => proc.once("error", (err) => reject(new Error(`socat could not start: ${err.message} (apt-get install -y socat)`))));
  const deadline = Date.now() + 5000;
  try {
    while (!(existsSync(a) && existsSync(b) && stderr.includes("starting data transfer loop"))) {
      if (proc.exitCode !== null) throw new Error(`socat exited: ${stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`socat did not create ${a} and ${b} within 5 s: ${stderr.trim()}`);
      await Promise.race([new Promise((r) => setTimeout(r, 10)), spawnError]);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { a, b, close };
}
