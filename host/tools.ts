/**
 * External programs some parts and tests need (socat, iverilog, verilator, yosys, chromium).
 * Tests skip with a clear reason when one is missing on a developer machine; CI sets
 * SYSPARK_REQUIRE_TOOLS=1 so that a missing tool fails instead of silently skipping.
 * Programs that run beside SysPark (socat pty pairs, a private Mosquitto) are started with
 * spawnOwned, so that they never outlive whoever started them.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

export function which(tool: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function requireToolOrSkip(ctx: Mocha.Context, tool: string, debianPackage = tool): string | undefined {
  const path = which(tool);
  if (path) return path;
  if (process.env.SYSPARK_REQUIRE_TOOLS === "1") {
    throw new Error(`${tool} is required (SYSPARK_REQUIRE_TOOLS=1): apt-get install -y ${debianPackage}`);
  }
  console.warn(`      skipped: ${tool} not installed (apt-get install -y ${debianPackage})`);
  ctx.skip();
  return undefined;
}

/** `setpriv` (util-linux ≥ 2.33, on every Debian): looked up once, the first time a child is spawned. */
let setpriv: string | null | undefined;
function setprivPath(): string | null {
  if (setpriv === undefined) setpriv = process.platform === "linux" ? which("setpriv") ?? null : null;
  return setpriv;
}

/** Children of spawnOwned still running: killed on this process's 'exit' (the only guard without setpriv). */
const owned = new Set<ChildProcess>();
const killOwned = () => { for (const child of owned) child.kill(); };

/**
 * Starts `command` as a child that dies with this process, however this process ends: a normal
 * exit, process.exit(), an uncaught error, a signal, even SIGKILL. On Linux it runs under
 * `setpriv --pdeathsig SIGTERM`, which asks the kernel to send it SIGTERM when its parent goes
 * and then execs the command (same pid, signals reach the command itself). The kernel ties that
 * signal to the spawning thread: spawn from the main thread, not from a worker that ends first;
 * and a program that switches user drops it (keep it as this process's user: host/mosquitto.ts).
 * Without setpriv (not Linux), the child is killed on this process's 'exit', which covers every
 * ending but a fatal signal. `command` must be a path or a program on PATH: its absence shows as
 * the child exiting with 127 (setpriv's "failed to execute"), or as an 'error' without setpriv.
 */
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const wrapper = setprivPath();
  const child = wrapper
    ? spawn(wrapper, ["--pdeathsig", "SIGTERM", "--", command, ...args], options)
    : spawn(command, args, options);
  if (child.pid === undefined) return child; // it never ran: its 'error' says why
  if (owned.size === 0) process.on("exit", killOwned);
  owned.add(child);
  child.once("exit", () => {
    owned.delete(child);
    if (owned.size === 0) process.off("exit", killOwned);
  });
  return child;
}

/**
 * `signal` to the whole process group of a child started with `detached: true` (the child and
 * whatever it started); resolves once the child itself has exited. Nothing if it already has.
 */
export async function killProcessGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, signal);
  } catch {
    return; // the group is already gone
  }
  await gone;
}
