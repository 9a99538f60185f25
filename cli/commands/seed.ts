/**
 * `syspark seed --file site.yaml [--dry-run]` (issue 19): a whole site — the site, its lanes,
 * its tariff, its permit plans — from one YAML or JSON file (format: cloud/flows/site-file.ts,
 * docs/cloud.md "Sites, lanes and tariffs without SQL"), idempotently: the file is checked whole
 * first (every problem with its path and line, exit code 1, nothing written), then each item is
 * compared with the database and created, updated, published or left unchanged
 * (cloud/flows/site-seed.ts). Run twice, the second run writes nothing and says "no changes".
 * On the cloud database as cli-support.ts resolves it, or through a running cloud's operator
 * API (`PUT /api/admin/seed`, admin; the tariff file is sent inline).
 */
import type { Command } from "commander";
import { dbOptions, type DbOpts } from "../site-options";
import { callWithIssues, cliActor, cliContext, onCloud, previewTable, refused, type FileIssue } from "../site-admin";

type SeedResult = import("../../cloud/flows/site-seed").SeedResult;
type SeedStep = import("../../cloud/flows/site-seed").SeedStep;

const stepLine = (s: SeedStep) => `  ${s.action.padEnd(9)} ${s.item}: ${s.detail}`;

export function register(program: Command): void {
  dbOptions(
    program
      .command("seed")
      .description("create or bring up to date a whole site (site, lanes, tariff, permit plans) from one YAML or JSON file; idempotent")
      .requiredOption("--file <path>", "the site file (see docs/cloud.md; example: deploy/sites/example-site.yaml)")
      .option("--dry-run", "check the file and show what would change: nothing written"),
  ).action(async (opts: DbOpts & { file: string; dryRun?: boolean }) => {
    const { readSiteFile } = await import("../../cloud/flows/site-file");
    const checked = readSiteFile(opts.file);
    if (!checked.ok) throw refused(opts.file, checked.issues);
    const dryRun = Boolean(opts.dryRun);
    let printed = 0;
    const r = await onCloud<{ ok: true; value: SeedResult } | { ok: false; issues: FileIssue[] }>(opts, {
      api: (api) =>
        callWithIssues<SeedResult>(api, "PUT", `/api/admin/seed${dryRun ? "?dry_run=true" : ""}`, `seeding site ${checked.file.site.id}`, checked.body).then((x) =>
          x.ok ? x : { ok: false as const, issues: x.issues.map((i) => ({ ...i, path: i.path.replace(/^body\.?/, "") || "(file)" })) },
        ),
      db: async (db) => {
        const { SeedRefused, applySiteFile } = await import("../../cloud/flows/site-seed");
        console.log(`${dryRun ? "plan (dry run)" : "applying"} ${opts.file} to site ${checked.file.site.id}:`);
        try {
          const value = await applySiteFile(cliContext(db), checked.file, cliActor(), {
            dryRun,
            // Progress: each item as it is done (an item that fails stops the run; the ones above stay done).
            onStep: (s) => {
              console.log(stepLine(s));
              printed++;
            },
          });
          return { ok: true as const, value };
        } catch (err) {
          if (err instanceof SeedRefused) return { ok: false as const, issues: err.issues };
          throw err;
        }
      },
    });
    if (!r.ok) throw refused(`${opts.file}: against the database`, r.issues);
    const v = r.value;
    if (printed === 0) {
      console.log(`${dryRun ? "plan (dry run)" : "applied"} ${opts.file} to site ${v.site_id}:`);
      for (const s of v.steps) console.log(stepLine(s));
    }
    for (const n of v.notes) console.log(`  note: ${n}`);
    const publishing = v.steps.some((s) => s.item === "tariff" && s.action === "publish");
    if (publishing && v.tariff_preview) {
      console.log(`tariff preview (prices in ${v.tariff_preview.currency}):`);
      console.log(await previewTable(v.tariff_preview));
    }
    if (v.changes === 0) console.log(`no changes: site ${v.site_id} already matches ${opts.file}`);
    else if (v.dry_run) console.log(`dry run: ${v.changes} change${v.changes === 1 ? "" : "s"} would be made; nothing written`);
    else console.log(`${v.changes} change${v.changes === 1 ? "" : "s"} applied to site ${v.site_id}`);
  });
}
