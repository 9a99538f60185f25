/**
 * The weather in the database (table site_weather, migration 14): one row per site, the last
 * observation and when it was fetched. Recording a newer observation and enqueueing its retained
 * parking/meteo happen in ONE transaction (the transactional outbox, cloud/db/outbox.ts): the
 * row and the message cannot disagree, and an observation is published once, whatever the
 * number of cloud instances polling (the row lock, then the outbox dedupe key).
 */
import { schemas, type Payload } from "../../contracts/mqtt-topics";
import { enqueueForSite } from "../db/site-outbox";
import type { Json, Q, Tx } from "../db/types";

export interface WeatherSite {
  siteId: string;
  latitude: number;
  longitude: number;
  /** When this site's weather was last fetched (by any instance), if ever. */
  fetchedAt: Date | null;
}

/** The sites that have a position (latitude and longitude both set). */
export async function sitesWithPosition(q: Q): Promise<WeatherSite[]> {
  return [
    ...(await q<WeatherSite[]>`
      SELECT s.site_id, s.latitude, s.longitude, w.fetched_at
      FROM sites s LEFT JOIN site_weather w ON w.site_id = s.site_id
      WHERE s.latitude IS NOT NULL AND s.longitude IS NOT NULL
      ORDER BY s.site_id`),
  ];
}

export type RecordOutcome = "published" | "unchanged";

/**
 * Stores an observation for a site and, when it is newer than the stored one, enqueues the
 * retained parking/meteo (throws if the payload breaks the contract: nothing is stored then).
 * An observation that is not newer only moves `fetched_at`: the stored one is kept.
 */
export async function recordObservation(tx: Tx, siteId: string, report: Payload<"meteo">, fetchedAt: Date): Promise<RecordOutcome> {
  const observedAt = new Date(report.observed_ts);
  // One statement decides, under the row lock, whether this observation is newer than the stored
  // one (or the first): two instances racing on the same site cannot both think so.
  const won = await tx`
    INSERT INTO site_weather (site_id, observed_at, fetched_at, report)
    VALUES (${siteId}, ${observedAt}, ${fetchedAt}, ${tx.json(report as unknown as Json)})
    ON CONFLICT (site_id) DO UPDATE SET observed_at = EXCLUDED.observed_at, fetched_at = EXCLUDED.fetched_at, report = EXCLUDED.report
      WHERE EXCLUDED.observed_at > site_weather.observed_at
    RETURNING site_id`;
  if (won.length === 0) {
    await tx`UPDATE site_weather SET fetched_at = GREATEST(fetched_at, ${fetchedAt}) WHERE site_id = ${siteId}`;
    return "unchanged";
  }
  // The dedupe key: one message per site and observation, even if a row was lost and re-made.
  const { duplicate } = await enqueueForSite(tx, siteId, "meteo", report, `meteo:${siteId}:${report.observed_ts}`);
  return duplicate ? "unchanged" : "published";
}

/** What the live view shows for a site's weather. */
export interface LiveWeather {
  tempC: number;
  feelsLikeC: number;
  humidityPct: number;
  windMs: number;
  conditionCode: number;
  /** Condition group, e.g. "Rain". */
  main: string;
  /** In WEATHER_LANG (OpenWeatherMap's words), e.g. "pluie modérée". */
  description: string;
  rain1hMm?: number;
  snow1hMm?: number;
  /** UTC; show it in the site's time zone (`timeZone`). */
  observedAt: Date;
  fetchedAt: Date;
  timeZone: string;
}

/**
 * The last weather stored for a site, or undefined when there is none (weather off, no position,
 * nothing fetched yet) or the stored report no longer fits the contract.
 */
export async function latestWeather(q: Q, siteId: string): Promise<LiveWeather | undefined> {
  const [row] = await q<{ observedAt: Date; fetchedAt: Date; report: unknown; timeZone: string }[]>`
    SELECT w.observed_at, w.fetched_at, w.report, s.time_zone
    FROM site_weather w JOIN sites s ON s.site_id = w.site_id
    WHERE w.site_id = ${siteId}`;
  if (!row) return undefined;
  const r = schemas.meteo.safeParse(row.report);
  if (!r.success) return undefined;
  const p = r.data;
  return {
    tempC: p.temp_c,
    feelsLikeC: p.feels_like_c,
    humidityPct: p.humidity_pct,
    windMs: p.wind_ms,
    conditionCode: p.condition_code,
    main: p.main,
    description: p.description,
    ...(p.rain_1h_mm !== undefined ? { rain1hMm: p.rain_1h_mm } : {}),
    ...(p.snow_1h_mm !== undefined ? { snow1hMm: p.snow_1h_mm } : {}),
    observedAt: row.observedAt,
    fetchedAt: row.fetchedAt,
    timeZone: row.timeZone,
  };
}
