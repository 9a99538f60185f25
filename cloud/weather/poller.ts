/**
 * The weather poller (issue 17, the user's document §4.3): every interval, for each site with a
 * position, fetch OpenWeatherMap's current weather, store it (site_weather) and, when the
 * observation is newer, enqueue a retained parking/meteo for the site in the same transaction;
 * the outbox relay publishes it (retained, from the topic map) and the gateway's bridge takes it
 * to the site.
 *
 * Bounded: a site is due once `intervalMs` has passed since its last fetch — by this instance
 * (in memory) or by any other (site_weather.fetched_at), so a restart or a second instance does
 * not multiply the requests. A failure backs that site off (interval × 2^(failures−1), at most
 * an hour or the interval if longer) and is logged once per attempt, without the key; the other
 * sites go on. Nothing escapes the timer: a failed pass is logged and the next one runs.
 */
import type { Logger } from "../../host/log";
import { WakeableLoop } from "../../host/wakeable-loop";
import type { Database } from "../db/index";
import { fetchCurrentWeather, toMeteoPayload, WeatherApiError } from "./openweathermap";
import { recordObservation, sitesWithPosition, type WeatherSite } from "./store";

export interface WeatherPollerOptions {
  db: Database;
  logger: Logger;
  apiKey: string;
  baseUrl: string;
  /** Between two fetches of a site; ≥ 60 s in production (cloud/weather/config.ts), tests lower it. */
  intervalMs: number;
  /** `src` of the parking/meteo messages (the cloud's instance id). */
  src: string;
  /** Called after a commit that enqueued a message (wakes the outbox relay). */
  wake(): void;
  lang?: "fr" | "en";
  /** One request (default 10 s). */
  timeoutMs?: number;
}

export interface PollReport {
  /** Sites with a position that were due. */
  due: number;
  published: string[];
  unchanged: string[];
  failed: { siteId: string; kind: string }[];
}

interface SiteState {
  /** Not before this instant (epoch ms): the interval after a fetch, the backoff after a failure. */
  nextAt: number;
  failures: number;
}

const MAX_BACKOFF_MS = 3600_000;

export class WeatherPoller {
  private readonly state = new Map<string, SiteState>();
  private readonly loop: WakeableLoop;
  private abort = new AbortController();
  /** Passes never overlap (the timer's and a caller's pollOnce). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: WeatherPollerOptions) {
    if (!(o.intervalMs > 0)) throw new RangeError("WeatherPoller: intervalMs must be positive");
    this.loop = new WakeableLoop({
      name: "weather poller",
      logger: o.logger,
      pass: (more) => this.serialized(new Date(), more),
      periodMs: o.intervalMs,
      wakeDelayMs: 0,
    });
  }

  /** Polls now, then every interval. */
  start(): void {
    if (this.loop.isRunning) return;
    this.abort = new AbortController();
    this.loop.start();
  }

  /** Stops the timer, aborts the request under way and waits for the pass to end. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop.stop();
    await this.chain.catch(() => undefined);
  }

  /** One pass over the due sites at `now`; never throws for a site's failure (see the report). */
  pollOnce(now: Date = new Date()): Promise<PollReport> {
    return this.serialized(now, () => true);
  }

  private serialized(now: Date, more: () => boolean): Promise<PollReport> {
    const p = this.chain.then(() => this.pass(now, more));
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async pass(now: Date, more: () => boolean): Promise<PollReport> {
    const report: PollReport = { due: 0, published: [], unchanged: [], failed: [] };
    const t = now.getTime();
    const sites = await sitesWithPosition(this.o.db.sql);
    const known = new Set(sites.map((s) => s.siteId));
    for (const id of this.state.keys()) if (!known.has(id)) this.state.delete(id); // position removed
    let enqueued = false;
    for (const site of sites) {
      if (!more()) break;
      if (!this.isDue(site, t)) continue;
      report.due++;
      try {
        const outcome = await this.pollSite(site, now);
        this.state.set(site.siteId, { nextAt: t + this.o.intervalMs, failures: 0 });
        report[outcome].push(site.siteId);
        if (outcome === "published") enqueued = true;
      } catch (err) {
        if (err instanceof WeatherApiError && err.kind === "aborted") break; // stopping
        report.failed.push({ siteId: site.siteId, kind: this.failed(site.siteId, t, err) });
      }
    }
    if (enqueued) this.o.wake();
    return report;
  }

  private isDue(site: WeatherSite, t: number): boolean {
    const s = this.state.get(site.siteId);
    if (s && t < s.nextAt) return false;
    // Fetched lately by another instance (or by this one before a restart).
    return !(site.fetchedAt && t < site.fetchedAt.getTime() + this.o.intervalMs);
  }

  private async pollSite(site: WeatherSite, now: Date): Promise<"published" | "unchanged"> {
    const w = await fetchCurrentWeather(
      { apiKey: this.o.apiKey, baseUrl: this.o.baseUrl, lang: this.o.lang ?? "fr", timeoutMs: this.o.timeoutMs ?? 10_000, signal: this.abort.signal },
      site.latitude,
      site.longitude,
    );
    const payload = toMeteoPayload(w, { ts: now.getTime(), src: this.o.src });
    return this.o.db.tx((tx) => recordObservation(tx, site.siteId, payload, now));
  }

  /** Backs the site off and logs why (the error messages never hold the key). Returns the kind. */
  private failed(siteId: string, t: number, err: unknown): string {
    const prev = this.state.get(siteId);
    const failures = (prev?.failures ?? 0) + 1;
    const backoff = Math.min(this.o.intervalMs * 2 ** Math.min(failures - 1, 16), Math.max(MAX_BACKOFF_MS, this.o.intervalMs));
    this.state.set(siteId, { nextAt: t + backoff, failures });
    const kind = err instanceof WeatherApiError ? err.kind : "store";
    const message = (err as Error).message ?? String(err);
    this.o.logger.warn(
      { site: siteId, kind, ...(err instanceof WeatherApiError && err.status ? { status: err.status } : {}), err: message.split(this.o.apiKey).join("****"), failures, retryInS: Math.round(backoff / 1000) },
      "weather: fetching or storing the site's weather failed (will retry)",
    );
    return kind;
  }
}
