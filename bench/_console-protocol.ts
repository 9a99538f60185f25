/**
 * What `bench console` (console.ts) and its two processes (_console-clients.ts: the operators'
 * screens; _console-load.ts: the sites' gateways) say to each other over the fork IPC channel,
 * and the clock they share: wall-clock milliseconds with sub-millisecond precision, comparable
 * across processes on one machine (each process's timeOrigin is read from the same system clock).
 */

export const wallMs = (): number => performance.timeOrigin + performance.now();

/** The wire id of a site's lane i (0-based): L1, L2, … */
export const laneName = (i: number): string => `L${i + 1}`;

/** The marker a lane event carries as its first display line: `#<seq>` (display lines are at most 20 characters). */
export const laneMarker = (seq: number): string => `#${seq}`;
export const markerSeq = (line: unknown): number | undefined => (typeof line === "string" && /^#\d+$/.test(line) ? Number(line.slice(1)) : undefined);

/** The reason an override of the feed burst carries; the feed item's text shows it. */
export const feedReason = (k: number): string => `bench feed burst ${k}.`;
export const feedMarker = (text: unknown): number | undefined => {
  const m = typeof text === "string" ? /bench feed burst (\d+)\./.exec(text) : null;
  return m ? Number(m[1]) : undefined;
};

export interface ClientsConfig {
  cloudUrl: string;
  mqttUrl: string;
  mqttVersion: 4 | 5;
  /** One entry per console: the site it follows, who it is signed in as. */
  consoles: { siteId: string; username: string; password: string }[];
}

export interface LoadConfig {
  mqttUrl: string;
  mqttVersion: 4 | 5;
  sites: string[];
  lanesPerSite: number;
  rate: number;
  seconds: number;
  /** Clear the retained lane states at the end (a shared broker outlives the bench). */
  clearRetained: boolean;
}

/** One override of the feed burst. */
export interface BurstItem {
  k: number;
  siteId: string;
  lane: string;
}

export interface FeedSent {
  k: number;
  siteId: string;
  sentAt: number;
  /** When the 202 came back (the audit row is committed), or undefined when refused. */
  ackAt: number | undefined;
  status: number;
}

export interface ClientsReport {
  /** Per console: [seq, arrival, server sentAt] of every lane frame. */
  lanes: [number, number, number][][];
  /** Per console: [k, arrival, server sentAt] of every feed frame of the burst. */
  feed: [number, number, number][][];
  /** [seq, arrival] at the bare MQTT subscriber (the anchor). */
  anchor: [number, number][];
  sent: FeedSent[];
  /** Streams that ended before the report (the server drops a console too slow to read). */
  closedStreams: number;
}

export interface LoadReport {
  /** [seq, site index, lane index, publish time]. */
  events: [number, number, number, number][];
  /** Per site, per lane (wire id): the last state published. */
  last: { siteId: string; lane: string; ts: number; marker: string; exitState: string }[];
  pubackMs: number[];
  errors: number;
}

export type ToClients = { cmd: "open"; config: ClientsConfig } | { cmd: "burst"; items: BurstItem[] } | { cmd: "report" };
export type FromClients = { type: "ready" } | { type: "progress"; frames: number } | { type: "sent"; sent: FeedSent[] } | { type: "report"; report: ClientsReport } | { type: "error"; message: string };
export type ToLoad = { cmd: "connect"; config: LoadConfig } | { cmd: "go" };
export type FromLoad = { type: "ready" } | { type: "progress"; published: number } | { type: "report"; report: LoadReport } | { type: "error"; message: string };
