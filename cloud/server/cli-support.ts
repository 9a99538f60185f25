/**
 * Which cloud database a `syspark` command works on — ONE resolution for every command that
 * touches the cloud's data (`audit`, `operator`, `access`), so that none of them can quietly
 * read or write a database other than the one the user means (issue 13 item 5), and an
 * operator token for the cloud's API. docs/cloud.md "The command line: which database".
 *
 * In order, the first that applies:
 *  1. `--url <cloud>` → through that cloud's HTTP API (its own database).
 *  2. `--data-dir <dir>` → that directory: a cloud data dir (holds PG_VERSION) or a site data
 *     dir (`syspark up`'s, holds `cloud/`). Refused together with DATABASE_URL or --url.
 *  3. `SYSPARK_CLOUD_URL` → as --url.
 *  4. `DATABASE_URL` (+ `--schema`) → that PostgreSQL server and schema.
 *  5. `SYSPARK_DATA_DIR` → as --data-dir.
 *  6. the site of `syspark up` in the current directory (`.data/site/cloud`) when it holds a
 *     database, else `syspark cloud`'s default `~/.syspark/cloud` when it holds one.
 * A PGlite directory held by a running cloud (its run file, run-file.ts, names a live pid) is
 * reached through that cloud's API; one locked by another live process is refused.
 *
 * Nothing here creates anything: a place without a SysPark database is an error naming it and
 * how to point at the right one, and the database is opened "existing only" (connect.ts: no
 * initdb, no schema, no migration; another schema version is refused).
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative, resolve } from "node:path";
import { silentLogger } from "../../host/log";
import { DatabaseNotFoundError, isPgliteDataDir, openDatabase, redactUrl } from "../db/connect";
import type { Database } from "../db/index";
import { pidAlive } from "../../host/pid";
import { runningCloud } from "./run-file";

/** `syspark cloud`'s PGlite directory when neither --data-dir nor SYSPARK_DATA_DIR is given. */
export function defaultDataDir(): string {
  return process.env.SYSPARK_DATA_DIR ?? join(homedir(), ".syspark", "cloud");
}

/** `syspark up`'s default site data directory (relative to where it runs). */
export const SITE_DATA_DIR = join(".data", "site");

export interface CloudTargetOptions {
  url?: string;
  dataDir?: string;
  schema?: string;
}

export type CloudTarget =
  | { via: "api"; url: string; why: string; held?: { dir: string; pid: number } }
  | { via: "postgres"; url: string; schema?: string }
  | { via: "pglite"; dir: string; why: string };

/** The command cannot tell (or reach) which database to use; `message` says what to do. */
export class CloudTargetError extends Error {
  override readonly name = "CloudTargetError";
}

const POINT_AT =
  "point at the right one with --data-dir <dir> (the site folder of `syspark up`, e.g. .data/site, or a cloud data directory such as ~/.syspark/cloud), " +
  "DATABASE_URL (+ --schema) for PostgreSQL, or --url <cloud URL> to go through a running cloud's API";

interface Env {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
}

export function resolveCloudTarget(opts: CloudTargetOptions, where: Env = {}): CloudTarget {
  const env = where.env ?? process.env;
  const cwd = where.cwd ?? process.cwd();
  const home = where.home ?? homedir();
  const databaseUrl = env.DATABASE_URL || undefined;
  if (opts.url !== undefined && opts.dataDir !== undefined) throw new CloudTargetError("give --url or --data-dir, not both");
  if (opts.schema !== undefined && (!databaseUrl || opts.url !== undefined || opts.dataDir !== undefined)) {
    throw new CloudTargetError("--schema applies to a PostgreSQL database (DATABASE_URL) only");
  }
  if (opts.url !== undefined) return { via: "api", url: httpUrl(opts.url, "--url"), why: "--url" };
  if (opts.dataDir !== undefined) {
    if (databaseUrl) throw new CloudTargetError(`DATABASE_URL is set (${redactUrl(databaseUrl)}) and --data-dir is given: unset one (e.g. DATABASE_URL= syspark …) so that it is clear which database to use`);
    return fromDataDir(resolve(cwd, opts.dataDir), `--data-dir ${opts.dataDir}`);
  }
  if (env.SYSPARK_CLOUD_URL) return { via: "api", url: httpUrl(env.SYSPARK_CLOUD_URL, "SYSPARK_CLOUD_URL"), why: "SYSPARK_CLOUD_URL" };
  if (databaseUrl) return { via: "postgres", url: databaseUrl, ...(opts.schema ? { schema: opts.schema } : {}) };
  if (env.SYSPARK_DATA_DIR) return fromDataDir(resolve(cwd, env.SYSPARK_DATA_DIR), `SYSPARK_DATA_DIR=${env.SYSPARK_DATA_DIR}`);
  const site = resolve(cwd, SITE_DATA_DIR, "cloud");
  const cloud = join(home, ".syspark", "cloud");
  if (holdsCloud(site)) return checkRunning(site, `the site of \`syspark up\` in this directory (${relative(cwd, site) || "."})`);
  if (holdsCloud(cloud)) return checkRunning(cloud, "`syspark cloud`'s default directory");
  throw new CloudTargetError(`no SysPark cloud database found: neither the site of \`syspark up\` here (${site}) nor \`syspark cloud\`'s default (${cloud}) holds one (nothing was created); ${POINT_AT}`);
}

