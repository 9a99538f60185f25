/**
 * Opening the cloud database (ARCHITECTURE §5, §7, §8).
 *
 * - `databaseUrl` set (DATABASE_URL) → a postgres.js pool on that PostgreSQL server.
 * - otherwise → an embedded PGlite (Postgres compiled to WASM), persisted under `dataDir`, or in
 *   memory when no `dataDir` is given (tests), served on loopback by
 *   @electric-sql/pglite-socket and reached through the SAME postgres.js client.
 *
 * Why pglite-socket + postgres.js rather than a thin adapter over PGlite's own `query()`:
 * ONE code path — every repository, transaction (`sql.begin`), `FOR UPDATE`, `SKIP LOCKED`,
 * jsonb and int8 parsing, and error class (PostgresError with SQLSTATE codes) is exactly the
 * one that runs against the production server, so the shared test suite proves the real code
 * on both. The costs, measured (§8): the socket server feeds all connections into ONE session,
 * so the pool is forced to `max: 1` (a transaction on one connection would otherwise stall
 * queries on another); LISTEN/NOTIFY is not delivered (the outbox relay polls); one loopback
 * round trip per statement. The socket listens on 127.0.0.1 and an OS-assigned port by default
 * (never 5432, so it cannot clash with a real server); `pglitePort` pins it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import postgres from "postgres";
import type { Logger } from "../../host/log";
import { silentLogger } from "../../host/log";
import { pidAlive } from "../../host/pid";
import { runMigrations, type MigrationReport } from "./migrate";
import { noDelaySocketFactory } from "./tcp-socket";
import { MIGRATIONS } from "./migrations";
import { INT8_TYPE, type Sql, type Tx } from "./types";

export interface OpenDatabaseOptions {
  /** PostgreSQL URL (DATABASE_URL). Absent → embedded PGlite. */
  databaseUrl?: string;
  /** PGlite only: directory the database persists in (created if missing). Absent → in memory. */
  dataDir?: string;
  /** PGlite only: loopback address of the socket server (default 127.0.0.1). */
  pgliteHost?: string;
  /** PGlite only: port of the socket server (default 0 = OS-assigned; never defaults to 5432). */
  pglitePort?: number;
  /**
   * PGlite only: directory caching a pristine (freshly initialised, not migrated) PGlite data
   * directory as a tarball (~40 MB), keyed by the installed PGlite build. A NEW database (in
   * memory, or an empty dataDir) is then loaded from it instead of running initdb (measured under
   * heavy load: 2.3 s instead of 16.8 s). Migrations still run as usual. Absent → no cache.
   */
  pgliteTemplateDir?: string;
  /** Server only: schema to work in (search_path). Used by tests for isolation. */
  schema?: string;
  /** Server only: create `schema` if it does not exist (default false). */
  createSchema?: boolean;
  /** Server only: pool size (default 10). PGlite is always 1 (§8). */
  max?: number;
  /** Run the migrations on open (default true). */
  migrate?: boolean;
  /**
   * Open an EXISTING SysPark database only (the CLI): never initdb, never create a directory or
   * a schema, never migrate. A PGlite `dataDir` without a cluster, or a database/schema without
   * SysPark's `schema_migrations`, → DatabaseNotFoundError; a schema at another version than
   * this code's → DatabaseVersionError. Implies `migrate: false` and ignores `createSchema` and
   * `pgliteTemplateDir`. Default false.
   */
  existingOnly?: boolean;
  /** Seconds to wait for the server on connect (default 10). */
  connectTimeoutS?: number;
  logger?: Logger;
}

export interface Database {
  readonly kind: "postgres" | "pglite";
  /** The pool (auto-commit per statement). Prefer repository functions. */
  readonly sql: Sql;
  /** Schema version and what this open applied. */
  readonly migrations: MigrationReport;
  /** Where it points, safe to log (password removed). */
  readonly description: string;
  /**
   * Runs `fn` in one transaction (READ COMMITTED); commits if it resolves, rolls back if it
   * throws. Use only `tx` inside: `db.sql` / a nested `db.tx` throw PoolInsideTransactionError.
   */
  tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Health probe: resolves when a round trip works. */
  ping(): Promise<void>;
  /** Ends the pool, then (PGlite) the socket server and the database. Idempotent. */
  close(): Promise<void>;
}

/** The database could not be reached or opened; `message` says what to do. */
export class DatabaseConnectionError extends Error {
  override readonly name: string = "DatabaseConnectionError";
}

