/**
 * What the audit routes read (no writes): the audit chain's head for an export, and the chain
 * check. The audit rows that hot transactions queued join the chain first (flushAudit), so an
 * export or a check sees them. (The console's screens read cloud/flows/console-views.ts.)
 */
import { verifyAuditChain, type Database } from "../db/index";
import { flushAudit } from "../server/audit-chain";

/** The chain's head once every queued row has joined it: what an export starts from. */
export async function auditHeadForExport(db: Database): Promise<{ seq: number; hash: string }> {
  await flushAudit(db);
  const [head] = await db.sql<{ seq: number; hash: string }[]>`SELECT seq, hash FROM audit_head WHERE singleton`;
  return head;
}

export async function verifyAudit(db: Database): ReturnType<typeof verifyAuditChain> {
  await flushAudit(db);
  return verifyAuditChain(db.sql);
}