/** A directory a cloud has run on: its PGlite cluster, or the run file of a cloud starting on it. */
function holdsCloud(dir: string): boolean {
  return isPgliteDataDir(dir) || runningCloud(dir) !== undefined;
}

function fromDataDir(dir: string, why: string): CloudTarget {
  if (!existsSync(dir)) throw new CloudTargetError(`${why}: ${dir} does not exist (nothing was created); ${POINT_AT}`);
  const siteCloud = join(dir, "cloud");
  // A site folder first: an older `syspark` may have left an empty cluster in the site folder itself.
  if (holdsCloud(siteCloud)) return checkRunning(siteCloud, `${why}, the site's cloud`);
  if (holdsCloud(dir)) return checkRunning(dir, why);
  throw new CloudTargetError(`${why}: ${dir} holds no SysPark cloud database (neither a cloud data directory with PG_VERSION nor a site folder with cloud/; nothing was created); ${POINT_AT}`);
}

/** A PGlite directory is held by one process: a running cloud is reached through its API; another holder is refused. */
function checkRunning(dir: string, why: string): CloudTarget {
  const run = runningCloud(dir);
  if (run) return { via: "api", url: run.url, why: `${why}: the cloud running on it (pid ${run.pid})`, held: { dir, pid: run.pid } };
  const lock = `${dir}.lock`;
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, "utf8").trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
      throw new CloudTargetError(
        `PGlite ${dir} is in use by process ${pid}, which has not published a cloud API (a cloud still starting, or another syspark command): retry when it is up or has finished, or use --url <cloud URL>`,
      );
    }
  }
  return { via: "pglite", dir, why };
}

function httpUrl(value: string, name: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CloudTargetError(`${name} must be an http(s) URL such as http://127.0.0.1:18090, got "${value}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CloudTargetError(`${name} must be an http(s) URL such as http://127.0.0.1:18090, got "${redactUrl(value)}"`);
  return u.origin;
}

/** One line naming the database (password masked): what every command prints on stderr. */
export function describeTarget(t: CloudTarget): string {
  switch (t.via) {
    case "postgres":
      return `database: PostgreSQL ${redactUrl(t.url)}, schema ${t.schema ?? "public"} (DATABASE_URL)`;
    case "pglite":
      return `database: PGlite ${t.dir} (${t.why})`;
    case "api":
      return t.held
        ? `database: PGlite ${t.held.dir}, held by the running cloud (pid ${t.held.pid}): through its API at ${t.url}`
        : `database: the cloud's at ${redactUrl(t.url)}, through its API (${t.why})`;
  }
}

/** Opens the target's EXISTING database (no initdb, no schema, no migration). */
export async function openCloudDatabase(t: Exclude<CloudTarget, { via: "api" }>): Promise<Database> {
  try {
    return await openDatabase({
      ...(t.via === "postgres" ? { databaseUrl: t.url, ...(t.schema ? { schema: t.schema } : {}) } : { dataDir: t.dir }),
      existingOnly: true,
      max: 2,
      logger: silentLogger,
    });
  } catch (err) {
    if (err instanceof DatabaseNotFoundError) throw new CloudTargetError(`${err.message}; ${POINT_AT}`, { cause: err });
    throw err;
  }
}

/** What a command says when the cloud holding its database runs and no credentials were given. */
export function apiCredentialsHint(t: Extract<CloudTarget, { via: "api" }>): string {
  const running = t.held ? `the cloud holding ${t.held.dir} is running (pid ${t.held.pid}), so this goes through its API at ${t.url}` : `this goes through the cloud's API at ${t.url}`;
  return `${running}: log in with SYSPARK_OPERATOR_USERNAME and SYSPARK_OPERATOR_PASSWORD (or SYSPARK_OPERATOR_TOKEN), or run it on a terminal to be asked${t.held ? "; or stop the cloud first to work on its files" : ""}`;
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * A Bearer token for the cloud's API: SYSPARK_OPERATOR_TOKEN, or a login with
 * SYSPARK_OPERATOR_USERNAME / _PASSWORD, or with what `ask` returns (a terminal prompt).
 */
export async function operatorToken(baseUrl: string, ask?: () => Promise<Credentials>): Promise<string> {
  if (process.env.SYSPARK_OPERATOR_TOKEN) return process.env.SYSPARK_OPERATOR_TOKEN;
  let username = process.env.SYSPARK_OPERATOR_USERNAME;
  let password = process.env.SYSPARK_OPERATOR_PASSWORD;
  if (!username || !password) {
    if (!ask) throw new CloudTargetError(`set SYSPARK_OPERATOR_TOKEN, or SYSPARK_OPERATOR_USERNAME and SYSPARK_OPERATOR_PASSWORD, to use the cloud's API at ${baseUrl}`);
    ({ username, password } = await ask());
  }
  let r: Response;
  try {
    r = await fetch(new URL("/api/login", baseUrl), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }) });
  } catch (err) {
    throw new CloudTargetError(`the cloud at ${baseUrl} does not answer (${(err as Error).message}): is it running? A stale run file can be removed when its process is gone`, { cause: err });
  }
  if (!r.ok) throw await apiError(r, `login to ${baseUrl} as ${username}`);
  const body = (await r.json().catch(() => ({}))) as { token?: string };
  if (!body.token) throw new CloudTargetError(`login to ${baseUrl} answered without a token`);
  return body.token;
}