/** `existingOnly`: there is no SysPark database where it was asked to look (nothing was created). */
export class DatabaseNotFoundError extends DatabaseConnectionError {
  override readonly name: string = "DatabaseNotFoundError";
}

/** `existingOnly`: the database's schema version is not this code's (it was neither migrated nor used). */
export class DatabaseVersionError extends DatabaseConnectionError {
  override readonly name: string = "DatabaseVersionError";
}

/** True when `dir` holds a PostgreSQL/PGlite cluster (its PG_VERSION file). */
export function isPgliteDataDir(dir: string): boolean {
  return existsSync(join(dir, "PG_VERSION"));
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A URL with its password replaced, for logs and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    return u.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

function clientOptions(url: string, max: number, connectTimeoutS: number, schema: string | undefined, logger: Logger) {
  const socket = noDelaySocketFactory(url, connectTimeoutS);
  return {
    ...(socket ? { socket } : {}),
    max,
    connect_timeout: connectTimeoutS,
    idle_timeout: 0,
    types: { int8: INT8_TYPE },
    transform: { column: { from: postgres.toCamel } },
    connection: { TimeZone: "UTC", application_name: "syspark-cloud", ...(schema ? { search_path: schema } : {}) },
    onnotice: (n: postgres.Notice) => logger.debug({ notice: n.message }, "postgres notice"),
  };
}

function describeConnectError(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: { message?: string }[] };
  const inner = e.errors?.map((x) => x.message).join("; ");
  return [e.code, inner || e.message || String(err)].filter(Boolean).join(": ");
}

/** Thrown when the pool is used inside `db.tx` (it would escape the transaction, and deadlock on PGlite). */
export class PoolInsideTransactionError extends Error {
  override readonly name = "PoolInsideTransactionError";
  constructor() {
    super("db.sql / db.tx used inside db.tx: use the transaction handle `tx` passed to the callback (the pool would run outside the transaction, and on PGlite, with one connection, wait forever)");
  }
}

/**
 * The pool, guarded: inside a `db.tx` callback (tracked with AsyncLocalStorage) any use of the
 * pool throws PoolInsideTransactionError instead of hanging on PGlite's single connection.
 */
function guard(sql: Sql, inTx: AsyncLocalStorage<true>): Sql {
  const check = () => {
    if (inTx.getStore()) throw new PoolInsideTransactionError();
  };
  const wrapped = new Set<PropertyKey>(["begin", "unsafe", "reserve", "file", "listen", "notify"]);
  return new Proxy(sql, {
    apply(target, thisArg, args) {
      check();
      return Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args);
    },
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (wrapped.has(prop) && typeof value === "function") {
        return (...args: unknown[]) => {
          check();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value;
    },
  });
}

function wrap(kind: Database["kind"], sql: Sql, migrations: MigrationReport, description: string, onClose: () => Promise<void>): Database {
  let closing: Promise<void> | undefined;
  const inTx = new AsyncLocalStorage<true>();
  const pool = guard(sql, inTx);
  return {
    kind,
    sql: pool,
    migrations,
    description,
    tx: <T>(fn: (tx: Tx) => Promise<T>) => pool.begin((tx) => inTx.run(true, () => fn(tx))) as Promise<T>,
    ping: async () => {
      await pool`SELECT 1`;
    },
    close: () => (closing ??= onClose()),
  };
}

export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  const logger = options.logger ?? silentLogger;
  const connectTimeoutS = options.connectTimeoutS ?? 10;
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new DatabaseConnectionError(`schema "${options.schema}" is not a plain lowercase identifier`);
  }
  if (options.databaseUrl) return openServer(options.databaseUrl, options, connectTimeoutS, logger);
  return openPglite(options, connectTimeoutS, logger);
}

