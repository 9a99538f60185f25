/**
 * Mocha root hook (.mocharc.json "require"): whatever a test starts, it stops, even when it
 * fails. After the last test, every process this run started that still runs — a socat pty
 * pair, a private broker, a child Node, started directly or by a child of the run — fails the
 * run, named with its command line and the test during which it started; then it is stopped.
 */
import { processInfo, processTable, runningDescendants, stillRunningAfter, type ProcessInfo } from "./processes";

/** A process stopped by the last test may take a moment to go (a kill not awaited). */
const GRACE_MS = 3000;

/** tsx's esbuild service: started by the TypeScript loader of this very run, not by a test. */
const isLoaderService = (p: ProcessInfo) => /\/esbuild --service=/.test(p.command);

const testsStarted: { at: number; title: string }[] = [];

/** The test that was running when a process started (its start time is known to 1/100 s). */
function startedDuring(p: ProcessInfo): string {
  const self = processInfo(process.pid);
  if (!self) return "an unknown test";
  const at = performance.timeOrigin + (p.startTicks - self.startTicks) * 10;
  const during = testsStarted.findLast((t) => t.at <= at + 10);
  return during ? `"${during.title}"` : "the run's set-up, before the first test";
}

export function leftoverReport(left: ProcessInfo[]): string {
  return `${left.length} process(es) started by this test run still run after its last test ` +
    `(whatever a test starts, it stops, even when it fails):\n` +
    left.map((p) => `  pid ${p.pid}: ${p.command}\n    started during ${startedDuring(p)}`).join("\n");
}

export const mochaHooks = {
  beforeEach: function noteTestStart(this: Mocha.Context) {
    testsStarted.push({ at: Date.now(), title: this.currentTest?.fullTitle() ?? "(unnamed test)" });
  },
  afterAll: async function noProcessLeftRunning(this: Mocha.Context) {
    this.timeout(GRACE_MS + 10_000);
    const started = runningDescendants(process.pid, processTable()).filter((p) => !isLoaderService(p));
    const stillRunning = new Set(await stillRunningAfter(started.map((p) => p.pid), GRACE_MS));
    const left = started.filter((p) => stillRunning.has(p.pid));
    if (left.length === 0) return;
    const report = leftoverReport(left);
    for (const p of left) {
      try { process.kill(p.pid, "SIGTERM"); } catch { /* gone meanwhile */ }
    }
    throw new Error(report);
  },
};
