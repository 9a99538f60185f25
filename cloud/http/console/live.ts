/**
 * The console's live screens and the lane actions (issue 17): `/console` (the sites), and
 * `/console/sites/:site` (one site live), their JSON twins under `/api/console/sites…` (scripts,
 * the HIL harness), the event stream, and the actions — open a lane, reset a fault, a display
 * text, entries closed / reopened, an alarm cleared — each with a reason, the operator's
 * identity in the audit and a cmd_id whose acknowledgement the screen shows.
 * Roles: every role reads; `operator` and `admin` act; a viewer is refused on the server.
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { siteSnapshot, sitesOverview, type SiteSnapshot } from "../../flows/console-views";
import { siteAuditAfter } from "../../db/index";
import { HttpError } from "../../flows/errors";
import { clearAlarm, sendDisplayText, setEntriesClosed } from "../../flows/lane-commands";
import { issueOverride } from "../../flows/overrides";
import { getCommand } from "../../db/site-status";
import type { LiveEvent, LiveHub } from "../../live/hub";
import type { AppDeps } from "../deps";
import { jsonBody, parse, requireJson, wrap } from "../input";
import { FEED_CATEGORIES } from "./feed-text";
import { overviewBody, siteBody } from "./live-page";
import { consoleCsp, consoleLang, operatorOf, render } from "./request";
import { openStream } from "./stream";

type LiveDeps = Pick<AppDeps, "db" | "auth" | "logger" | "src" | "auditMode" | "wake" | "jsonLimit"> & { live?: LiveHub };

const SITE = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "site id: lowercase letters, digits, - and _");
const LANE = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "lane id: 1-64 of A-Z a-z 0-9 . _ : -");
const CMD_ID = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "cmd_id: 1-64 of A-Z a-z 0-9 . _ : -");
const REASON = z.string().trim().min(3, "reason is required (at least 3 characters): every action is audited").max(200);
const LINE = z.string().max(20, "each display line: at most 20 characters");

const FeedFilter = z.strictObject({ kind: z.union([z.enum(FEED_CATEGORIES as [string, ...string[]]), z.literal("")]).optional(), lane: z.union([z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lane: a lane id of this site"), z.literal("")]).optional(), lang: z.enum(["fr", "en"]).optional() });
const LaneCommand = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("open"), reason: REASON, cmd_id: CMD_ID.optional(), session_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional() }),
  z.strictObject({ action: z.literal("reset"), reason: REASON, cmd_id: CMD_ID.optional() }),
  z.strictObject({ action: z.literal("display"), reason: REASON, cmd_id: CMD_ID.optional(), lines: z.array(LINE).min(1, "lines: at least one line").max(4, "lines: at most 4"), ttl_s: z.number().int().min(5).max(86_400).optional() }),
]);
const EntriesCommand = z.strictObject({ closed: z.boolean(), reason: REASON, cmd_id: CMD_ID.optional() });
const ClearAlarm = z.strictObject({ reason: REASON });

const ACTORS = ["admin", "operator"] as const;
const StreamQuery = z.strictObject({ after: z.coerce.number().int().min(0).max(2 ** 53).optional(), lang: z.enum(["fr", "en"]).optional() });

/** The lanes' persisted state and the feed rows after `after`: what a page may have missed before its stream opened. */
async function catchUp(d: LiveDeps, s: SiteSnapshot, after: number | undefined): Promise<LiveEvent[]> {
  const lanes: LiveEvent[] = s.lanes
    .filter((l) => l.stateTs !== null)
    .map((l) => ({
      type: "lane" as const,
      siteId: s.site.siteId,
      laneId: l.name,
      data: { ts: (l.stateTs as Date).getTime(), lane_id: l.name, exit_state: l.exitState, barrier_state: l.barrierState, barrier_pos: l.barrierPos ?? undefined, display: l.display ?? [], session_id: l.sessionId ?? undefined, fault: l.fault ?? undefined, present: l.present ?? undefined },
    }));
  if (after === undefined) return lanes;
  const rows = await siteAuditAfter(d.db.sql, s.site.siteId, after, 200);
  return [...lanes, ...rows.map((row) => ({ type: "audit" as const, siteId: s.site.siteId, row }))];
}

function siteParam(req: Request): string {
  return parse(SITE, req.params.site, "path site");
}

async function snapshotOr404(d: LiveDeps, siteId: string, feedLimit?: number) {
  const s = await siteSnapshot(d.db, siteId, feedLimit);
  if (!s) throw new HttpError(404, `unknown site ${siteId}`, "not_found");
  return s;
}


