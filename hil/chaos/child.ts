/**
 * A part of SysPark run as a child process the way it runs in production (`node bin/syspark.js
 * <command>`), in a process group of its own so that SIGKILL takes it whole — tsx's loader and
 * anything it started — and nothing of it outlives the campaign, even when the campaign fails.
 */
import type { ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { killProcessGroup, spawnOwned } from "../../host/tools";

export const SYSPARK_BIN = fileURLToPath(new URL("../../bin/syspark.js", import.meta.url));

export interface PartProcess {
  readonly pid: number;
  /** Resolves when the part prints a line matching `ready`; rejects if it exits first or after timeoutMs. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGKILL to the whole group; resolves once the part is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (a clean stop), then SIGKILL after graceMs; resolves once the part is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartPartOptions {
  /** `syspark` subcommand and its arguments. */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** The line (stdout or stderr) that says the part is serving. */
  ready: RegExp;
  readyTimeoutMs: number;
  /** Both streams are appended here (the part's own log, for the report on failure). */
  logFile: string;
  /** Name in messages. */
  name: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Whatever is still running when this process exits (an uncaught error) is killed with it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of live) killGroup(c, "SIGKILL");
  });
}

function killGroup(c: ChildProcess, signal: NodeJS.Signals): void {
  void killProcessGroup(c, signal);
}

export function startPart(o: StartPartOptions): PartProcess {
  installExitHook();
  const log: WriteStream = createWriteStream(o.logFile, { flags: "a" });
  log.write(`\n=== ${new Date().toISOString()} start ${o.name}: syspark ${o.args.join(" ")}\n`);
  // Owned: it dies with this process even if this one is SIGKILLed (setpriv --pdeathsig).
  const child = spawnOwned(process.execPath, [SYSPARK_BIN, ...o.args], { env: o.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  if (child.pid === undefined) throw new Error(`${o.name} could not be started`);
  const pid = child.pid;
  live.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once("close", (code, signal) => {
      live.delete(child);
      log.end(`=== ${new Date().toISOString()} ${o.name} exited (${signal ?? code})\n`);
      resolve(code);
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${o.name} did not print ${o.ready} within ${o.readyTimeoutMs} ms (log: ${o.logFile})`)), o.readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      seen = (seen + chunk.toString()).slice(-4096);
      if (o.ready.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${o.name} exited (${code ?? "signal"}) before it was ready (log: ${o.logFile})`));
    });
  });
  ready.catch(() => undefined); // observed by whoever awaits it
  const kill = async (signal: NodeJS.Signals, graceMs: number) => {
    killGroup(child, signal);
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return { pid, ready, exited, kill9: () => kill("SIGKILL", 0), stop: (graceMs = 10_000) => kill("SIGTERM", graceMs) };
}
