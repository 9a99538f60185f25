/**
 * Where a benchmark's CPU goes, per message and per process (Linux /proc; elsewhere nothing).
 * On a machine with fewer cores than busy processes a rate is set by the sum of everyone's
 * CPU per message, not by the slowest one: this says who that sum is made of, measured over the
 * same window as the rate.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const TICK_MS = 10;

function processTicks(pid: number, kernelOnly = false): number | undefined {
  const stat = readOrUndefined(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // Fields after the command (which may hold spaces, hence the last parenthesis): utime, stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (kernelOnly ? 0 : Number(f[11])) + Number(f[12]);
}

/** Busy and idle ticks of the whole machine (all cores). */
function machineTicks(): { busy: number; idle: number } | undefined {
  const stat = readOrUndefined("/proc/stat");
  if (stat === undefined) return undefined;
  // cpu user nice system idle iowait irq softirq steal …
  const v = stat.split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  return { busy: v.slice(0, 8).reduce((a, b) => a + b, 0) - idle, idle };
}

/** µs of CPU per message: each named process, `rest` (the rest of the machine: kernel, other processes) and `idle` (cores with nothing to run). */
export type CpuPerMessage = Record<string, number>;

export interface CpuWindow {
  /** Closes the window. */
  perMessage: (messages: number) => CpuPerMessage | undefined;
}

/** The process of that command name, when there is exactly one (e.g. the machine's Mosquitto). */
export function pidNamed(comm: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  const found = entries.filter((d) => /^\d+$/.test(d) && readOrUndefined(`/proc/${d}/comm`)?.trim() === comm).map(Number);
  return found.length === 1 ? found[0] : undefined;
}

/**
 * Every process of that command name (e.g. all `postgres` processes: the postmaster, its
 * background workers and one backend per connection, whoever opened it).
 */
export function pidsNamed(comm: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  return entries.filter((d) => /^\d+$/.test(d) && readOrUndefined(`/proc/${d}/comm`)?.trim() === comm).map(Number);
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * What one name in a window stands for: a process, or a group listed again when the window
 * closes (processes that come and go: a server's backends). A group member started inside the
 * window counts from zero; one gone before the window closes is missed.
 */
export type Measured = number | undefined | (() => number[]);

function groupTicks(pids: number[], kernelOnly: boolean): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    const t = processTicks(pid, kernelOnly);
    if (t !== undefined) m.set(pid, t);
  }
  return m;
}

/** Ticks of the name since the start snapshot. */
function ticksSince(measured: Measured, start: number | Map<number, number> | undefined, kernelOnly: boolean): number | undefined {
  if (typeof measured === "function") {
    const before = start as Map<number, number>;
    let sum = 0;
    for (const [pid, t] of groupTicks(measured(), kernelOnly)) sum += t - (before.get(pid) ?? 0);
    return sum;
  }
  const b = measured === undefined ? undefined : processTicks(measured, kernelOnly);
  return start === undefined || b === undefined ? undefined : b - (start as number);
}

/**
 * Starts measuring the named processes (and the machine) from now. `kernelOnly`: the processes'
 * time in the kernel alone (system calls: socket writes, for one), beside the same window's total.
 */
export function cpuWindow(pids: Record<string, Measured>, kernelOnly = false): CpuWindow {
  const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, typeof pid === "function" ? groupTicks(pid(), kernelOnly) : pid === undefined ? undefined : processTicks(pid, kernelOnly)]));
  const m0 = machineTicks();
  return {
    perMessage: (messages) => {
      const m1 = machineTicks();
      if (!m0 || !m1) return undefined;
      const us = (ticks: number) => Math.round((ticks * TICK_MS * 1000) / messages);
      const out: CpuPerMessage = {};
      let named = 0;
      for (const [name, pid] of Object.entries(pids)) {
        const d = ticksSince(pid, start[name], kernelOnly);
        if (d === undefined) continue;
        out[name] = us(d);
        named += d;
      }
      out.rest = us(m1.busy - m0.busy - named);
      out.idle = us(m1.idle - m0.idle);
      return out;
    },
  };
}
