/**
 * Weather end to end on embedded defaults: the cloud (PGlite, in-process aedes, Stripe test
 * emulator), a WeatherPoller started by the test against the fake OpenWeatherMap (a test double
 * of the real API), and MQTT clients on the cloud broker. The observation goes poller → database
 * + outbox (one transaction) → relay → `syspark/<site>/parking/meteo`, retained: a subscriber
 * that comes later gets the last one at once.
 */
import { expect } from "chai";
import mqtt, { type MqttClient } from "mqtt";
import { parsePayload, toCloudTopic, TOPICS } from "../../../contracts/mqtt-topics";
import { silentLogger } from "../../../host/log";
import { WeatherPoller } from "../../../cloud/weather/poller";
import { latestWeather } from "../../../cloud/weather/store";
import { startEmbedded, type TestCloud } from "../server/helpers";
import { startFakeOpenWeatherMap, type FakeOpenWeatherMap } from "../../doubles/fake-openweathermap";

interface Got {
  payload: Record<string, unknown>;
  retain: boolean;
}

async function subscriber(url: string, topic: string): Promise<{ client: MqttClient; got: Got[]; next(n: number): Promise<Got> }> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 4 });
  const got: Got[] = [];
  client.on("message", (_t, payload, packet) => void got.push({ payload: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain }));
  await client.subscribeAsync(topic, { qos: 1 });
  // The n-th message (1-based), waited for with a generous bound: a missing message fails, a slow one does not.
  const next = async (n: number) => {
    for (let i = 0; i < 600 && got.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    if (got.length < n) throw new Error(`expected ${n} message(s) on ${topic}, got ${got.length}`);
    return got[n - 1];
  };
  return { client, got, next };
}

describe("weather end to end: poller → outbox → relay → retained parking/meteo on the cloud broker", function () {
  this.timeout(120_000);
  let t: TestCloud;
  let fake: FakeOpenWeatherMap;
  let poller: WeatherPoller | undefined;
  const clients: MqttClient[] = [];

  before(async () => {
    fake = await startFakeOpenWeatherMap();
    t = await startEmbedded();
  });
  after(async () => {
    await poller?.stop();
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
    await t?.close();
    await fake?.close();
  });

  it("publishes the site's weather retained, and publishes again only for a newer observation", async () => {
    const { cloud, siteId } = t;
    await cloud.db.sql`UPDATE sites SET latitude = 48.8566, longitude = 2.3522 WHERE site_id = ${siteId}`;
    const topic = toCloudTopic(siteId, TOPICS.meteo.topic);
    expect(topic).to.equal(`syspark/${siteId}/parking/meteo`);
    const early = await subscriber(cloud.mqttUrl, topic);
    clients.push(early.client);

    const intervalMs = 60_000;
    poller = new WeatherPoller({ db: cloud.db, logger: silentLogger, apiKey: fake.apiKey, baseUrl: fake.url, intervalMs, src: cloud.instanceId, wake: () => cloud.relay.wake() });
    poller.start();

    const first = await early.next(1);
    const parsed = parsePayload(TOPICS.meteo.topic, JSON.stringify(first.payload));
    expect(parsed.ok, parsed.ok ? "" : parsed.error).to.equal(true);
    expect(first.payload).to.deep.include({ src: cloud.instanceId, temp_c: 8.42, condition_code: 501, description: "pluie modérée", observed_ts: fake.reading.dt * 1000 });
    expect(fake.requests).to.have.length(1);
    expect(fake.requests[0]).to.deep.include({ lat: "48.8566", lon: "2.3522", units: "metric" });

    // A late subscriber gets it from the broker, flagged retained.
    const late = await subscriber(cloud.mqttUrl, topic);
    clients.push(late.client);
    const again = await late.next(1);
    expect(again.retain).to.equal(true);
    expect(again.payload).to.deep.equal(first.payload);

    // Same observation next interval: nothing new. A newer one: published, and it is what a
    // subscriber arriving after it is given (only the last one is retained).
    expect((await poller.pollOnce(new Date(Date.now() + intervalMs))).unchanged).to.deep.equal([siteId]);
    fake.reading.dt += 600;
    fake.reading.main.temp = 7.1;
    const r = await poller.pollOnce(new Date(Date.now() + 2 * intervalMs));
    expect(r.published).to.deep.equal([siteId]);
    const second = await early.next(2);
    expect(second.payload).to.deep.include({ temp_c: 7.1, observed_ts: fake.reading.dt * 1000 });
    const later = await subscriber(cloud.mqttUrl, topic);
    clients.push(later.client);
    expect((await later.next(1)).payload).to.deep.equal(second.payload);
    expect(early.got).to.have.length(2);

    expect(await latestWeather(cloud.db.sql, siteId)).to.deep.include({ tempC: 7.1, description: "pluie modérée", timeZone: "Europe/Paris" });
    const [{ n }] = await cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM outbox WHERE topic = ${topic} AND published_at IS NOT NULL`;
    expect(n).to.equal(2);
  });
});
