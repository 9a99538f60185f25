/**
 * TEST DOUBLE — a local stand-in for OpenWeatherMap's Current Weather API 2.5, which cannot be
 * reached from the test machines. A real node:http server that behaves like the real API on the
 * one path SysPark calls, `GET /data/2.5/weather`:
 *
 * - `appid` missing or not the configured key → 401 `{"cod":401,"message":"Invalid API key. …"}`
 *   (the real body); `lat`/`lon` missing → 400 `{"cod":"400","message":"Nothing to geocode"}`,
 *   out of range → 400 `wrong latitude` / `wrong longitude` (the real API sends `cod` as a string
 *   there, a number on 200 and 401 — kept);
 * - 200 with the response of test/fixtures/openweathermap/current-paris.json (the documented
 *   shape), its `coord` replaced with the request's point (4 decimals, as the API rounds), in the
 *   requested `units` (metric as stored; standard → kelvin, imperial → °F and mph, as the API does);
 * - other paths → 404.
 *
 * Test knobs: `reading` is the body served (change it, e.g. a newer `dt`, to make a new
 * observation); `fail(mode, where?)` makes it answer 401 / 429 / 500, hang, or send a body that is
 * not JSON, for every request or only at one point; `requests` records every request received.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export const FIXTURE_PATH = new URL("../fixtures/openweathermap/current-paris.json", import.meta.url);

/** The fixture, parsed (a fresh copy each call). */
export function loadFixture(): OwmBody {
  return JSON.parse(readFileSync(FIXTURE_PATH, "utf8")) as OwmBody;
}

/** The response body (the documented shape; only what the knobs touch is typed precisely). */
export interface OwmBody {
  coord: { lon: number; lat: number };
  weather: { id: number; main: string; description: string; icon: string }[];
  main: { temp: number; feels_like: number; temp_min: number; temp_max: number; pressure: number; humidity: number; [k: string]: number };
  wind: { speed: number; deg: number; gust?: number };
  rain?: { "1h"?: number };
  snow?: { "1h"?: number };
  dt: number;
  [k: string]: unknown;
}

export type FailMode = "unauthorized" | "rate_limited" | "server_error" | "hang" | "not_json";

export interface RecordedRequest {
  path: string;
  lat?: string;
  lon?: string;
  appid?: string;
  units?: string;
  lang?: string;
  status: number | "hung";
}

export interface FakeOpenWeatherMap {
  readonly url: string;
  readonly apiKey: string;
  /** The body served on success (metric); mutate it to change the reading. */
  reading: OwmBody;
  readonly requests: RecordedRequest[];
  /** Fail every request, or only those for one point (lat/lon as sent); `null` stops failing. */
  fail(mode: FailMode | null, where?: { lat: number; lon: number }): void;
  close(): Promise<void>;
}

const INVALID_KEY = { cod: 401, message: "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info." };
const RATE_LIMITED = {
  cod: 429,
  message: "Your account is temporary blocked due to exceeding of requests limitation of your subscription type. Please choose the proper subscription https://openweathermap.org/price",
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** The reading in the requested units (the fixture is metric). */
function inUnits(body: OwmBody, units: string | undefined): OwmBody {
  const b = structuredClone(body);
  const temps = ["temp", "feels_like", "temp_min", "temp_max"] as const;
  const round2 = (n: number) => Math.round(n * 100) / 100;
  if (units === "metric") return b;
  if (units === "imperial") {
    for (const k of temps) b.main[k] = round2((b.main[k] * 9) / 5 + 32);
    b.wind.speed = round2(b.wind.speed * 2.23694);
    if (b.wind.gust !== undefined) b.wind.gust = round2(b.wind.gust * 2.23694);
    return b;
  }
  for (const k of temps) b.main[k] = round2(b.main[k] + 273.15); // standard (the default): kelvin
  return b;
}

export async function startFakeOpenWeatherMap(opts: { apiKey?: string } = {}): Promise<FakeOpenWeatherMap> {
  const apiKey = opts.apiKey ?? "0123456789abcdef0123456789abcdef";
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  const failures: { mode: FailMode; where?: { lat: number; lon: number } }[] = [];
  const fake = { reading: loadFixture() };

  const failureFor = (lat: number, lon: number): FailMode | undefined =>
    failures.find((f) => !f.where || (f.where.lat === lat && f.where.lon === lon))?.mode;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const u = new URL(req.url ?? "/", "http://fake");
    const q = (k: string) => u.searchParams.get(k) ?? undefined;
    const rec: RecordedRequest = { path: u.pathname, lat: q("lat"), lon: q("lon"), appid: q("appid"), units: q("units"), lang: q("lang"), status: 0 };
    requests.push(rec);
    const answer = (status: number, body: unknown) => {
      rec.status = status;
      send(res, status, body);
    };
    if (req.method !== "GET" || u.pathname !== "/data/2.5/weather") return answer(404, { cod: "404", message: "Internal error" });
    // The real API checks the key first: a bad key gets 401 whatever else is wrong.
    if (rec.appid !== apiKey) return answer(401, INVALID_KEY);
    if (rec.lat === undefined || rec.lon === undefined || rec.lat === "" || rec.lon === "") return answer(400, { cod: "400", message: "Nothing to geocode" });
    const lat = Number(rec.lat), lon = Number(rec.lon);
    if (!Number.isFinite(lat) || lat < -90 || lat > 90) return answer(400, { cod: "400", message: "wrong latitude" });
    if (!Number.isFinite(lon) || lon < -180 || lon > 180) return answer(400, { cod: "400", message: "wrong longitude" });
    const failure = failureFor(lat, lon);
    if (failure === "hang") {
      rec.status = "hung";
      return; // never answers: the client's timeout must fire
    }
    if (failure === "unauthorized") return answer(401, INVALID_KEY);
    if (failure === "rate_limited") return answer(429, RATE_LIMITED);
    if (failure === "server_error") return answer(500, { cod: "500", message: "Internal error" });
    if (failure === "not_json") {
      rec.status = 200;
      res.writeHead(200, { "content-type": "text/html" });
      return void res.end("<html><body>upstream error</body></html>");
    }
    const body = inUnits(fake.reading, rec.units);
    body.coord = { lon: Math.round(lon * 10_000) / 10_000, lat: Math.round(lat * 10_000) / 10_000 };
    answer(200, body);
  };

  const server = createServer(handle);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    get reading() {
      return fake.reading;
    },
    set reading(b: OwmBody) {
      fake.reading = b;
    },
    requests,
    fail(mode, where) {
      if (mode === null) {
        failures.length = 0;
        return;
      }
      failures.unshift({ mode, ...(where ? { where } : {}) });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
