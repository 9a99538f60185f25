/**
 * `syspark tariff publish <site-id> <file.json|yaml> [--effective-from ISO] [--dry-run]`
 * (issue 19): a site's next tariff version from a file, on the cloud database as cli-support.ts
 * resolves it or through a running cloud's operator API (`POST /api/admin/sites/:site/tariffs`).
 * The document is validated (every problem listed with its path, exit code 1, nothing written)
 * and previewed — the sample stays priced by the new version and by the one in force, with
 * priceStay, the function the exit uses — then published as version n + 1 (audited
 * `tariff.published`). The same file published twice publishes once (cloud/flows/tariff-publish.ts);
 * --dry-run shows the validation and the preview and writes nothing.
 */
import type { Command } from "commander";
import { dbOptions, siteId, type DbOpts } from "../site-options";
import { callWithIssues, cliActor, cliContext, onCloud, previewTable, refused, type FileIssue } from "../site-admin";

type Published = Extract<import("../../cloud/flows/tariff-publish").TariffPublishResult, { ok: true }>;

function outcomeLine(site: string, r: Published): string {
  const when = r.from_now ? `from now (${r.effective_from})` : `from ${r.effective_from}`;
  switch (r.outcome) {
    case "published":
      return `tariff of ${site}: version ${r.version} published, in force ${when}`;
    case "replayed":
      return `tariff of ${site}: this document was just published as version ${r.version}: nothing more written`;
    case "unchanged":
      return `tariff of ${site}: version ${r.version} is already this document (in force from ${r.effective_from}): nothing written`;
    case "dry_run":
      return `dry run: the document is valid; it would be version ${r.version} of ${site}, in force ${when}; nothing written`;
  }
}

export function register(program: Command): void {
  const tariff = program.command("tariff").description("a site's tariff versions, without SQL");
  dbOptions(
    tariff
      .command("publish <site-id> <file>")
      .description("validate a tariff document (JSON or YAML; docs/tariffs.md), preview it against the version in force, and publish it as the site's next version")
      .option("--effective-from <ISO>", "when it takes effect, e.g. 2026-07-01T00:00:00+02:00 (now or later; default: when published)")
      .option("--dry-run", "validate and preview only: nothing written"),
  ).action(async (site: string, file: string, opts: DbOpts & { effectiveFrom?: string; dryRun?: boolean }) => {
    siteId(site);
    const { readTariffFile } = await import("../../cloud/flows/site-file");
    const { INSTANT_MESSAGE, parseInstant, publishTariffDocument } = await import("../../cloud/flows/tariff-publish");
    const effectiveFrom = opts.effectiveFrom !== undefined ? parseInstant(opts.effectiveFrom) : undefined;
    if (opts.effectiveFrom !== undefined && !effectiveFrom) throw new Error(`--effective-from: ${INSTANT_MESSAGE}, got "${opts.effectiveFrom}"`);
    const read = readTariffFile(file);
    if (!read.ok) throw refused(file, read.issues);
    const r = await onCloud<{ ok: true; value: Published } | { ok: false; issues: FileIssue[] }>(opts, {
      api: (api) =>
        callWithIssues<Published>(api, "POST", `/api/admin/sites/${encodeURIComponent(site)}/tariffs`, `publishing the tariff of ${site}`, {
          document: read.value,
          ...(opts.effectiveFrom !== undefined ? { effective_from: opts.effectiveFrom } : {}),
          dry_run: Boolean(opts.dryRun),
        }).then((x) => (x.ok ? x : { ok: false as const, issues: x.issues.map((i) => ({ ...i, path: i.path.replace(/^body\.document\.?/, "") || "(document)" })) })),
      db: async (db) => {
        const { FieldError } = await import("../../cloud/flows/site-admin");
        try {
          const p = await publishTariffDocument(cliContext(db), site, { document: read.value, ...(effectiveFrom ? { effectiveFrom } : {}), dryRun: Boolean(opts.dryRun) }, cliActor());
          return p.ok ? { ok: true as const, value: p } : { ok: false as const, issues: p.errors };
        } catch (err) {
          if (err instanceof FieldError) throw new Error(`${err.field === "effective_from" ? "--effective-from" : err.field}: ${err.fieldMessage}`, { cause: err });
          throw err;
        }
      },
    });
    if (!r.ok) {
      const { pathOf } = await import("../../cloud/flows/site-file");
      const lineOf = read.lineOf;
      throw refused(`${file}: the tariff document is not valid`, r.issues.map((i) => {
        const line = i.path.startsWith("(") ? undefined : lineOf?.(pathOf(i.path));
        return line !== undefined ? { ...i, line } : i;
      }));
    }
    const p = r.value.preview;
    if (r.value.outcome !== "unchanged") {
      console.log(`preview: sample stays priced by the new version${p.current_version !== null ? ` and by version ${p.current_version}, in force now` : " (no version in force yet)"}; prices in ${p.currency}`);
      console.log(await previewTable(p));
    }
    console.log(outcomeLine(site, r.value));
  });
}
