/**
 * `GET /api/console/sites/:site/stream`: the live site view as server-sent events. The page
 * rendered the persisted snapshot; the stream then sends every change as it reaches this
 * instance (cloud/live/): `lane`, `presence`, `gateway`, `alarm`, `ack`, `meteo`, and `feed`
 * (audit rows already worded in the operator's language and the site's time zone). A comment
 * every 15 s keeps proxies from closing it; a console too slow to read is dropped (it reconnects
 * and re-reads the snapshot) rather than buffered without bound.
 */
import type { Request, Response } from "express";
import type { LiveEvent, LiveHub } from "../../live/hub";
import { dbLaneId } from "../../flows/site-registry";
import type { Lang } from "../pages";
import { describeAuditRow } from "./feed-text";
import { siteTime } from "./i18n";
import { laneActionTexts } from "./live-texts";

const KEEPALIVE_MS = 15_000;
/** Bytes a console may fall behind before it is dropped. */
const MAX_BUFFERED = 1 << 20;

export interface StreamSite {
  siteId: string;
  timeZone: string;
}

/** The SSE frame of an event for one console (undefined: nothing to send). */
export function frameOf(e: LiveEvent, site: StreamSite, lang: Lang, sentAt: number): string | undefined {
  if (e.type === "audit") {
    const item = describeAuditRow(e.row, lang);
    const words = laneActionTexts(lang);
    const body = { ...item, when: siteTime(new Date(item.ts), site.timeZone, lang), laneKey: item.laneId ? dbLaneId(item.laneId) : "", categoryLabel: words.categories[item.category], sessionLabel: words.open_session, sentAt };
    return `id: ${item.seq}\nevent: feed\ndata: ${JSON.stringify(body)}\n\n`;
  }
  const laneKey = "laneId" in e && e.laneId ? dbLaneId(e.laneId) : undefined;
  const ts = typeof e.data.ts === "number" ? e.data.ts : undefined;
  const body = { ...e.data, ...(laneKey ? { laneKey } : {}), ...(ts !== undefined ? { when: siteTime(new Date(ts), site.timeZone, lang) } : {}), sentAt };
  return `event: ${e.type}\ndata: ${JSON.stringify(body)}\n\n`;
}

/**
 * Opens the stream. `catchUp` is what may have happened between the page's rendering and this
 * stream (the lanes' persisted state, the feed rows after the page's last one): sent first, after
 * the subscription, so nothing falls in between; the page ignores a lane state older than the one
 * it shows and a feed row it already has.
 */
export function openStream(req: Request, res: Response, hub: LiveHub, site: StreamSite, lang: Lang, catchUp: LiveEvent[] = []): void {
  res.status(200);
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Accel-Buffering", "no"); // proxies (nginx, Render) must not hold the events back
  res.flushHeaders();
  res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ site: site.siteId, at: Date.now() })}\n\n`);
  const close = () => {
    unsubscribe();
    clearInterval(keepalive);
    if (!res.writableEnded) res.end();
  };
  const unsubscribe = hub.subscribe(site.siteId, (e) => {
    const frame = frameOf(e, site, lang, Date.now());
    if (!frame) return;
    if (res.writableLength > MAX_BUFFERED) return close();
    res.write(frame);
  });
  for (const e of catchUp) {
    const frame = frameOf(e, site, lang, Date.now());
    if (frame) res.write(frame);
  }
  const keepalive = setInterval(() => res.write(`: keepalive ${Date.now()}\n\n`), KEEPALIVE_MS);
  keepalive.unref();
  req.on("close", close);
}
