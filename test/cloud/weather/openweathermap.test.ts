/**
 * The OpenWeatherMap client and the weather settings: the documented response (the fixture)
 * parses and becomes a parking/meteo that fits the contract; against the fake server (a test
 * double of the real API), every failure is a typed error that never holds the key.
 */
import { expect } from "chai";
import { parsePayload, TOPICS } from "../../../contracts/mqtt-topics";
import { ConfigError } from "../../../cloud/server/config";
import { weatherConfigFromEnv } from "../../../cloud/weather/config";
import { currentWeatherUrl, fetchCurrentWeather, OwmCurrentSchema, redactAppid, toMeteoPayload, WeatherApiError } from "../../../cloud/weather/openweathermap";
import { loadFixture, startFakeOpenWeatherMap, type FakeOpenWeatherMap } from "../../doubles/fake-openweathermap";

const PARIS = { lat: 48.8534, lon: 2.3488 };

async function failure(p: Promise<unknown>): Promise<WeatherApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(WeatherApiError);
    return err as WeatherApiError;
  }
  throw new Error("expected a WeatherApiError");
}

describe("weather: OpenWeatherMap response and parking/meteo", () => {
  it("parses the documented response shape (the fixture) and maps it to a parking/meteo that fits the contract", () => {
    const w = OwmCurrentSchema.parse(loadFixture());
    expect(w.name).to.equal("Paris");
    const p = toMeteoPayload(w, { ts: 1_795_165_260_000, src: "cloud-test" });
    expect(p).to.deep.equal({
      ts: 1_795_165_260_000,
      src: "cloud-test",
      temp_c: 8.42,
      feels_like_c: 5.91,
      humidity_pct: 87,
      wind_ms: 4.63,
      condition_code: 501,
      main: "Rain",
      description: "pluie modérée",
      observed_ts: 1_795_165_200_000,
      rain_1h_mm: 1.27,
    });
    const parsed = parsePayload(TOPICS.meteo.topic, JSON.stringify(p));
    expect(parsed.ok, parsed.ok ? "" : parsed.error).to.equal(true);
    expect(TOPICS.meteo).to.include({ topic: "parking/meteo", direction: "cloud_to_site", qos: 1, retain: true, origin: "contract" });
  });

  it("refuses a response missing what SysPark reads, naming the field", () => {
    const body = loadFixture() as Record<string, unknown>;
    delete body.dt;
    const r = OwmCurrentSchema.safeParse(body);
    expect(r.success).to.equal(false);
    expect(r.error?.issues[0].path).to.deep.equal(["dt"]);
    expect(OwmCurrentSchema.safeParse({ ...loadFixture(), weather: [] }).success).to.equal(false);
  });

  it("keeps a description with control characters or too long inside the contract", () => {
    const body = loadFixture();
    body.weather[0].description = `pluie\nforte ${"x".repeat(200)}`;
    const p = toMeteoPayload(OwmCurrentSchema.parse(body), { ts: 1, src: "c" });
    expect(p.description).to.have.length(80);
    expect(p.description.startsWith("pluie forte")).to.equal(true);
    expect(parsePayload(TOPICS.meteo.topic, JSON.stringify(p)).ok).to.equal(true);
  });

  it("the contract refuses a reading in the wrong units (kelvin) or an unknown field", () => {
    const ok = toMeteoPayload(OwmCurrentSchema.parse(loadFixture()), { ts: 1, src: "c" });
    const kelvin = parsePayload(TOPICS.meteo.topic, JSON.stringify({ ...ok, temp_c: 281.57 }));
    expect(kelvin.ok).to.equal(false);
    expect(kelvin.ok ? "" : kelvin.error).to.match(/temp_c/);
    const extra = parsePayload(TOPICS.meteo.topic, JSON.stringify({ ...ok, pressure: 1009 }));
    expect(extra.ok).to.equal(false);
  });

  it("masks appid in any URL shown", () => {
    const url = currentWeatherUrl({ apiKey: "s3cr3tkey42", baseUrl: "https://api.openweathermap.org/", lang: "en" }, 48.85, 2.35);
    expect(url).to.equal("https://api.openweathermap.org/data/2.5/weather?lat=48.85&lon=2.35&appid=s3cr3tkey42&units=metric&lang=en");
    expect(redactAppid(url)).to.equal("https://api.openweathermap.org/data/2.5/weather?lat=48.85&lon=2.35&appid=****&units=metric&lang=en");
  });
});

