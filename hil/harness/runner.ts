/**
 * `syspark hil run`: mocha underneath. Loads the scenario files from hil/scenarios/, runs them
 * against `sim` or `rig`, shows progress on stderr, and writes JUnit XML and an HTML report.
 * Exit code: 0 all passed, 1 a scenario failed, 2 an infrastructure error (the rig, not the
 * firmware) — infrastructure wins when both happen.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { Rig } from "../rig/schema";
import { setRunContext, type ScenarioRecord } from "./context";
import { startHilCloud, type HilCloud, type Target } from "./env";
import { isInfrastructureError } from "./errors";
import type { SiteClock, SiteClockStats } from "./site-clock";
import type { ScenarioResult } from "../report/result";

export type { ScenarioResult };


export interface RunOptions {
  target: Target;
  rig?: Rig;
  grep?: string;
  junit?: string;
  html?: string;
  /** DUT logs and per-scenario files (default: next to the HTML report, else ./hil-report). */
  reportDir?: string;
  logger?: Logger;
  links?: "auto" | "pty" | "memory";
  /** sim: "virtual" (default: one site clock that jumps ahead while the site is idle) or "wall"; rig: "wall". */
  clock?: "virtual" | "wall";
  /** Run a failed scenario again up to n times (a fresh lane set each time); a pass after a retry is reported as flaky. */
  retries?: number;
  /** Progress lines (stderr by default). */
  progress?: (line: string) => void;
  scenarioDir?: string;
}

export interface RunSummary {
  results: ScenarioResult[];
  passed: number;
  failed: number;
  infra: number;
  skipped: number;
  wallMs: number;
  laneTimeMs: number;
  /** Under the virtual site clock: how virtual time moved. */
  siteClock?: SiteClockStats;
  exitCode: 0 | 1 | 2;
}

export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "scenarios");

/** The lanes the scenario library uses: their XS builds are made before the first scenario. */
const XS_PREBUILT_LANES = ["L1", "L2"];

export async function runHil(opts: RunOptions): Promise<RunSummary> {
  // On a terminal each line first clears the transient "scenario in progress" line.
  const progress = opts.progress ?? ((line: string) => process.stderr.write((process.stderr.isTTY ? "\r\x1b[K" : "") + line + "\n"));
  const reportDir = resolve(opts.reportDir ?? (opts.html ? join(dirname(opts.html), "hil-logs") : "hil-report"));
  mkdirSync(reportDir, { recursive: true });
  const clockMode = opts.clock ?? (opts.target === "sim" ? "virtual" : "wall");
  if (clockMode === "virtual" && opts.target !== "sim") throw new Error("virtual time is for --target sim: real boards run in real time");
  // Mocha first: it keeps the real timers it finds at load for its timeouts, before the site clock replaces them.
  const { default: Mocha } = await import("mocha");
  const started = performance.now();
  let siteClock: SiteClock | undefined, clockStats: SiteClockStats | undefined;
  if (clockMode === "virtual") siteClock = (await import("./site-clock")).SiteClock.install();
  const records = new Map<string, ScenarioRecord>();
  let cloud: Promise<HilCloud> | undefined;
  setRunContext({
    target: opts.target, ...(opts.rig ? { rig: opts.rig } : {}), reportDir, records, wallClock: clockMode === "wall",
    ...(opts.logger ? { logger: opts.logger } : {}), ...(opts.links ? { links: opts.links } : {}),
    cloud: () => {
      if (!cloud) {
        progress("  starting the cloud (embedded PostgreSQL, MQTT broker, Stripe emulator)…");
        // Its start (WebAssembly compilation off the main thread) is invisible to the site clock: real time.
        cloud = siteClock ? siteClock.realTime(() => startHilCloud(opts.logger)) : startHilCloud(opts.logger);
      }
      return cloud;
    },
  });
  const preflight = await runPreflight(opts, progress);
  const results: ScenarioResult[] = [];
  const retried = new Map<string, string[]>();
  const dir = opts.scenarioDir ?? SCENARIO_DIR;
  const files = readdirSync(dir).filter((f) => f.endsWith(".scenario.ts")).sort().map((f) => join(dir, f));
  const Progress = scenarioReporter({ results, records, retried, progress, target: opts.target, quiet: opts.progress !== undefined });
  if (preflight.length) results.push(...preflight);
  const mocha = new Mocha({ reporter: Progress as unknown as Mocha.ReporterConstructor, timeout: 60_000, retries: opts.retries ?? 0, ...(opts.grep ? { grep: opts.grep } : {}) });
  for (const f of files) mocha.addFile(f);
  try {
    await mocha.loadFilesAsync();
    if (!preflight.length) await new Promise<void>((res) => mocha.run(() => res()));
  } finally {
    if (cloud) await (await cloud.catch(() => undefined))?.close().catch(() => {});
    setRunContext(undefined);
    mocha.dispose();
    clockStats = siteClock?.stats;
    await siteClock?.uninstall();
  }
  const wallMs = performance.now() - started;
  const n = (s: ScenarioResult["state"]) => results.filter((r) => r.state === s).length;
  const summary: RunSummary = {
    results, passed: n("passed"), failed: n("failed"), infra: n("infra"), skipped: n("skipped"), wallMs,
    laneTimeMs: results.reduce((a, r) => a + r.laneTimeMs, 0),
    ...(clockStats ? { siteClock: clockStats } : {}),
    exitCode: n("infra") ? 2 : n("failed") ? 1 : 0,
  };
  await writeReports(opts, results, wallMs, clockMode);
  const flaky = results.filter((r) => r.state === "passed" && r.retried).length;
  progress(`hil: ${summary.passed} passed${flaky ? ` (${flaky} flaky: passed on a retry)` : ""}, ${summary.failed} failed, ${summary.infra} infrastructure error(s), ${summary.skipped} skipped in ${(wallMs / 1000).toFixed(1)} s`);
  return summary;
}

