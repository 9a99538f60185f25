/**
 * Operators over the cloud's API (admin only): `GET /api/operators`, `POST /api/operators`.
 * This is how `syspark operator add|list` reach a cloud that holds its embedded PGlite database
 * (`syspark up`, `syspark cloud` on PGlite): the database is held by that process, so writing
 * its files from another one is impossible, and writing another database would create an
 * operator the running cloud never sees. The creation (hashed password, audited in the same
 * transaction): cloud/flows/operators.ts.
 */
import express, { type Request, type Router } from "express";
import { z } from "zod";
import { OPERATOR_ROLES, UsernameSchema, listOperators } from "../db/index";
import { addOperatorWithPassword } from "../flows/operators";
import type { AppDeps } from "./deps";
import { jsonBody, parse, requireJson, wrap } from "./input";

const AddBody = z.strictObject({
  username: UsernameSchema,
  password: z.string().min(12, "must be at least 12 characters").max(1024, "must be at most 1024 characters"),
  role: z.enum(OPERATOR_ROLES).default("operator"),
});

export function operatorsRouter(d: Pick<AppDeps, "db" | "auth" | "auditMode" | "jsonLimit" | "wake">): Router {
  const router = express.Router();
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
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const body = parse(AddBody, req.body, "body");
      const by = req.operator as NonNullable<Request["operator"]>;
      const row = await addOperatorWithPassword(d.db, d.auditMode, body, { operator: by.username, operator_id: by.operatorId, request_id: req.requestId ?? null });
      d.wake();
      res.status(201).json({ username: row.username, role: row.role });
    }),
  );
  return router;
}