async function openServer(url: string, options: OpenDatabaseOptions, connectTimeoutS: number, logger: Logger): Promise<Database> {
  const description = redactUrl(url);
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new DatabaseConnectionError(`DATABASE_URL must start with postgres:// or postgresql:// (got ${description})`);
  }
  const schema = options.schema;
  if (schema && options.createSchema && !options.existingOnly) {
    const admin = postgres(url, { ...clientOptions(url, 1, connectTimeoutS, undefined, logger) });
    try {
      await admin.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } catch (err) {
      await admin.end({ timeout: 1 }).catch(() => undefined);
      throw refused(description, err);
    }
    await admin.end({ timeout: 5 });
  }
  const sql = postgres(url, clientOptions(url, options.max ?? 10, connectTimeoutS, schema, logger)) as unknown as Sql;
  try {
    await sql`SELECT 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw refused(description, err);
  }
  let migrations: MigrationReport = { applied: [], version: 0 };
  try {
    if (options.existingOnly) migrations = await checkExistingSchema(sql, `${description}${schema ? `, schema ${schema}` : ""}`);
    else if (options.migrate !== false) migrations = await runMigrations(sql);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw err;
  }
  logger.info({ database: description, schema, version: migrations.version, applied: migrations.applied }, "database ready (PostgreSQL server)");
  return wrap("postgres", sql, migrations, description, () => sql.end({ timeout: 5 }));
}

function refused(description: string, err: unknown): DatabaseConnectionError {
  return new DatabaseConnectionError(
    `DATABASE_URL is set but the server refused the connection: ${describeConnectError(err)}. ` +
      `Check that PostgreSQL is running and reachable at ${description} (host, port, user, database, password), ` +
      `or unset DATABASE_URL to use the embedded PGlite database.`,
  );
}

async function openPglite(options: OpenDatabaseOptions, connectTimeoutS: number, logger: Logger): Promise<Database> {
  const started = Date.now();
  if (options.existingOnly) {
    // Checked before anything touches the disk (the lock file, PGlite's initdb): a read must
    // never leave a new cluster behind.
    if (!options.dataDir) throw new DatabaseNotFoundError("an existing database was asked for, but no PGlite data directory was given");
    if (!isPgliteDataDir(options.dataDir)) {
      throw new DatabaseNotFoundError(`${resolve(options.dataDir)} holds no PGlite database (no PG_VERSION there); nothing was created`);
    }
    options = { ...options, pgliteTemplateDir: undefined };
  }
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import("@electric-sql/pglite"), import("@electric-sql/pglite-socket")]);
  const releaseLock = options.dataDir ? lockDataDir(options.dataDir) : () => undefined;
  try {
    return await startPglite(PGlite, PGLiteSocketServer, options, connectTimeoutS, logger, started, releaseLock);
  } catch (err) {
    releaseLock();
    throw err;
  }
}

/**
 * One process per PGlite data directory (two would corrupt it): a `<dataDir>.lock` file holding
 * the owner's pid, created exclusively; a lock left by a dead process is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const file = `${resolve(dataDir)}.lock`;
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(file, "utf8").trim());
      if (pidAlive(pid)) {
        throw new DatabaseConnectionError(
          `the PGlite data directory ${dataDir} is in use by another process (pid ${pid}${pid === process.pid ? ", this one" : ""}): ` +
            `stop it first, or remove ${file} if that process is gone`,
        );
      }
      rmSync(file, { force: true }); // stale: its owner died
    }
  }
  throw new DatabaseConnectionError(`could not lock the PGlite data directory ${dataDir} (${file})`);
}

async function startPglite(
  PGlite: typeof import("@electric-sql/pglite").PGlite,
  PGLiteSocketServer: typeof import("@electric-sql/pglite-socket").PGLiteSocketServer,
  options: OpenDatabaseOptions,
  connectTimeoutS: number,
  logger: Logger,
  started: number,
  releaseLock: () => void,
): Promise<Database> {
  let pglite: InstanceType<typeof PGlite>;
  const isNew = !options.dataDir || !existsSync(join(options.dataDir, "PG_VERSION"));
  const template = isNew && options.pgliteTemplateDir ? templatePath(options.pgliteTemplateDir) : undefined;
  const create = async (loadDataDir?: Blob) => {
    if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
    return PGlite.create({ ...(options.dataDir ? { dataDir: options.dataDir } : {}), ...(loadDataDir ? { loadDataDir } : {}) });
  };
  try {
    if (template && existsSync(template)) {
      try {
        pglite = await create(new Blob([readFileSync(template)]));
      } catch (err) {
        logger.warn({ template, err: (err as Error).message }, "PGlite template unusable; initialising from scratch");
        rmSync(template, { force: true });
        if (options.dataDir) rmSync(options.dataDir, { recursive: true, force: true });
        pglite = await create();
      }
    } else {
      pglite = await create();
      if (template) await saveTemplate(pglite, template, logger);
    }
  } catch (err) {
    const where = options.dataDir ? `the data directory ${options.dataDir}` : "an in-memory database";
    throw new DatabaseConnectionError(
      `could not open the embedded PGlite database in ${where}: ${(err as Error).message}. ` +
        `Check that the directory is writable and not used by another SysPark process, or set DATABASE_URL to use a PostgreSQL server.`,
    );
  }
  const host = options.pgliteHost ?? "127.0.0.1";
  const server = new PGLiteSocketServer({ db: pglite, host, port: options.pglitePort ?? 0, maxConnections: 1 });
  try {
    await server.start();
  } catch (err) {
    await pglite.close().catch(() => undefined);
    throw new DatabaseConnectionError(
      `could not start the embedded PGlite socket server on ${host}:${options.pglitePort ?? 0}: ${(err as Error).message}. Choose another port.`,
    );
  }
  const conn = server.getServerConn();
  const port = Number(conn.slice(conn.lastIndexOf(":") + 1));
  const description = `pglite ${options.dataDir ?? "(in memory)"} via ${host}:${port}`;
  const sql = postgres({
    ...clientOptions(`postgres://${host}:${port}`, 1, connectTimeoutS, undefined, logger),
    host,
    port,
    user: "postgres",
    database: "postgres",
  }) as unknown as Sql;
  const shutdown = async () => {
    await sql.end({ timeout: 5 }).catch(() => undefined);
    await server.stop().catch(() => undefined);
    try {
      await pglite.close();
    } finally {
      releaseLock();
    }
  };
  let migrations: MigrationReport = { applied: [], version: 0 };
  try {
    if (options.existingOnly) migrations = await checkExistingSchema(sql, `PGlite ${resolve(options.dataDir as string)}`);
    else if (options.migrate !== false) migrations = await runMigrations(sql);
  } catch (err) {
    await shutdown().catch(() => undefined);
    throw err;
  }
  logger.info({ database: description, version: migrations.version, applied: migrations.applied, startMs: Date.now() - started }, "database ready (embedded PGlite)");
  return wrap("pglite", sql, migrations, description, shutdown);
}