/**
 * What must hold before any scenario starts: on a rig, every port of the rig file exists
 * (labgrid-style resource check); on xs, both firmwares of the library's lanes are built. Each
 * problem is an infrastructure result (and no scenario runs).
 */
async function runPreflight(opts: RunOptions, progress: (line: string) => void): Promise<ScenarioResult[]> {
  const preflight: ScenarioResult[] = [];
  if (opts.target === "rig") {
    const ports = opts.rig ? [...opts.rig.boards.map((b) => ({ what: `${b.kind} of lane ${b.lane}`, port: b.port })), ...(opts.rig.io_emulator.type === "serial" ? [{ what: "I/O emulator", port: opts.rig.io_emulator.port }] : [])] : [];
    const problems = opts.rig ? ports.filter((p) => !existsSync(p.port)).map((p) => `${p.what}: serial port ${p.port} does not exist (board unplugged? wrong path in the rig file?)`) : ["--target rig needs a rig file"];
    for (const message of problems) preflight.push({ title: "rig preflight", fullTitle: `rig preflight: ${message}`, suite: "rig", state: "infra", durationMs: 0, logs: [], laneTimeMs: 0, error: { name: "InfrastructureError", message } });
    for (const r of preflight) progress(`INFR ${r.error!.message}`);
  }
  if (opts.target === "xs") {
    // Both firmwares for the library's lanes, built (or found in the cache) before any scenario's clock runs.
    const { buildLinFirmware, moddableTools } = await import("../xs/xs-firmware");
    const { linDevicesDir } = await import("../xs/xs-lane");
    try {
      const tools = moddableTools();
      for (const lane of XS_PREBUILT_LANES) {
        for (const board of ["exit-controller", "barrier-executor"] as const) {
          const b = await buildLinFirmware(tools, board, { lane, linDevices: linDevicesDir(board, lane) }, progress);
          progress(`  xs: ${board} ${lane}: ${b.cached ? "cached build" : "built"}, ${b.ownWarnings.length} warning(s) from SysPark's files`);
        }
      }
    } catch (err) {
      const message = (err as Error).message;
      preflight.push({ title: "xs preflight", fullTitle: `xs preflight: ${message}`, suite: "xs", state: "infra", durationMs: 0, logs: [], laneTimeMs: 0, error: { name: "InfrastructureError", message } });
      progress(`INFR ${message}`);
    }
  }
  return preflight;
}

