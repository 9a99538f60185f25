/**
 * External programs some parts and tests need (socat, iverilog, verilator, yosys, chromium).
 * Tests skip with a clear reason when one is missing on a developer machine; CI sets
 * SYSPARK_REQUIRE_TOOLS=1 so that a missing tool fails instead of silently skipping.
 */
import { execFileSync } from "node:child_process";

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
