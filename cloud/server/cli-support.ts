/**
 * What the `syspark operator` and `syspark audit` commands share: opening the cloud database
 * the way `syspark cloud` does (DATABASE_URL, else the embedded PGlite data directory — which
 * only one process may hold: stop the cloud first, or use --url to go through its HTTP API),
 * and an operator token for the HTTP API.
 */
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type Database } from "../db/index";
import { silentLogger } from "../../host/log";

export function defaultDataDir(): string {
  return process.env.SYSPARK_DATA_DIR ?? join(homedir(), ".syspark", "cloud");
}

export async function openCloudDatabase(opts: { dataDir?: string; schema?: string }): Promise<Database> {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  return openDatabase({
    ...(databaseUrl ? { databaseUrl } : { dataDir: opts.dataDir ?? defaultDataDir(), pgliteTemplateDir: join(tmpdir(), "syspark-pglite-cache") }),
    ...(opts.schema ? { schema: opts.schema } : {}),
    max: 2,
    logger: silentLogger,
  });
}

/** A Bearer token for the cloud's API: SYSPARK_OPERATOR_TOKEN, or a login with SYSPARK_OPERATOR_USERNAME / _PASSWORD. */
export async function operatorToken(baseUrl: string): Promise<string> {
  if (process.env.SYSPARK_OPERATOR_TOKEN) return process.env.SYSPARK_OPERATOR_TOKEN;
  const username = process.env.SYSPARK_OPERATOR_USERNAME;
  const password = process.env.SYSPARK_OPERATOR_PASSWORD;
  if (!username || !password) throw new Error("set SYSPARK_OPERATOR_TOKEN, or SYSPARK_OPERATOR_USERNAME and SYSPARK_OPERATOR_PASSWORD, to use the cloud's API (--url)");
  const r = await fetch(new URL("/api/login", baseUrl), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }) });
  const body = (await r.json().catch(() => ({}))) as { token?: string; error?: string };
  if (!r.ok || !body.token) throw new Error(`login to ${baseUrl} failed (${r.status}): ${body.error ?? "no token"}`);
  return body.token;
}
