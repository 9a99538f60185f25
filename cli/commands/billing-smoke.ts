/**
 * `syspark billing smoke [--json] [--wait-ms <ms>] [--refund-amount <minor>]` (issue 16, seed 004):
 * a paid exit, a partial refund and the receipt, end to end, against the Stripe the environment
 * names (STRIPE_SECRET_KEY test mode, STRIPE_API_BASE an external emulator, nothing: the
 * in-process emulator; a live key is refused). It runs its own cloud on a THROWAWAY in-memory
 * database (never DATABASE_URL) and says so. Exit code 0 when every step passed, 1 naming the
 * step that failed, 2 when refused before starting (a live key).
 *
 * The `billing` command group is shared with the other billing subcommands: found or created.
 */
import type { Command } from "commander";
import { intOption } from "../main";

interface SmokeOpts {
  json?: boolean;
  waitMs: number;
  refundAmount?: number;
  verbose?: boolean;
}

function detailText(d: Record<string, unknown>): string {
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(" ");
}

export function register(program: Command): void {
  const billing = program.commands.find((c) => c.name() === "billing") ?? program.command("billing").description("billing: health, smoke test, refunds");
  billing
    .command("smoke")
    .description("smoke-test billing end to end on a throwaway cloud: a paid exit, a partial refund, the receipt (HTML + PDF), against the Stripe the environment names (never a live key)")
    .option("--json", "print a machine-readable summary (JSON) instead of one line per step")
    .option("--wait-ms <ms>", "how long each wait (MQTT message, webhook, receipt) may take, 1000-300000", intOption("--wait-ms", 1000, 300_000), 20_000)
    .option("--refund-amount <minor>", "the partial refund in minor units (default: half of what was paid)", intOption("--refund-amount", 1, 99_999_999))
    .option("--verbose", "the throwaway cloud's log on stderr (level info)")
    .action(async (opts: SmokeOpts) => {
      const { runBillingSmoke, smokeStripe, SmokeRefused } = await import("../../cloud/server/billing-smoke/index");
      const { cloudLogger } = await import("../../cloud/server/index");
      const pino = (await import("pino")).default;
      const print = (line: string) => {
        if (!opts.json) console.log(line);
      };
      let report;
      try {
        smokeStripe(process.env); // a live key is refused before a line is printed or anything starts
        print("billing smoke: a throwaway cloud on PGlite in memory (no existing database is read or written)");
        report = await runBillingSmoke({
          waitMs: opts.waitMs,
          ...(opts.refundAmount !== undefined ? { refundAmount: opts.refundAmount } : {}),
          ...(opts.verbose ? { logger: cloudLogger("info", pino.destination(2)) } : {}),
          onStep: (s) => print(`${s.ok ? "ok  " : "FAIL"} ${s.step.padEnd(16)} ${String(s.ms).padStart(6)} ms  ${s.ok ? detailText(s.detail) : s.error}`),
        });
      } catch (err) {
        if (err instanceof SmokeRefused) {
          console.error(`syspark: ${err.message}`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else print(report.ok ? `billing smoke: OK (${report.stripe}; database: ${report.database})` : `billing smoke: FAILED at step "${report.failed_step}"`);
      if (!report.ok) {
        if (opts.json) console.error(`syspark: billing smoke failed at step "${report.failed_step}"`);
        process.exitCode = 1;
      }
    });
}