async function laneCommand(d: LiveDeps, req: Request, res: Response): Promise<void> {
  requireJson(req);
  const siteId = siteParam(req);
  const wireLane = parse(LANE, req.params.lane, "path lane");
  const body = parse(LaneCommand, req.body, "body");
  const op = operatorOf(req);
  let r: { cmdId: string; duplicate: boolean };
  if (body.action === "display") {
    r = await sendDisplayText(d, { siteId, wireLane, lines: body.lines, reason: body.reason, ...(body.ttl_s ? { ttlS: body.ttl_s } : {}), ...(body.cmd_id ? { cmdId: body.cmd_id } : {}) }, op);
  } else {
    r = await issueOverride(d, { siteId, wireLane, action: body.action, reason: body.reason, ...(body.cmd_id ? { cmdId: body.cmd_id } : {}), ...("session_id" in body && body.session_id ? { sessionId: body.session_id } : {}) }, op, req.requestId ?? null);
  }
  if (!r.duplicate) d.wake();
  res.status(r.duplicate ? 200 : 202).json({ cmd_id: r.cmdId, site_id: siteId, lane_id: wireLane, action: body.action, duplicate: r.duplicate });
}

function pages(router: Router, d: LiveDeps): void {
  const html = d.auth.require(undefined, { html: true });
  router.get(
    "/console",
    consoleCsp,
    html,
    wrap(async (req, res) => {
      const lang = consoleLang(req, res);
      render(req, res, { lang, title: lang === "fr" ? "Parkings" : "Car parks", nav: "live", body: overviewBody(await sitesOverview(d.db), lang) });
    }),
  );
  router.get(
    "/console/sites/:site",
    consoleCsp,
    html,
    wrap(async (req, res) => {
      const lang = consoleLang(req, res);
      const filter = parse(FeedFilter, req.query, "query");
      const s = await snapshotOr404(d, siteParam(req));
      const kind = filter.kind ? (filter.kind as (typeof FEED_CATEGORIES)[number]) : undefined;
      render(req, res, { lang, title: s.site.name, nav: "live", body: siteBody(s, lang, operatorOf(req).role, { ...(kind ? { kind } : {}), ...(filter.lane ? { lane: filter.lane } : {}) }) });
    }),
  );
}

function api(router: Router, d: LiveDeps): void {
  const anyRole = d.auth.require();
  const actors = d.auth.require(ACTORS);
  router.get("/api/console/sites", anyRole, wrap(async (_req, res) => void res.json(await sitesOverview(d.db))));
  router.get("/api/console/sites/:site", anyRole, wrap(async (req, res) => void res.json(await snapshotOr404(d, siteParam(req)))));
  router.get(
    "/api/console/sites/:site/stream",
    anyRole,
    wrap(async (req, res) => {
      if (!d.live) throw new HttpError(503, "the live view is not running on this instance", "unavailable");
      // A reconnecting EventSource says where it stopped (Last-Event-ID: the last feed row's seq).
      const lastId = req.get("Last-Event-ID");
      const after = lastId && /^\d{1,15}$/.test(lastId) ? Number(lastId) : parse(StreamQuery, req.query, "query").after;
      const s = await snapshotOr404(d, siteParam(req), 0); // the stream's catch-up reads the feed after `after` itself
      openStream(req, res, d.live, { siteId: s.site.siteId, timeZone: s.site.timeZone }, consoleLang(req, res), await catchUp(d, s, after));
    }),
  );
  router.get(
    "/api/console/commands/:cmdId",
    anyRole,
    wrap(async (req, res) => {
      const c = await getCommand(d.db.sql, parse(CMD_ID, req.params.cmdId, "path cmdId"));
      if (!c) throw new HttpError(404, "unknown command", "not_found");
      res.json(c);
    }),
  );
  router.post("/api/console/sites/:site/lanes/:lane/commands", actors, jsonBody(d.jsonLimit), wrap((req, res) => laneCommand(d, req, res)));
  router.post(
    "/api/console/sites/:site/entries",
    actors,
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const siteId = siteParam(req);
      const body = parse(EntriesCommand, req.body, "body");
      const r = await setEntriesClosed(d, { siteId, closed: body.closed, reason: body.reason, ...(body.cmd_id ? { cmdId: body.cmd_id } : {}) }, operatorOf(req));
      if (!r.duplicate) d.wake();
      res.status(r.duplicate ? 200 : 202).json({ cmd_id: r.cmdId, site_id: siteId, entries_closed: body.closed, changed: r.changed, duplicate: r.duplicate });
    }),
  );
  router.post(
    "/api/console/sites/:site/alarms/:alarmId/clear",
    actors,
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const siteId = siteParam(req);
      const alarmId = parse(z.coerce.number().int().positive().max(2 ** 53), req.params.alarmId, "path alarmId");
      const body = parse(ClearAlarm, req.body, "body");
      const cleared = await clearAlarm(d, { siteId, alarmId, reason: body.reason }, operatorOf(req));
      if (cleared) d.wake();
      res.status(200).json({ alarm_id: alarmId, cleared });
    }),
  );
}

export function consoleLiveRouter(d: LiveDeps): Router {
  const router = express.Router();
  pages(router, d);
  api(router, d);
  return router;
}
