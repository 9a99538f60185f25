/**
 * Operators over the cloud's API (admin only): `GET /api/operators`, `POST /api/operators`.
 * This is how `syspark operator add|list` reach a cloud that holds its embedded PGlite database
 * (`syspark up`, `syspark cloud` on PGlite): the database is held by that process, so writing
 * its files from another one is impossible, and writing another database would create an
 * operator the running cloud never sees. A creation is audited (`operator.added`) in the same
 * transaction; the password is hashed here and never stored, returned or logged.
 */
import express, { type Request, type Router } from "express";
import { z } from "zod";
import { OPERATOR_ROLES, UsernameSchema, createOperator, hashSecret, listOperators, type Database, type OperatorRole, type Tx } from "../db/index";
import { writeAudit, type AuditMode } from "./audit-chain";
import type { Auth } from "./auth";
import { parse, refuseControlCharsInBody, requireJson, wrap } from "./http-input";

export interface OperatorsApiDeps {
  db: Database;
  auth: Auth;
  auditMode: AuditMode;
  jsonLimit: number;
  wake(): void;
}

const AddBody = z.strictObject({
  username: UsernameSchema,
  password: z.string().min(12, "must be at least 12 characters").max(1024, "must be at most 1024 characters"),
  role: z.enum(OPERATOR_ROLES).default("operator"),
});

/**
 * Creates an operator and audits it (`operator.added`, who added it) in the caller's
 * transaction: the one way an operator is added, through the API or by `syspark operator add`
 * on the database itself (an inline chained row there: no running cloud chains it).
 */
export async function addOperator(tx: Tx, mode: AuditMode, op: { username: string; passwordHash: string; role: OperatorRole }, by: { operator: string; operator_id: number | null; request_id: string | null }) {
  const created = await createOperator(tx, op);
  await writeAudit(mode, tx, { kind: "operator.added", sessionId: null, payload: { username: created.username, role: created.role, ...by } });
  return created;
}

export function operatorsRouter(d: OperatorsApiDeps): Router {
  const router = express.Router();
  const json = [express.json({ limit: d.jsonLimit, strict: true }), refuseControlCharsInBody]; // the text rule (http-input.ts)

  router.get(
    "/api/operators",
    d.auth.require(["admin"]),
    wrap(async (_req, res) => {
      const rows = await listOperators(d.db.sql);
      res.json(rows.map((o) => ({ username: o.username, role: o.role, disabled: o.disabled, created_at: o.createdAt })));
    }),
  );

  router.post(
    "/api/operators",
    d.auth.require(["admin"]),
    json,
    wrap(async (req, res) => {
      requireJson(req);
      const body = parse(AddBody, req.body, "body");
      const by = req.operator as NonNullable<Request["operator"]>;
      const passwordHash = await hashSecret(body.password);
      const row = await d.db.tx((tx) => addOperator(tx, d.auditMode, { username: body.username, passwordHash, role: body.role }, { operator: by.username, operator_id: by.operatorId, request_id: req.requestId ?? null }));
      d.wake();
      res.status(201).json({ username: row.username, role: row.role });
    }),
  );
  return router;
}