/** The JUnit and HTML reports the options ask for. */
async function writeReports(opts: RunOptions, results: ScenarioResult[], wallMs: number, clockMode: "virtual" | "wall"): Promise<void> {
  if (opts.junit) {
    const { junitXml } = await import("../report/junit");
    mkdirSync(dirname(resolve(opts.junit)), { recursive: true });
    writeFileSync(opts.junit, junitXml(results, { name: `syspark hil (${opts.target})`, wallMs }));
  }
  if (opts.html) {
    const { htmlReport } = await import("../report/html");
    mkdirSync(dirname(resolve(opts.html)), { recursive: true });
    writeFileSync(opts.html, htmlReport(results, { title: `SysPark HIL report (${opts.target})`, target: opts.target, wallMs, htmlPath: resolve(opts.html), clock: clockMode }));
  }
}

/**
 * The mocha reporter of a run: each scenario's result (with its logs, lane time and timeline from
 * `records`) into `results`, one progress line each, retries remembered in `retried`.
 */
function scenarioReporter(o: { results: ScenarioResult[]; records: Map<string, ScenarioRecord>; retried: Map<string, string[]>; progress: (line: string) => void; target: RunOptions["target"]; quiet: boolean }) {
  const { results, records, retried, progress } = o;
  let total = 0;
  return class Progress {
    constructor(runner: Mocha.Runner) {
      const record = (test: Mocha.Test, state: ScenarioResult["state"], err?: Error) => {
        const fullTitle = test.fullTitle();
        const rec = records.get(fullTitle);
        const earlier = retried.get(fullTitle);
        const r: ScenarioResult = {
          title: test.title, fullTitle, suite: test.parent?.fullTitle() ?? "", state, durationMs: test.duration ?? 0,
          logs: rec?.logs ?? [], laneTimeMs: rec?.laneTimeMs ?? 0,
          ...(rec?.timeline ? { timeline: rec.timeline } : {}),
          ...(earlier ? { retried: earlier } : {}),
          ...(err ? { error: { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) } } : {}),
        };
        results.push(r);
        const mark = state === "passed" ? "ok  " : state === "failed" ? "FAIL" : state === "infra" ? "INFR" : "skip";
        progress(`[${String(results.length).padStart(2)}/${total}] ${mark} ${fullTitle} (${(r.durationMs / 1000).toFixed(1)} s)${err ? `\n        ${err.message.split("\n")[0]}` : ""}${earlier && state === "passed" ? `\n        FLAKY: passed on attempt ${earlier.length + 1}; failed before with: ${earlier[0]}` : ""}`);
      };
      // On a terminal, the scenario in progress shows on a transient line.
      const tty = !o.quiet && process.stderr.isTTY;
      if (tty) {
        runner.on("test", (t) => process.stderr.write(`\r\x1b[K  … ${t.fullTitle().slice(0, (process.stderr.columns ?? 100) - 6)}`));
      }
      runner.on("start", () => { total = runner.total; progress(`hil: ${total} scenario(s) on ${o.target}`); });
      runner.on("pass", (t) => record(t, "passed"));
      runner.on("retry", (t: Mocha.Test, err: Error) => {
        const title = t.fullTitle();
        retried.set(title, [...(retried.get(title) ?? []), err.message.split("\n")[0]]);
        progress(`  retry ${title}: ${err.message.split("\n")[0]}`);
      });
      runner.on("fail", (t, err: Error) => {
        if (t.type !== "test") { results.push({ title: t.title, fullTitle: t.fullTitle(), suite: "", state: isInfrastructureError(err) ? "infra" : "failed", durationMs: 0, logs: [], laneTimeMs: 0, error: { name: err.name, message: err.message } }); progress(`hook failed: ${t.fullTitle()}: ${err.message}`); return; }
        record(t as Mocha.Test, isInfrastructureError(err) ? "infra" : "failed", err);
      });
      runner.on("pending", (t) => record(t, "skipped"));
    }
  };
}
