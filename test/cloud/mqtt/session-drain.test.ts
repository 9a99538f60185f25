/**
 * cloud/mqtt/session-drain.ts against a real Mosquitto (issue 20): a peer drains the persistent
 * session of a consumer that is gone — what Mosquitto queued there is processed and the session is
 * deleted — and, when the owner comes back in the middle, the owner takes its session back, the
 * drain stops, and the owner is subscribed again (nothing goes deaf, nothing is lost).
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import mqtt, { type MqttClient } from "mqtt";
import { connectClient, type MqttConnectOptions } from "../../../cloud/mqtt/client";
import { startConsumer, type SiteEventConsumer } from "../../../cloud/mqtt/consumers";
import { drainSession } from "../../../cloud/mqtt/session-drain";
import { silentLogger } from "../../../host/log";
import { startMosquitto, type PrivateMosquitto } from "../../../host/mosquitto";
import { requireToolOrSkip } from "../../../host/tools";
import { until } from "../server/helpers";

const rnd = () => randomBytes(3).toString("hex");
const entry = (eventId: string) => JSON.stringify({ ts: Date.now(), src: "gw-test", event_id: eventId, lane_id: "E1", identity: { method: "plate", value: "AB123CD" } });
const when = (cond: () => boolean, ms: number, what: string) => until(async () => cond(), ms, what);

describe("cloud/mqtt session drain (a peer takes over the session of a consumer that is gone)", function () {
  this.timeout(60_000);
  let broker: PrivateMosquitto | undefined;
  let publisher: MqttClient | undefined;
  const open: SiteEventConsumer[] = [];
  const group = () => `g${rnd()}`;
  const opts = (): MqttConnectOptions => ({ url: broker!.url, protocol: 5, clientIdPrefix: "t", logger: silentLogger });

  before(async function () {
    if (!requireToolOrSkip(this, "mosquitto")) return;
    broker = await startMosquitto([]);
    publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
  });
  after(async () => {
    await publisher?.endAsync(true);
    await broker?.stop();
  });

  /** A consumer in `shareGroup` with a persistent session under `clientId`, recording the event ids it handles. */
  async function consumer(clientId: string, shareGroup: string, seen: string[], gate?: Promise<void>): Promise<SiteEventConsumer> {
    const c = await startConsumer({
      connect: (handleMessage) => connectClient(opts(), 5, clientId, { sessionExpiryS: 3600, handleMessage }),
      version: 5,
      shareGroup,
      logger: silentLogger,
      handle: async (_site, _key, payload) => {
        await gate;
        seen.push((payload as { event_id: string }).event_id);
        return "created";
      },
    });
    open.push(c);
    return c;
  }

  const publish = async (tag: string, n: number) => {
    const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
    for (const id of ids) await publisher!.publishAsync("syspark/s1/parking/entry", entry(id), { qos: 1 });
    return ids;
  };

  /**
   * A live member and a member that crashed (its session stays, still in the group), then 10
   * messages: the live one gets its half, the other half waits in the dead member's session.
   */
  async function groupWithDeadMember(deadId: string): Promise<{ g: string; live: string[]; queued: string[] }> {
    const g = group();
    const live: string[] = [];
    await consumer(`live-${rnd()}`, g, live);
    const dead = await consumer(deadId, g, []);
    dead.client.end(true);
    const queued = await publish("q", 10);
    await when(() => live.length === 5, 5_000, "the live member's half");
    return { g, live, queued };
  }

  it("processes what Mosquitto queued for the dead member, deletes its session, and the group routes to the living only", async () => {
    const goneId = `gone-${rnd()}`;
    const { g, live, queued } = await groupWithDeadMember(goneId);
    const drained: string[] = [];
    const r = await drainSession({ connect: (h) => connectClient(opts(), 5, goneId, { sessionExpiryS: 3600, handleMessage: h }), shareGroup: g, clientId: goneId, logger: silentLogger, quietMs: 300, handle: async (_s, _k, p) => (drained.push((p as { event_id: string }).event_id), "created") });
    expect(r).to.deep.equal({ outcome: "drained", received: 5 });
    expect([...live, ...drained].sort()).to.deep.equal([...queued].sort());
    // The session is deleted: the group is the live member alone, which gets everything now.
    const later = await publish("later", 6);
    await when(() => live.length === 11, 5_000, "every later message at the live member");
    expect(live.slice(5)).to.deep.equal(later);
  });

  it("the owner coming back mid-drain takes its session back: the drain stops, the owner resubscribed, nothing lost", async () => {
    const ownerId = `owner-${rnd()}`;
    const { g, live, queued } = await groupWithDeadMember(ownerId);
    // The drain holds its first message (its handler waits) while the owner restarts.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const drained: string[] = [];
    const draining = drainSession({ connect: (h) => connectClient(opts(), 5, ownerId, { sessionExpiryS: 3600, handleMessage: h }), shareGroup: g, clientId: ownerId, logger: silentLogger, quietMs: 300, handle: async (_s, _k, p) => (await held, drained.push((p as { event_id: string }).event_id), "created") });
    await new Promise((r) => setTimeout(r, 300));
    const back: string[] = [];
    await consumer(ownerId, g, back);
    release();
    const r = await draining;
    expect(r.outcome).to.equal("taken_back");
    // What the drain did not acknowledge comes back to the owner: every queued message handled at least once.
    await when(() => new Set([...live, ...drained, ...back]).size === queued.length, 5_000, "every queued message handled");
    // The owner is a member again (the drain had unsubscribed its session): it gets its share.
    const later = await publish("later", 6);
    await when(() => later.every((id) => live.includes(id) || back.includes(id)), 5_000, "the later messages");
    expect(back.filter((id) => later.includes(id)).length, "the owner's share of the later messages").to.equal(3);
  });
  it("an owner that was alive (its connection only taken over) reconnects by itself and subscribes again", async () => {
    const g = group();
    const live: string[] = [];
    await consumer(`live-${rnd()}`, g, live);
    const ownerId = `owner-${rnd()}`;
    const mine: string[] = [];
    const owner = await consumer(ownerId, g, mine);
    // A peer wrongly believes the owner gone: its drain takes the session over (the broker closes
    // the owner's connection) and unsubscribes it; the owner's client reconnects within a second.
    const reconnected = new Promise((r) => owner.client.once("connect", r));
    const r = await drainSession({ connect: (h) => connectClient(opts(), 5, ownerId, { sessionExpiryS: 3600, handleMessage: h }), shareGroup: g, clientId: ownerId, logger: silentLogger, quietMs: 10_000, handle: async () => "created" });
    expect(r.outcome).to.equal("taken_back");
    await reconnected;
    await new Promise((r) => setTimeout(r, 200)); // its SUBSCRIBE after the CONNACK
    const later = await publish("later", 6);
    await when(() => later.every((id) => live.includes(id) || mine.includes(id)), 5_000, "the later messages");
    expect(mine.filter((id) => later.includes(id)).length, "the owner's share").to.equal(3);
  });
});
