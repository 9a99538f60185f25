/**
 * `npm run bench -- hil [--speed n] [--grep <pattern>]`: the HIL scenario library on `sim` — wall time, the
 * lane time the scenarios covered (simulated_s), and their ratio (how much faster than real
 * time the library runs). The anchor is the library's own lane time, measured in the same run.
 *
 * Honest note: the gateway and the cloud have no virtual clock and run on wall time; `--speed n`
 * runs the boards and the plant n× faster (hil/harness/scaled-clock.ts), so the ratio is about
 * n× minus the set-up and wall-clock waits; see docs/hil.md for what full virtual time needs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runHil } from "../hil/harness/runner";

export async function run(args: string[]): Promise<void> {
  const g = args.indexOf("--grep");
  const grep = g >= 0 ? args[g + 1] : undefined;
  const sp = args.indexOf("--speed");
  const speed = sp >= 0 ? Number(args[sp + 1]) : 1;
  if (!(Number.isInteger(speed) && speed >= 1 && speed <= 10)) throw new Error(`--speed must be a whole number between 1 and 10, got "${args[sp + 1]}"`);
  const dir = mkdtempSync(join(tmpdir(), "syspark-bench-hil-"));
  try {
    const s = await runHil({ target: "sim", speed, ...(grep ? { grep } : {}), reportDir: dir });
    const wall = s.wallMs / 1000, simulated = s.laneTimeMs / 1000;
    console.log(`speed: boards and plant at ${speed}× the wall clock (gateway and cloud on wall time)`);
    console.log(`scenarios: ${s.results.length} (${s.passed} passed, ${s.failed} failed, ${s.infra} infrastructure errors)`);
    console.log(`wall time: ${wall.toFixed(1)} s   lane (simulated) time: ${simulated.toFixed(1)} s   ratio: ${(simulated / wall).toFixed(2)}× real time`);
    for (const r of s.results) console.log(`  ${r.state.padEnd(7)} ${(r.durationMs / 1000).toFixed(1).padStart(6)} s wall ${(r.laneTimeMs / 1000).toFixed(1).padStart(6)} s lane  ${r.fullTitle}`);
    console.log(JSON.stringify({ scenarios: s.results.length, passed: s.passed, speed, wall_s: Number(wall.toFixed(2)), simulated_s: Number(simulated.toFixed(2)), ratio_realtime: Number((simulated / wall).toFixed(3)) }));
    if (s.exitCode !== 0) process.exitCode = s.exitCode;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
