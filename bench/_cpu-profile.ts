/**
 * Where a process's CPU went during the load window, from the V8 CPU profile it wrote
 * (bench/_cpu-profile-preload.mjs switches the profiler on and off at the window's edges):
 * self time per function and per package (a native function counted with the code that called it). The window can be narrowed further (fromUs, toUs:
 * V8's sample clock, CLOCK_MONOTONIC in µs).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  /** Share of the window's sampled time. */
  share: number;
}

/** The package (node_modules/<name>), the project file's folder, node's internals or V8's own (GC, idle, program). */
function groupOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.startsWith("node:")) return "node:" + url.slice(5).split("/")[0];
  const project = /\/(cloud|contracts|host|hil|bench|stripe-emulator|cli|gateway)\/(.*)$/.exec(url);
  return project ? `${project[1]}/${project[2].split("/").slice(0, -1).join("/") || "."}` : url;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("node_modules/");
  if (nm !== -1) return url.slice(nm + 13);
  const p = /\/(cloud|contracts|host|hil|bench|stripe-emulator|cli|gateway)\/.*$/.exec(url);
  return p ? p[0].slice(1) : url;
}

/** Top self time by function and by package between fromUs and toUs. */
export function summariseProfile(profile: CpuProfile, top = 15, fromUs = -Infinity, toUs = Infinity): { byFunction: SelfTime[]; byPackage: SelfTime[]; sampledMs: number } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // A native function (a socket write, a hash) is charged to the code that called it: the
  // nearest frame outside node's own modules (a stream write says nothing; postgres or pino does).
  const callerUrl = (id: number): string => {
    let nodeInternal = "";
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = nodes.get(at)?.callFrame.url;
      if (url && !url.startsWith("node:")) return url;
      if (url && !nodeInternal) nodeInternal = url;
    }
    return nodeInternal;
  };
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const next = profile.timeDeltas[i + 1] ?? 0; // this sample stands for the time until the next one
    if (t < fromUs || t > toUs || next <= 0) continue;
    const node = nodes.get(profile.samples[i]);
    if (!node || node.callFrame.functionName === "(idle)") continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const caller = url || functionName.startsWith("(") ? "" : callerUrl(node.id);
    const fn = `${functionName || "(anonymous)"}${url ? ` ${shortUrl(url)}:${lineNumber + 1}` : caller ? ` (native, from ${shortUrl(caller)})` : ""}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + next);
    const pkg = groupOf(url || caller, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + next);
    total += next;
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, share: +(us / Math.max(1, total)).toFixed(3) }));
  return { byFunction: rank(byFunction), byPackage: rank(byPackage), sampledMs: Math.round(total / 1000) };
}

/** The profile at that path, once it is there (a process writes it when asked: wait up to timeoutMs). */
export async function readProfile(file: string, timeoutMs: number): Promise<CpuProfile> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    try {
      const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile & { error?: string };
      if (p.error) throw new Error(`the profiler failed: ${p.error}`);
      return p;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !(err instanceof SyntaxError)) throw err;
      if (performance.now() > until) throw new Error(`no CPU profile at ${file} after ${timeoutMs} ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
