/**
 * The machine's process table as Linux shows it in /proc: who started whom, and whether a
 * process is still running. Tests use it to prove that what a run started is gone after it
 * (test/setup/leaks.ts). Elsewhere than Linux the table is empty and the checks pass vacuously.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** R, S, D, T, Z… (Z: exited, waiting for its parent to collect it: not running). */
  state: string;
  /** When it started, in clock ticks (1/100 s) since the machine booted. */
  startTicks: number;
  command: string;
}

/** One process's line of /proc, or undefined when it is gone. */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    return { pid, ppid: Number(fields[1]), state: fields[0], startTicks: Number(fields[19]), command: cmdline || `[${comm}]` };
  } catch {
    return undefined;
  }
}

export function processTable(): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>();
  let entries: string[];
  try { entries = readdirSync("/proc"); } catch { return table; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const p = processInfo(Number(e));
    if (p) table.set(p.pid, p);
  }
  return table;
}

export function isRunning(pid: number): boolean {
  const p = processInfo(pid);
  return p !== undefined && p.state !== "Z";
}

/** Every running process below `pid` (children, their children…). */
export function runningDescendants(pid: number, table = processTable()): ProcessInfo[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const p of table.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found: ProcessInfo[] = [];
  const visit = (parent: number) => {
    for (const c of children.get(parent) ?? []) {
      if (c.state !== "Z") found.push(c);
      visit(c.pid);
    }
  };
  visit(pid);
  return found;
}

/**
 * Waits until none of `pids` runs any more, or `ms` has passed: the ones still running then.
 * These are not this process's children (no 'exit' event to await), so it looks every 20 ms.
 */
export async function stillRunningAfter(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const running = pids.filter(isRunning);
    if (running.length === 0 || Date.now() >= deadline) return running;
    await new Promise((r) => setTimeout(r, 20));
  }
}
