/**
 * `npm run bench -- hil [--clock virtual|wall] [--links auto|pty|memory] [--grep <pattern>]`: the HIL scenario library on
 * `sim` — wall time, the lane time the scenarios covered (simulated_s), and their ratio (how much
 * faster than real time the library runs). The anchor is the library's own lane time, measured
 * in the same run on the one virtual site clock that boards, plant, gateway, cloud and scenarios
 * share (hil/harness/site-clock.ts). `--clock wall` runs the same library in real time (ratio ~1).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runHil } from "../hil/harness/runner";

export async function run(args: string[]): Promise<void> {
  const g = args.indexOf("--grep");
  const grep = g >= 0 ? args[g + 1] : undefined;
  const c = args.indexOf("--clock");
  const clock = c >= 0 ? args[c + 1] : "virtual";
  if (clock !== "virtual" && clock !== "wall") throw new Error(`--clock must be virtual or wall, got "${clock ?? ""}"`);
  const l = args.indexOf("--links");
  const links = l >= 0 ? args[l + 1] : "auto";
  if (links !== "auto" && links !== "pty" && links !== "memory") throw new Error(`--links must be auto, pty or memory, got "${links ?? ""}"`);
  const dir = mkdtempSync(join(tmpdir(), "syspark-bench-hil-"));
  try {
    const s = await runHil({ target: "sim", clock, ...(grep ? { grep } : {}), reportDir: dir, links });
    const wall = s.wallMs / 1000, simulated = s.laneTimeMs / 1000;
    const scenarioWall = s.results.reduce((a, r) => a + r.durationMs, 0) / 1000;
    console.log(`board links: ${links}   clock: ${clock}${s.siteClock ? ` — ${s.siteClock.jumps} jumps covered ${(s.siteClock.jumpedMs / 1000).toFixed(1)} s of ${(s.siteClock.virtualMs / 1000).toFixed(1)} s virtual; the rest followed the wall clock while the site worked` : ""}`);
    console.log(`scenarios: ${s.results.length} (${s.passed} passed, ${s.failed} failed, ${s.infra} infrastructure errors)`);
    console.log(`wall time: ${wall.toFixed(1)} s (scenarios ${scenarioWall.toFixed(1)} s, the rest is the cloud's start and the reports)   lane (simulated) time: ${simulated.toFixed(1)} s   ratio: ${(simulated / wall).toFixed(1)}× real time`);
    for (const r of s.results) console.log(`  ${r.state.padEnd(7)} ${(r.durationMs / 1000).toFixed(2).padStart(6)} s wall ${(r.laneTimeMs / 1000).toFixed(1).padStart(7)} s lane ${(r.laneTimeMs / Math.max(1, r.durationMs)).toFixed(0).padStart(5)}×  ${r.fullTitle}`);
    console.log(JSON.stringify({ scenarios: s.results.length, passed: s.passed, clock, links, wall_s: Number(wall.toFixed(2)), simulated_s: Number(simulated.toFixed(2)), ratio_realtime: Number((simulated / wall).toFixed(2)) }));
    if (s.exitCode !== 0) process.exitCode = s.exitCode;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
