/**
 * Options shared by the commands that work on a site's data either in its database or through a
 * running cloud's API (`syspark access …`, `syspark permits …`): the `--site` id and where the
 * data is (`--url`, `--data-dir`, `--schema`), spelt and checked the same way everywhere.
 */
import type { Command } from "commander";

export interface DbOpts {
  url?: string;
  dataDir?: string;
  schema?: string;
}

const SITE_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** commander argParser for `--site <id>`. */
export function siteId(v: string): string {
  if (!SITE_RE.test(v)) throw new Error(`--site must be 1-32 of a-z 0-9 - (a site id such as paris-centre), got "${v}"`);
  return v;
}

/** `--url`, `--data-dir`, `--schema`: which cloud or database the command works on. */
export function dbOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", "go through a running cloud's API (env SYSPARK_CLOUD_URL; log in: SYSPARK_OPERATOR_TOKEN, SYSPARK_OPERATOR_USERNAME/_PASSWORD, or the terminal)")
    .option("--data-dir <dir>", "the site folder of `syspark up` (e.g. .data/site) or a cloud PGlite data directory; default: .data/site here, else ~/.syspark/cloud. A running cloud is reached through its API")
    .option("--schema <name>", "PostgreSQL schema (with DATABASE_URL)");
}
