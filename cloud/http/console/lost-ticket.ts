/**
 * A lost ticket declared by an operator (issue 18), in ./entry-actions.ts's style: the driver at
 * an exit lane without a ticket calls the intercom; the operator declares it for that lane (with
 * the plate when the driver gives it), and the lane gets the payment request of the tariff's
 * lost-ticket rule (cloud/flows/lost-ticket.ts declareLostTicket: priced from the entry when the
 * plate matches a car inside, else the fixed fee). `operator` and `admin` act, a viewer is
 * refused; a reason always (audited with the operator); `key` makes a repeated post act once.
 * - POST /api/console/sites/:site/lost-ticket {lane, plate?, reason, key?} → JSON
 * - POST /console/sites/:site/lost-ticket (the same as a form) → 303 back to the site's live page
 */
import { randomBytes } from "node:crypto";
import express, { type Request, type Router } from "express";
import { z } from "zod";
import { declareLostTicket } from "../../flows/lost-ticket";
import type { AppDeps } from "../deps";
import { formBody, jsonBody, parse, requireJson, wrap } from "../input";
import { flowContextOf } from "../merchants";
import { operatorOf } from "./request";

type LostDeps = Pick<AppDeps, "db" | "auth" | "logger" | "src" | "publicBaseUrl" | "auditMode" | "wake" | "jsonLimit" | "billingEnabled">;

const SITE = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "site id: lowercase letters, digits, - and _");
const ACTORS = ["admin", "operator"] as const;

export const LostTicketDeclaration = z.strictObject({
  lane: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "lane: the exit lane's id, e.g. L1"),
  plate: z.string().trim().regex(/^[A-Za-z0-9 .-]{1,20}$/, "plate: letters and digits").optional(),
  reason: z.string().trim().min(3, "reason is required (at least 3 characters): every action is audited").max(200),
  key: z.string().regex(/^[A-Za-z0-9_-]{8,48}$/, "key: 8-48 letters, digits, - or _").optional(),
});

async function declare(d: LostDeps, req: Request, body: z.infer<typeof LostTicketDeclaration>): Promise<{ siteId: string; outcome: string; sessionId?: string }> {
  const siteId = parse(SITE, req.params.site, "path site");
  const op = operatorOf(req);
  const r = await declareLostTicket(flowContextOf(d), {
    site: siteId, lane: body.lane, operator: { operatorId: op.operatorId, username: op.username }, reason: body.reason,
    key: body.key ?? randomBytes(12).toString("base64url"), ...(body.plate ? { plate: body.plate } : {}),
  });
  return { siteId, ...r };
}

/** A form's empty fields are absent (an HTML form sends every input). */
function formFields(body: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries((body ?? {}) as Record<string, string>).filter(([, v]) => v !== ""));
}

export function consoleLostTicketRouter(d: LostDeps): Router {
  const router = express.Router();
  router.post(
    "/api/console/sites/:site/lost-ticket",
    d.auth.require(ACTORS),
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const r = await declare(d, req, parse(LostTicketDeclaration, req.body, "body"));
      res.status(200).json({ site_id: r.siteId, session_id: r.sessionId ?? null, outcome: r.outcome });
    }),
  );
  router.post(
    "/console/sites/:site/lost-ticket",
    d.auth.require(ACTORS, { html: true }),
    ...formBody(),
    wrap(async (req, res) => {
      const r = await declare(d, req, parse(LostTicketDeclaration, formFields(req.body), "form"));
      res.redirect(303, `/console/sites/${r.siteId}`);
    }),
  );
  return router;
}
