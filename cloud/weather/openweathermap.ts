/**
 * OpenWeatherMap's Current Weather API 2.5 (https://openweathermap.org/current), the one call the
 * weather poller makes: `GET {base}/data/2.5/weather?lat&lon&appid&units=metric&lang`. The
 * response is a third party's input: validated with zod before anything is read from it (extra
 * fields are ignored, the ones SysPark uses must be there with their types). Every failure is a
 * WeatherApiError whose message says what went wrong and never holds the key: the URL in it has
 * `appid` masked, and the API's own message is scrubbed of the key before it is kept.
 */
import { z } from "zod";
import { withoutControlChars } from "../../contracts/text";
import type { Payload } from "../../contracts/mqtt-topics";

/** The response body, as documented (the keys SysPark reads are required; the rest may vary). */
export const OwmCurrentSchema = z.object({
  coord: z.object({ lon: z.number(), lat: z.number() }),
  weather: z.array(z.object({ id: z.number().int(), main: z.string(), description: z.string(), icon: z.string() })).min(1),
  base: z.string().optional(),
  main: z.object({
    temp: z.number(),
    feels_like: z.number(),
    temp_min: z.number().optional(),
    temp_max: z.number().optional(),
    pressure: z.number(),
    humidity: z.number(),
    sea_level: z.number().optional(),
    grnd_level: z.number().optional(),
  }),
  visibility: z.number().optional(),
  wind: z.object({ speed: z.number(), deg: z.number().optional(), gust: z.number().optional() }),
  rain: z.object({ "1h": z.number().optional(), "3h": z.number().optional() }).optional(),
  snow: z.object({ "1h": z.number().optional(), "3h": z.number().optional() }).optional(),
  clouds: z.object({ all: z.number() }).optional(),
  dt: z.number().int().positive(),
  sys: z.object({ country: z.string().optional(), sunrise: z.number().optional(), sunset: z.number().optional() }).optional(),
  timezone: z.number().int(),
  id: z.number().int().optional(),
  name: z.string(),
  cod: z.union([z.number(), z.string()]),
});
export type OwmCurrent = z.infer<typeof OwmCurrentSchema>;

export type WeatherErrorKind = "unauthorized" | "rate_limited" | "bad_request" | "server" | "timeout" | "network" | "bad_response" | "aborted";

export class WeatherApiError extends Error {
  override readonly name = "WeatherApiError";
  constructor(
    readonly kind: WeatherErrorKind,
    message: string,
    /** The HTTP status, when the API answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface OwmClientOptions {
  apiKey: string;
  /** e.g. https://api.openweathermap.org (a test points it at the fake server). */
  baseUrl: string;
  lang?: "fr" | "en";
  /** Whole request, headers and body (default 10 s). */
  timeoutMs?: number;
  /** Aborts the request (the poller stopping). */
  signal?: AbortSignal;
}

/** The URL with `appid` masked: the only form of it that may reach a log or an error. */
export function redactAppid(url: string): string {
  return url.replace(/([?&]appid=)[^&#]*/gi, "$1****");
}

const MAX_BODY = 64 * 1024;

/** The request URL (holds the key: never log it, log redactAppid(url)). */
export function currentWeatherUrl(o: Pick<OwmClientOptions, "apiKey" | "baseUrl" | "lang">, lat: number, lon: number): string {
  const u = new URL("/data/2.5/weather", o.baseUrl.replace(/\/+$/, "") + "/");
  u.searchParams.set("lat", String(lat));
  u.searchParams.set("lon", String(lon));
  u.searchParams.set("appid", o.apiKey);
  u.searchParams.set("units", "metric");
  u.searchParams.set("lang", o.lang ?? "fr");
  return u.toString();
}

/** Fetches the current weather at a point. Throws WeatherApiError (never with the key in it). */
export async function fetchCurrentWeather(o: OwmClientOptions, lat: number, lon: number): Promise<OwmCurrent> {
  const url = currentWeatherUrl(o, lat, lon);
  const shown = redactAppid(url);
  const scrub = (s: string) => (o.apiKey ? s.split(o.apiKey).join("****") : s);
  const timeoutMs = o.timeoutMs ?? 10_000;
  const signals = [AbortSignal.timeout(timeoutMs), ...(o.signal ? [o.signal] : [])];
  let status: number;
  let body: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.any(signals), headers: { accept: "application/json" }, redirect: "error" });
    status = res.status;
    body = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { message?: string; code?: string } };
    if (o.signal?.aborted) throw new WeatherApiError("aborted", `weather request aborted: ${shown}`);
    if (e.name === "TimeoutError") throw new WeatherApiError("timeout", `no answer from OpenWeatherMap within ${timeoutMs} ms: ${shown}`);
    const cause = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new WeatherApiError("network", scrub(`OpenWeatherMap unreachable (${cause}): ${shown}`));
  }
  if (status !== 200) throw httpError(status, body, shown, scrub);
  if (body.length > MAX_BODY) throw new WeatherApiError("bad_response", `OpenWeatherMap answered ${body.length} bytes (max ${MAX_BODY}): ${shown}`, status);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new WeatherApiError("bad_response", `OpenWeatherMap answered 200 with a body that is not JSON: ${shown}`, status);
  }
  const r = OwmCurrentSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new WeatherApiError("bad_response", `OpenWeatherMap response does not have the documented shape (${issues}): ${shown}`, status);
  }
  return r.data;
}

function httpError(status: number, body: string, shown: string, scrub: (s: string) => string): WeatherApiError {
  // The API's error body is {cod, message}; its message is kept (bounded, scrubbed) because it
  // says what to do ("Invalid API key…", "wrong latitude").
  let said = "";
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof m === "string") said = `: ${withoutControlChars(scrub(m)).slice(0, 200)}`;
  } catch {
    /* not JSON: the status says enough */
  }
  const kind: WeatherErrorKind = status === 401 ? "unauthorized" : status === 429 ? "rate_limited" : status >= 500 ? "server" : "bad_request";
  const what = kind === "unauthorized" ? "refused the API key (OPENWEATHERMAP_API_KEY)" : kind === "rate_limited" ? "rate limit reached" : kind === "server" ? "server error" : "refused the request";
  return new WeatherApiError(kind, `OpenWeatherMap ${status} ${what}${said}: ${shown}`, status);
}

/** What parking/meteo carries, from a response (units=metric). */
export function toMeteoPayload(w: OwmCurrent, at: { ts: number; src: string }): Payload<"meteo"> {
  const cond = w.weather[0];
  const oneLine = (s: string, max: number) => withoutControlChars(s).trim().slice(0, max);
  const round2 = (n: number) => Math.round(n * 100) / 100;
  return {
    ts: at.ts,
    src: at.src,
    temp_c: round2(w.main.temp),
    feels_like_c: round2(w.main.feels_like),
    humidity_pct: Math.round(w.main.humidity),
    wind_ms: round2(w.wind.speed),
    condition_code: cond.id,
    main: oneLine(cond.main, 32) || "Unknown",
    description: oneLine(cond.description, 80),
    observed_ts: w.dt * 1000,
    ...(w.rain?.["1h"] !== undefined ? { rain_1h_mm: round2(w.rain["1h"]) } : {}),
    ...(w.snow?.["1h"] !== undefined ? { snow_1h_mm: round2(w.snow["1h"]) } : {}),
  };
}