/**
 * `existingOnly`: the schema must be SysPark's and at exactly this code's version — reading
 * (or writing) tables whose shape this code does not know would give wrong answers, and
 * migrating is the cloud's job, not a command's. Reads only.
 */
async function checkExistingSchema(sql: Sql, where: string): Promise<MigrationReport> {
  const [t] = await sql<{ found: string | null }[]>`SELECT to_regclass('schema_migrations')::text AS found`;
  if (!t.found) {
    throw new DatabaseNotFoundError(`${where} holds no SysPark database (no schema_migrations table: the cloud never started on it); nothing was created`);
  }
  const [row] = await sql<{ version: number | null }[]>`SELECT max(version) AS version FROM schema_migrations`;
  const version = row.version ?? 0;
  const known = MIGRATIONS.at(-1)?.version ?? 0;
  if (version > known) throw new DatabaseVersionError(`${where} is at schema version ${version}, newer than this SysPark knows (${known}): use the SysPark that runs that cloud, or upgrade`);
  if (version < known) throw new DatabaseVersionError(`${where} is at schema version ${version}, older than this SysPark's (${known}): start the cloud of this version on it once (it migrates on start), then retry`);
  return { applied: [], version };
}

/** Template file name, keyed by the installed PGlite build (its package.json: name + version). */
function templatePath(dir: string): string {
  let key = "unknown";
  try {
    let d = dirname(fileURLToPath(import.meta.resolve("@electric-sql/pglite")));
    for (let i = 0; i < 5 && !existsSync(join(d, "package.json")); i++) d = dirname(d);
    key = readFileSync(join(d, "package.json"), "utf8");
  } catch {
    // keep "unknown": a stale template that fails to load is discarded and rebuilt
  }
  return join(dir, `syspark-pglite-template-${createHash("sha256").update(key).digest("hex").slice(0, 16)}.tar`);
}

async function saveTemplate(pglite: { dumpDataDir(c?: "none" | "gzip" | "auto"): Promise<Blob> }, file: string, logger: Logger): Promise<void> {
  try {
    const blob = await pglite.dumpDataDir("none");
    mkdirSync(join(file, ".."), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()));
    renameSync(tmp, file); // atomic: a concurrent reader sees the whole file or none
  } catch (err) {
    logger.warn({ file, err: (err as Error).message }, "could not save the PGlite template (continuing without it)");
  }
}