/** A readable error from an API answer (its `error` message, never the raw JSON). */
export async function apiError(r: Response, what: string): Promise<Error> {
  const text = await r.text().catch(() => "");
  let message = text.trim().slice(0, 300) || r.statusText;
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string") message = body.error;
  } catch {
    // not JSON: the text itself
  }
  return new Error(`${what} failed (HTTP ${r.status}): ${message}`);
}

/** The cloud's API with a token: JSON in, JSON out, errors as readable messages. */
export class CloudApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  static async login(baseUrl: string, ask?: () => Promise<Credentials>): Promise<CloudApi> {
    return new CloudApi(baseUrl, await operatorToken(baseUrl, ask));
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(new URL(path, this.baseUrl), { ...init, headers: { ...(init.headers as Record<string, string> | undefined), Authorization: `Bearer ${this.token}` } });
    } catch (err) {
      throw new CloudTargetError(`the cloud at ${this.baseUrl} does not answer (${(err as Error).message})`, { cause: err });
    }
  }

  async json<T>(method: string, path: string, what: string, body?: unknown): Promise<T> {
    const r = await this.fetch(path, { method, ...(body !== undefined ? { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {}) });
    if (!r.ok) throw await apiError(r, what);
    return (await r.json()) as T;
  }
}

/**
 * Runs a command on the resolved cloud: prints the database line on stderr, then either logs in
 * to the cloud's API (`api`) or opens the existing database (`db`, closed afterwards). `ask`
 * (a terminal prompt, when there is one) supplies login credentials missing from the environment.
 */
export async function withCloud<T>(
  opts: CloudTargetOptions,
  run: { api(api: CloudApi): Promise<T>; db(db: Database): Promise<T> },
  ask?: () => Promise<Credentials>,
): Promise<T> {
  const t = resolveCloudTarget(opts);
  process.stderr.write(`${describeTarget(t)}\n`);
  if (t.via === "api") {
    const hasEnv = Boolean(process.env.SYSPARK_OPERATOR_TOKEN || (process.env.SYSPARK_OPERATOR_USERNAME && process.env.SYSPARK_OPERATOR_PASSWORD));
    if (!hasEnv && !ask) throw new CloudTargetError(apiCredentialsHint(t));
    return run.api(await CloudApi.login(t.url, ask));
  }
  const db = await openCloudDatabase(t);
  try {
    return await run.db(db);
  } finally {
    await db.close();
  }
}

/**
 * `syspark cloud --data-dir`: a site folder whose `cloud/` holds the database means that one
 * (the cloud of `syspark up`); any other directory is the cloud's own (created on first start).
 */
export function serveDataDir(dir: string): string {
  const abs = resolve(dir);
  return isPgliteDataDir(join(abs, "cloud")) ? join(abs, "cloud") : abs;
}
