/**
 * Query handle types shared by every repository.
 *
 * - `Sql`: the pool returned by openDatabase (`db.sql`). Auto-commit per statement.
 * - `Tx`: a transaction handle (`db.tx(async (tx) => …)`). Functions that lock rows
 *   (`SELECT … FOR UPDATE`) or must be atomic with other writes take a `Tx`, so the type
 *   checker refuses to call them outside a transaction.
 * - `Q`: either one, for plain reads and single-statement writes.
 *
 * int8 columns (bigserial ids, audit seq, versions) are parsed to JS numbers, checked to be
 * safe integers, instead of postgres.js's default strings.
 */
import type postgres from "postgres";

export const INT8_TYPE = {
  to: 20,
  from: [20],
  serialize: (n: number) => String(n),
  parse: (s: string): number => {
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${s} is outside the safe integer range`);
    return n;
  },
};

export type Types = { int8: number };
export type Sql = postgres.Sql<Types>;
export type Tx = postgres.TransactionSql<Types>;
export type Q = postgres.ISql<Types>;

/** A JSON value as stored in jsonb columns. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
