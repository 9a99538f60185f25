/**
 * The cloud's database layer — the API the Express server calls. See docs/data-model.md.
 *
 *   const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir });
 *   await db.tx(async (tx) => { … repository calls with tx … });
 *   await db.close();
 */
export { openDatabase, redactUrl, DatabaseConnectionError, PoolInsideTransactionError, type Database, type OpenDatabaseOptions } from "./connect";
export { runMigrations, MigrationError, type MigrationReport } from "./migrate";
export { MIGRATIONS, type Migration } from "./migrations";
export type { Sql, Tx, Q, Json } from "./types";
export * from "./errors";
export { IllegalTransitionError } from "../domain/state-machines";
export * from "./sites";
export * from "./sessions";
export * from "./occupancy";
export * from "./identities";
export * from "./payments";
export * from "./refunds";
export * from "./events";
export * from "./outbox";
export * from "./instances";
export * from "./audit";
export * from "./operators";
export * from "./permits";
export { canonicalJson } from "./canonical-json";
