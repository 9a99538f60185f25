/**
 * Adding an operator (admin only): through the API (`POST /api/operators`, cloud/http/operators.ts)
 * or by `syspark operator add` on the database itself. A creation is audited (`operator.added`,
 * who added it) in the same transaction; the password is hashed here and never stored, returned
 * or logged.
 */
import { createOperator, hashSecret, type Database, type OperatorRole, type Tx } from "../db/index";
import { writeAudit, type AuditMode } from "../server/audit-chain";

/** Who added the operator, for the audit row. */
export interface AddedBy {
  operator: string;
  operator_id: number | null;
  request_id: string | null;
}

/**
 * Creates an operator and audits it (`operator.added`, who added it) in the caller's
 * transaction: the one way an operator is added, through the API or by `syspark operator add`
 * on the database itself (an inline chained row there: no running cloud chains it).
 */
export async function addOperator(tx: Tx, mode: AuditMode, op: { username: string; passwordHash: string; role: OperatorRole }, by: AddedBy) {
  const created = await createOperator(tx, op);
  await writeAudit(mode, tx, { kind: "operator.added", sessionId: null, payload: { username: created.username, role: created.role, ...by } });
  return created;
}

/** Hashes the password (outside the transaction: scrypt is slow), then adds the operator in one transaction. */
export async function addOperatorWithPassword(db: Database, mode: AuditMode, op: { username: string; password: string; role: OperatorRole }, by: AddedBy) {
  const passwordHash = await hashSecret(op.password);
  return db.tx((tx) => addOperator(tx, mode, { username: op.username, passwordHash, role: op.role }, by));
}
