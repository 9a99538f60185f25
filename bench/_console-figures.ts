/**
 * `bench console`'s figures from what its processes recorded: latency summaries per delivery and
 * per event, what was missed, the anchor on the same events, the feed burst, and the persisted
 * last-known state against the last state published per lane.
 */
import type { Database } from "../cloud/db/index";
import { wallMs, type ClientsReport, type FeedSent, type LoadReport } from "./_console-protocol";

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summary(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const pct = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN);
  return { n: s.length, p50: pct(50), p95: pct(95), p99: pct(99), max: s.length ? s[s.length - 1] : NaN };
}

interface SetupLike {
  sites: string[];
  consoles: { siteId: string }[];
}

/** Console indices per site index. */
function followers(setup: SetupLike): number[][] {
  return setup.sites.map((site) => setup.consoles.flatMap((c, i) => (c.siteId === site ? [i] : [])));
}

export function laneFigures(setup: SetupLike, load: LoadReport, report: ClientsReport) {
  const bySite = followers(setup);
  let duplicated = 0;
  const arrivals = report.lanes.map((frames) => {
    const m = new Map<number, [number, number]>();
    for (const [seq, at, sentAt] of frames) {
      if (m.has(seq)) duplicated++;
      else m.set(seq, [at, sentAt]);
    }
    return m;
  });
  const anchorAt = new Map<number, number>();
  for (const [seq, at] of report.anchor) if (!anchorAt.has(seq)) anchorAt.set(seq, at);
  const perDelivery: number[] = [];
  const perEvent: number[] = [];
  const toSend: number[] = [];
  const sendToArrival: number[] = [];
  const anchor: number[] = [];
  let missed = 0;
  let expected = 0;
  let anchorMissed = 0;
  for (const [seq, site, , t] of load.events) {
    let last = -Infinity;
    let all = true;
    for (const c of bySite[site]) {
      expected++;
      const a = arrivals[c].get(seq);
      if (!a) {
        missed++;
        all = false;
        continue;
      }
      perDelivery.push(a[0] - t);
      toSend.push(a[1] - t);
      sendToArrival.push(a[0] - a[1]);
      last = Math.max(last, a[0] - t);
    }
    if (all && bySite[site].length > 0) perEvent.push(last);
    const at = anchorAt.get(seq);
    if (at === undefined) anchorMissed++;
    else anchor.push(at - t);
  }
  return { expected, missed, duplicated, anchorMissed, perDelivery: summary(perDelivery), perEvent: summary(perEvent), toSend: summary(toSend), sendToArrival: summary(sendToArrival), anchor: summary(anchor) };
}

export function feedBurstFigures(setup: SetupLike, sent: FeedSent[], report: ClientsReport) {
  const bySite = followers(setup);
  const arrivals = report.feed.map((frames) => {
    const m = new Map<number, number>();
    for (const [k, at] of frames) if (!m.has(k)) m.set(k, at);
    return m;
  });
  const latency: number[] = [];
  const api: number[] = [];
  let missed = 0;
  for (const s of sent) {
    if (s.ackAt === undefined) continue;
    api.push(s.ackAt - s.sentAt);
    for (const c of bySite[setup.sites.indexOf(s.siteId)]) {
      const at = arrivals[c].get(s.k);
      if (at === undefined) missed++;
      else latency.push(at - s.ackAt);
    }
  }
  return { latency: summary(latency), api: summary(api), missed };
}

export interface Persisted {
  lanes: number;
  matching: number;
  /** When every lane matched, how long after the last publish (polled every 50 ms). */
  settledMs?: number;
  example?: unknown;
}

/** Polls lane_status until every lane holds the last state published (or 20 s have passed). */
export async function checkPersisted(db: Database, last: LoadReport["last"], sites: string[], lastPublishAt: number): Promise<Persisted> {
  const want = new Map(last.map((l) => [`${l.siteId}/${l.lane}`, l]));
  const deadline = wallMs() + 20_000;
  for (;;) {
    const rows = await db.sql<{ site: string; lane: string; marker: string | null; exit: string | null; ts: Date | null }[]>`
      SELECT site_id AS site, wire_lane_id AS lane, display->>0 AS marker, exit_state AS exit, state_ts AS ts FROM lane_status WHERE site_id = ANY(${sites})`;
    let matching = 0;
    let example: unknown;
    for (const r of rows) {
      const w = want.get(`${r.site}/${r.lane}`);
      if (w && r.marker === w.marker && r.exit === w.exitState && r.ts?.getTime() === w.ts) matching++;
      else example ??= { row: r, want: w };
    }
    example ??= matching < want.size ? { missingRows: want.size - rows.length } : undefined;
    if (matching === want.size) return { lanes: want.size, matching, settledMs: wallMs() - lastPublishAt };
    if (wallMs() > deadline) return { lanes: want.size, matching, example };
    await new Promise((r) => setTimeout(r, 50));
  }
}