describe("weather: the client against the fake OpenWeatherMap (test double)", function () {
  this.timeout(20_000);
  let fake: FakeOpenWeatherMap;
  const opts = () => ({ apiKey: fake.apiKey, baseUrl: fake.url, lang: "fr" as const, timeoutMs: 2000 });
  beforeEach(async () => {
    fake = await startFakeOpenWeatherMap();
  });
  afterEach(async () => {
    await fake.close();
  });

  it("fetches in metric units with the site's point, the key and the language", async () => {
    const w = await fetchCurrentWeather(opts(), 45.764, 4.8357);
    expect(w.coord).to.deep.equal({ lat: 45.764, lon: 4.8357 });
    expect(w.main.temp).to.equal(8.42);
    expect(fake.requests).to.have.length(1);
    expect(fake.requests[0]).to.deep.include({ path: "/data/2.5/weather", lat: "45.764", lon: "4.8357", appid: fake.apiKey, units: "metric", lang: "fr", status: 200 });
  });

  it("the fake answers like the real API: kelvin without units, 400 without a point", async () => {
    const base = `${fake.url}/data/2.5/weather?appid=${fake.apiKey}`;
    const standard = (await (await fetch(`${base}&lat=1&lon=2`)).json()) as { main: { temp: number } };
    expect(standard.main.temp).to.equal(281.57);
    const noPoint = await fetch(base);
    expect(noPoint.status).to.equal(400);
    expect(await noPoint.json()).to.deep.equal({ cod: "400", message: "Nothing to geocode" });
    const badLat = await fetch(`${base}&lat=91&lon=2`);
    expect(await badLat.json()).to.deep.equal({ cod: "400", message: "wrong latitude" });
  });

  it("a wrong key: 401 'unauthorized', the API's message kept, the key nowhere in the error", async () => {
    const secret = "wrongkey_0123456789abcdef";
    const e = await failure(fetchCurrentWeather({ ...opts(), apiKey: secret }, PARIS.lat, PARIS.lon));
    expect(e.kind).to.equal("unauthorized");
    expect(e.status).to.equal(401);
    expect(e.message).to.include("Invalid API key");
    expect(e.message).to.include("appid=****");
    expect(e.message).to.not.include(secret);
    expect(fake.requests[0].appid).to.equal(secret); // it was sent: only the error hides it
  });

  it("429, 500, a body that is not JSON: typed errors without the key", async () => {
    for (const [mode, kind, status] of [["rate_limited", "rate_limited", 429], ["server_error", "server", 500], ["not_json", "bad_response", 200]] as const) {
      fake.fail(mode);
      const e = await failure(fetchCurrentWeather(opts(), PARIS.lat, PARIS.lon));
      expect(e.kind, mode).to.equal(kind);
      expect(e.status, mode).to.equal(status);
      expect(e.message, mode).to.not.include(fake.apiKey);
    }
  });

  it("a server that never answers: 'timeout' after timeoutMs, the URL masked", async () => {
    fake.fail("hang");
    const e = await failure(fetchCurrentWeather({ ...opts(), timeoutMs: 300 }, PARIS.lat, PARIS.lon));
    expect(e.kind).to.equal("timeout");
    expect(e.message).to.include("300 ms").and.include("appid=****").and.not.include(fake.apiKey);
  });

  it("nobody listening: 'network', without the key", async () => {
    const url = fake.url;
    await fake.close();
    const e = await failure(fetchCurrentWeather({ ...opts(), baseUrl: url }, PARIS.lat, PARIS.lon));
    expect(e.kind).to.equal("network");
    expect(e.message).to.not.include(fake.apiKey);
    fake = await startFakeOpenWeatherMap(); // for afterEach
  });
});

describe("weather: settings from the environment", () => {
  const KEY = "0123456789abcdef0123456789abcdef";

  it("no OPENWEATHERMAP_API_KEY (or an empty one): weather off", () => {
    expect(weatherConfigFromEnv({})).to.equal(undefined);
    expect(weatherConfigFromEnv({ OPENWEATHERMAP_API_KEY: "", WEATHER_INTERVAL_S: "900" })).to.equal(undefined);
  });

  it("defaults: the real API, every 600 s, in French", () => {
    expect(weatherConfigFromEnv({ OPENWEATHERMAP_API_KEY: KEY })).to.deep.equal({ apiKey: KEY, baseUrl: "https://api.openweathermap.org", intervalMs: 600_000, lang: "fr" });
    expect(weatherConfigFromEnv({ OPENWEATHERMAP_API_KEY: KEY, OPENWEATHERMAP_BASE_URL: "http://127.0.0.1:9/", WEATHER_INTERVAL_S: "60", WEATHER_LANG: "en" })).to.deep.equal({
      apiKey: KEY,
      baseUrl: "http://127.0.0.1:9",
      intervalMs: 60_000,
      lang: "en",
    });
  });

  it("refuses bad values with a ConfigError naming the variable, never showing the key", () => {
    const cases: [Record<string, string>, string][] = [
      [{ WEATHER_INTERVAL_S: "59" }, "WEATHER_INTERVAL_S must be at least 60"],
      [{ WEATHER_INTERVAL_S: "ten" }, "WEATHER_INTERVAL_S must be a whole number"],
      [{ OPENWEATHERMAP_BASE_URL: "ftp://x" }, "OPENWEATHERMAP_BASE_URL must be"],
      [{ OPENWEATHERMAP_BASE_URL: "https://api.openweathermap.org/?appid=x" }, "OPENWEATHERMAP_BASE_URL must be"],
      [{ WEATHER_LANG: "de" }, "WEATHER_LANG must be fr or en"],
    ];
    for (const [env, message] of cases) {
      expect(() => weatherConfigFromEnv({ OPENWEATHERMAP_API_KEY: KEY, ...env }), JSON.stringify(env)).to.throw(ConfigError, message);
    }
    const bad = "has spaces and a secret";
    try {
      weatherConfigFromEnv({ OPENWEATHERMAP_API_KEY: bad });
      expect.fail("expected a ConfigError");
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.include("OPENWEATHERMAP_API_KEY").and.not.include(bad);
    }
  });
});
