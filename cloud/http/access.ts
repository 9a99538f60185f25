/**
 * The sites' access lists (offline exits, subscribers): `POST /api/sites/:site/access` (add or
 * replace a badge or a PIN), `GET` (the live entries, never a hash), `DELETE …/:entryId` (revoke).
 * Each change is one transaction in cloud/flows/access.ts; without SYSPARK_ACL_HMAC_KEY every
 * route answers 503 (nothing the gateways could verify).
 */
import express, { type Request, type Router } from "express";
import { ACL_DISABLED_MESSAGE, AccessAddBody, ENTRY_ID_RE, SITE_ID_RE, addAccessEntry, listAccessEntries, revokeAccessEntry, type AccessContext, type Actor } from "../flows/access";
import { HttpError } from "../flows/errors";
import type { AppDeps } from "./deps";
import { jsonBody, parse, requireJson, wrap } from "./input";

type AccessDeps = Pick<AppDeps, "db" | "auth" | "src" | "auditMode" | "aclHmacKey" | "pinCost" | "jsonLimit" | "wake">;

function siteParam(req: Request): string {
  const site = String(req.params.site);
  if (!SITE_ID_RE.test(site)) throw new HttpError(400, "site id: 1-32 of a-z 0-9 -", "invalid_input");
  return site;
}

function actorOf(req: Request): Actor {
  const op = req.operator as NonNullable<Request["operator"]>;
  return { username: op.username, operatorId: op.operatorId, role: op.role, via: "api", requestId: req.requestId ?? null };
}

export function accessRouter(d: AccessDeps): Router {
  const router = express.Router();
  const accessCtx = (): AccessContext => {
    if (!d.aclHmacKey) throw new HttpError(503, ACL_DISABLED_MESSAGE, "acl_disabled");
    return { db: d.db, src: d.src, auditMode: d.auditMode, aclHmacKey: d.aclHmacKey, ...(d.pinCost ? { pinCost: d.pinCost } : {}) };
  };
  router.post(
    "/api/sites/:site/access",
    d.auth.require(["admin", "operator"]),
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      const ctx = accessCtx();
      const site = siteParam(req);
      requireJson(req);
      const body = parse(AccessAddBody, req.body, "body");
      const r = await addAccessEntry(ctx, site, body, actorOf(req));
      d.wake();
      res.status(201).json({ site_id: site, version: r.version, replaced: r.replaced, entry: r.entry });
    }),
  );
  router.get(
    "/api/sites/:site/access",
    d.auth.require(),
    wrap(async (req, res) => {
      accessCtx();
      res.json(await listAccessEntries(d.db.sql, siteParam(req)));
    }),
  );
  router.delete(
    "/api/sites/:site/access/:entryId",
    d.auth.require(["admin", "operator"]),
    wrap(async (req, res) => {
      const ctx = accessCtx();
      const site = siteParam(req);
      const entryId = String(req.params.entryId);
      if (!ENTRY_ID_RE.test(entryId)) throw new HttpError(400, "entry id: 1-64 of A-Z a-z 0-9 . _ : -", "invalid_input");
      const r = await revokeAccessEntry(ctx, site, entryId, actorOf(req));
      if (!r.alreadyRevoked) d.wake();
      res.status(200).json({ site_id: site, version: r.version, already_revoked: r.alreadyRevoked, entry: r.entry });
    }),
  );
  return router;
}
