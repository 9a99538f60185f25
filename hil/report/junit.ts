/** JUnit XML for CI: test failures are `<failure>`, infrastructure errors `<error type="InfrastructureError">`. */
import type { ScenarioResult } from "./result";

// eslint-disable-next-line no-control-regex -- XML 1.0 forbids these characters: strip them
const x = (s: string) => s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function junitXml(results: ScenarioResult[], opts: { name: string; wallMs: number }): string {
  const count = (s: ScenarioResult["state"]) => results.filter((r) => r.state === s).length;
  const cases = results.map((r) => {
    const cls = x(r.suite || "hil");
    const inner = r.state === "failed" ? `<failure message="${x(r.error?.message ?? "")}" type="${x(r.error?.name ?? "Error")}">${x(r.error?.stack ?? "")}</failure>`
      : r.state === "infra" ? `<error message="${x(r.error?.message ?? "")}" type="InfrastructureError">${x(r.error?.stack ?? "")}</error>`
      : r.state === "skipped" ? "<skipped/>" : "";
    const logs = r.logs.length ? `<system-out>${x(r.logs.map((l) => `[[ATTACHMENT|${l.path}]]`).join("\n"))}</system-out>` : "";
    // A pass after retries is still visible to CI: the earlier failures go to system-err.
    const flaky = r.retried?.length ? `<system-err>${x(`FLAKY: ${r.retried.length} failed attempt(s) before the last:\n${r.retried.join("\n")}`)}</system-err>` : "";
    return `    <testcase classname="${cls}" name="${x(r.title)}" time="${(r.durationMs / 1000).toFixed(3)}">${inner}${logs}${flaky}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="${x(opts.name)}" tests="${results.length}" failures="${count("failed")}" errors="${count("infra")}" skipped="${count("skipped")}" time="${(opts.wallMs / 1000).toFixed(3)}">
  <testsuite name="${x(opts.name)}" tests="${results.length}" failures="${count("failed")}" errors="${count("infra")}" skipped="${count("skipped")}" time="${(opts.wallMs / 1000).toFixed(3)}">
${cases.join("\n")}
  </testsuite>
</testsuites>
`;
}
