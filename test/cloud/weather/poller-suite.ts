/**
 * The weather poller on a real database (run on PGlite and on the PostgreSQL server) against the
 * fake OpenWeatherMap (a test double of the real API): one retained parking/meteo in the outbox
 * per site and new observation, none when unchanged, nothing stored on a failure (logged without
 * the key), one failing site never stops another, and at most one request per site per interval.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import pino from "pino";
import { parsePayload, toCloudTopic, TOPICS } from "../../../contracts/mqtt-topics";
import { upsertSite, type Database } from "../../../cloud/db/index";
import { WeatherPoller } from "../../../cloud/weather/poller";
import { latestWeather } from "../../../cloud/weather/store";
import { startFakeOpenWeatherMap, type FakeOpenWeatherMap } from "../../doubles/fake-openweathermap";

const INTERVAL = 600_000;
const T0 = new Date("2026-11-20T09:01:00Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

export function weatherPollerSuite(title: string, opts: { open(ctx: Mocha.Context): Promise<Database>; close(db: Database): Promise<void> }): void {
  describe(title, function () {
    this.timeout(30_000);
    let db: Database;
    let fake: FakeOpenWeatherMap;
    let logs: string[];
    let wakes: number;
    before(async function () {
      this.timeout(120_000);
      db = await opts.open(this);
    });
    after(async () => {
      if (db) await opts.close(db);
    });
    beforeEach(async () => {
      fake = await startFakeOpenWeatherMap();
      logs = [];
      wakes = 0;
      // Each test sees only its own sites: the poller polls every site with a position.
      await db.sql`UPDATE sites SET latitude = NULL, longitude = NULL`;
      await db.sql`DELETE FROM site_weather`;
      await db.sql`DELETE FROM outbox`;
    });
    afterEach(async () => {
      await fake.close();
    });

    const poller = (o: { apiKey?: string; timeoutMs?: number } = {}) =>
      new WeatherPoller({
        db,
        logger: pino({ level: "info" }, { write: (l: string) => void logs.push(l) }),
        apiKey: o.apiKey ?? fake.apiKey,
        baseUrl: fake.url,
        intervalMs: INTERVAL,
        src: "cloud-test",
        wake: () => void wakes++,
        timeoutMs: o.timeoutMs ?? 5000,
      });

    const site = async (lat: number | null, lon: number | null, id = `w-${randomBytes(4).toString("hex")}`) => {
      await upsertSite(db.sql, { siteId: id, name: `Weather ${id}`, timeZone: "Europe/Paris", currency: "EUR" });
      await db.sql`UPDATE sites SET latitude = ${lat}, longitude = ${lon} WHERE site_id = ${id}`;
      return id;
    };
    const outbox = async (siteId: string) =>
      [...(await db.sql<{ topic: string; payload: unknown }[]>`SELECT topic, payload FROM outbox WHERE topic = ${toCloudTopic(siteId, TOPICS.meteo.topic)} ORDER BY id`)];
    const stored = async (siteId: string) => [...(await db.sql<{ observedAt: Date; fetchedAt: Date }[]>`SELECT observed_at, fetched_at FROM site_weather WHERE site_id = ${siteId}`)];
    const requestsAt = (lat: number) => fake.requests.filter((r) => Number(r.lat) === lat).length;

    it("stores the weather and enqueues exactly one retained parking/meteo per site and new observation, none when unchanged", async () => {
      const paris = await site(48.8534, 2.3488);
      const lyon = await site(45.764, 4.8357);
      await site(null, 2.35); // no position: never polled
      const p = poller();

      const first = await p.pollOnce(T0);
      expect(first.published.sort()).to.deep.equal([paris, lyon].sort());
      expect(fake.requests).to.have.length(2);
      expect(wakes).to.equal(1);
      for (const id of [paris, lyon]) {
        const rows = await outbox(id);
        expect(rows, id).to.have.length(1);
        const parsed = parsePayload(TOPICS.meteo.topic, JSON.stringify(rows[0].payload));
        expect(parsed.ok, parsed.ok ? "" : parsed.error).to.equal(true);
        expect(rows[0].payload).to.deep.include({ src: "cloud-test", ts: T0.getTime(), temp_c: 8.42, description: "pluie modérée", observed_ts: fake.reading.dt * 1000 });
        expect((await stored(id))[0].observedAt.getTime()).to.equal(fake.reading.dt * 1000);
      }
      expect(TOPICS.meteo.retain).to.equal(true); // the relay publishes with the spec's flag

      // Next interval, same observation: fetched again, stored fetched_at moves, nothing enqueued.
      const second = await p.pollOnce(at(INTERVAL));
      expect(second.unchanged.sort()).to.deep.equal([paris, lyon].sort());
      expect(fake.requests).to.have.length(4);
      expect(await outbox(paris)).to.have.length(1);
      expect((await stored(paris))[0].fetchedAt.getTime()).to.equal(at(INTERVAL).getTime());
      expect(wakes).to.equal(1);

      // A newer observation: one more message per site, the stored row follows.
      fake.reading.dt += 600;
      fake.reading.main.temp = 6.5;
      fake.reading.weather[0] = { id: 800, main: "Clear", description: "ciel dégagé", icon: "01d" };
      delete fake.reading.rain;
      const third = await p.pollOnce(at(2 * INTERVAL));
      expect(third.published.sort()).to.deep.equal([paris, lyon].sort());
      const rows = await outbox(paris);
      expect(rows).to.have.length(2);
      expect(rows[1].payload).to.deep.include({ temp_c: 6.5, condition_code: 800, main: "Clear", observed_ts: fake.reading.dt * 1000 });
      expect(rows[1].payload).to.not.have.property("rain_1h_mm");
      const live = await latestWeather(db.sql, paris);
      expect(live).to.deep.include({ tempC: 6.5, description: "ciel dégagé", timeZone: "Europe/Paris" });
      expect(live?.observedAt.getTime()).to.equal(fake.reading.dt * 1000);
      expect(wakes).to.equal(2);
    });

    it("an older observation (a lagging station) never replaces a newer one", async () => {
      const id = await site(43.2965, 5.3698);
      const p = poller();
      await p.pollOnce(T0);
      fake.reading.dt -= 1200;
      fake.reading.main.temp = 30;
      const r = await p.pollOnce(at(INTERVAL));
      expect(r.unchanged).to.deep.equal([id]);
      expect(await outbox(id)).to.have.length(1);
      expect((await latestWeather(db.sql, id))?.tempC).to.equal(8.42);
    });

    it("asks at most once per site per interval, also after a restart (another poller sees fetched_at)", async () => {
      const id = await site(50.6292, 3.0573);
      const p = poller();
      await p.pollOnce(T0);
      const again = await p.pollOnce(at(INTERVAL - 1));
      expect(again.due).to.equal(0);
      const restarted = await poller().pollOnce(at(INTERVAL - 1));
      expect(restarted.due).to.equal(0);
      expect(requestsAt(50.6292)).to.equal(1);
      await poller().pollOnce(at(INTERVAL));
      expect(requestsAt(50.6292)).to.equal(2);
      expect(await outbox(id)).to.have.length(1);
    });

    it("a refused key (401) stores nothing, logs what went wrong without the key, and backs off", async () => {
      const id = await site(44.8378, -0.5792);
      const secret = "badkey_ffffeeeeddddcccc";
      const p = poller({ apiKey: secret });
      const r = await p.pollOnce(T0);
      expect(r.failed).to.deep.equal([{ siteId: id, kind: "unauthorized" }]);
      expect(await stored(id)).to.have.length(0);
      expect(await outbox(id)).to.have.length(0);
      expect(await latestWeather(db.sql, id)).to.equal(undefined);
      expect(wakes).to.equal(0);
      const text = logs.join("\n");
      expect(logs).to.have.length(1);
      expect(text).to.include("Invalid API key").and.include("appid=****").and.include(id);
      expect(text).to.not.include(secret);
      // Backoff: interval after the first failure, twice that after the second.
      expect((await p.pollOnce(at(INTERVAL - 1))).due).to.equal(0);
      expect((await p.pollOnce(at(INTERVAL))).failed).to.have.length(1);
      expect((await p.pollOnce(at(INTERVAL + 2 * INTERVAL - 1))).due).to.equal(0);
      expect((await p.pollOnce(at(3 * INTERVAL))).failed).to.have.length(1);
      expect(fake.requests).to.have.length(3);
      expect(logs.join("\n")).to.not.include(secret);
    });

    it("a server that never answers: a timeout, nothing stored, logged without the key", async () => {
      const id = await site(47.2184, -1.5536);
      fake.fail("hang");
      const r = await poller({ timeoutMs: 300 }).pollOnce(T0);
      expect(r.failed).to.deep.equal([{ siteId: id, kind: "timeout" }]);
      expect(await stored(id)).to.have.length(0);
      expect(await outbox(id)).to.have.length(0);
      expect(logs.join("\n")).to.include("no answer from OpenWeatherMap within 300 ms").and.not.include(fake.apiKey);
    });

    it("one failing site (API error, or an id the cloud broker cannot carry) never stops the others", async () => {
      const broken = await site(43.6047, 1.4442);
      const odd = await site(43.7102, 7.262, `w_${randomBytes(3).toString("hex")}`); // '_' is not allowed in a broker prefix
      const fine = await site(48.5734, 7.7521);
      fake.fail("server_error", { lat: 43.6047, lon: 1.4442 });
      const r = await poller().pollOnce(T0);
      expect(r.published).to.deep.equal([fine]);
      expect(r.failed.map((f) => f.siteId).sort()).to.deep.equal([broken, odd].sort());
      expect(r.failed.find((f) => f.siteId === broken)?.kind).to.equal("server");
      expect(r.failed.find((f) => f.siteId === odd)?.kind).to.equal("store");
      expect(await stored(broken)).to.have.length(0);
      expect(await stored(odd)).to.have.length(0); // the transaction rolled back
      expect(await outbox(fine)).to.have.length(1);
      expect(logs).to.have.length(2);
    });

    it("the timer: start() polls at once, never throws, stop() ends it", async () => {
      const id = await site(48.1173, -1.6778);
      const p = poller();
      p.start();
      // The first pass runs as soon as it starts; wait for its message (bounded, not a speed check).
      for (let i = 0; i < 200 && (await outbox(id)).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      await p.stop();
      expect(await outbox(id)).to.have.length(1);
      expect(fake.requests).to.have.length(1);
    });
  });
}
