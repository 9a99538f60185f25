/**
 * A pair of connected pseudo-terminals made by socat: a real serial device path on each side,
 * so boards and the gateway open them with `serialport` exactly as they open /dev/ttyUSB0.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PtyPair {
  /** Device path for one end (e.g. the board). */
  a: string;
  /** Device path for the other end (e.g. the gateway or test). */
  b: string;
  close(): Promise<void>;
}

export async function openPtyPair(name = "link", dir?: string): Promise<PtyPair> {
  const base = dir ?? mkdtempSync(join(tmpdir(), "syspark-pty-"));
  const a = join(base, `${name}-a`), b = join(base, `${name}-b`);
  const proc: ChildProcess = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
  const spawnError = new Promise<never>((_, reject) => proc.once("error", (err) => reject(new Error(`socat could not start: ${err.message} (apt-get install -y socat)`))));
  const deadline = Date.now() + 5000;
  while (!(existsSync(a) && existsSync(b) && stderr.includes("starting data transfer loop"))) {
    if (proc.exitCode !== null) throw new Error(`socat exited: ${stderr.trim()}`);
    if (Date.now() > deadline) { proc.kill(); throw new Error(`socat did not create ${a} and ${b} within 5 s: ${stderr.trim()}`); }
    await Promise.race([new Promise((r) => setTimeout(r, 10)), spawnError]);
  }
  return {
    a, b,
    close: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGTERM");
    }),
  };
}
