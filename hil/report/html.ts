/** The HTML report: a summary, infrastructure errors apart, and per scenario its timing diagram (inline SVG) and links to each DUT's log. No script, no network. */
import { relative, dirname } from "node:path";
import { timelineSvg } from "../harness/timeline";
import type { ScenarioResult } from "./result";

const e = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function htmlReport(results: ScenarioResult[], opts: { title: string; target: string; wallMs: number; htmlPath: string; clock?: "virtual" | "wall" }): string {
  const n = (s: ScenarioResult["state"]) => results.filter((r) => r.state === s).length;
  const infra = results.filter((r) => r.state === "infra");
  const href = (p: string) => e(relative(dirname(opts.htmlPath), p).split("\\").join("/"));
  const sections = results.map((r, i) => `
<section class="scenario ${r.state}" id="s${i}" data-state="${r.state}">
  <h2><span class="badge ${r.state}">${r.state}</span> ${e(r.fullTitle)} <small>${(r.durationMs / 1000).toFixed(1)} s</small></h2>
  ${r.error ? `<pre class="error">${e(r.error.message)}</pre>` : ""}
  ${r.retried?.length ? `<pre class="error flaky">FLAKY — failed ${r.retried.length} time(s) before this attempt:\n${e(r.retried.join("\n"))}</pre>` : ""}
  ${r.timeline ? `<div class="diagram">${timelineSvg(r.timeline)}</div>` : ""}
  ${r.logs.length ? `<p class="logs">DUT logs: ${r.logs.map((l) => `<a href="${href(l.path)}">${e(l.name)}</a>`).join(" · ")}</p>` : ""}
</section>`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${e(opts.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#0f172a}
.badge{display:inline-block;padding:0 .4em;border-radius:4px;font-size:.8em;color:#fff}
.badge.passed{background:#16a34a}.badge.failed{background:#dc2626}.badge.infra{background:#7c3aed}.badge.skipped{background:#64748b}
.error{background:#fef2f2;border-left:4px solid #dc2626;padding:.5em;white-space:pre-wrap}
.infra-box{background:#f5f3ff;border-left:4px solid #7c3aed;padding:.5em 1em}
section.scenario{border-top:1px solid #e2e8f0;margin-top:1rem}
.diagram{overflow-x:auto}
small{color:#64748b;font-weight:normal}
</style></head><body>
<h1>${e(opts.title)}</h1>
<p id="summary">target <b>${e(opts.target)}</b>${opts.clock === "virtual" ? " (virtual site clock: diagrams are on the lane-time axis)" : ""} · ${results.length} scenarios · <b>${n("passed")}</b> passed · <b>${n("failed")}</b> failed · <b>${n("infra")}</b> infrastructure errors · ${n("skipped")} skipped · ${(opts.wallMs / 1000).toFixed(1)} s wall for ${(results.reduce((a, r) => a + r.laneTimeMs, 0) / 1000).toFixed(1)} s of lane time</p>
${infra.length ? `<div class="infra-box" id="infrastructure"><h2>Infrastructure errors (the rig, not the firmware)</h2><ul>${infra.map((r) => `<li><b>${e(r.fullTitle)}</b>: ${e(r.error?.message ?? "")}</li>`).join("")}</ul></div>` : ""}
${sections}
</body></html>
`;
}
