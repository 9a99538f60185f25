import { expect } from "chai";
import type { Worker } from "node:worker_threads";
import { encodePayload, siteTopic, toCloudTopic } from "../../contracts/mqtt-topics";
import { startGatewayServices, type GatewayServices } from "../../gateway/bridge/services";
import { Outbox, type OutboxEntry } from "../../gateway/outbox/outbox";
import { OutboxMirror } from "../../gateway/outbox/outbox-mirror";
import { MOSQUITTO_URL, collect, connectMqtt, requireMosquittoOrSkip, tempDir, testConfig, uniqueSiteId, waitFor } from "./helpers";

const left = (i: number) => ({ ts: 1_700_000_000_000 + i, src: "lane-exit-1", event_id: `left-${i}`, lane_id: "exit-1" });

async function drain(cursor: { next: (n: number) => Promise<OutboxEntry[]>; close: () => Promise<void> }): Promise<number[]> {
  const seqs: number[] = [];
  for (let got = await cursor.next(50); got.length > 0; got = await cursor.next(50)) seqs.push(...got.map((e) => e.seq));
  await cursor.close();
  return seqs;
}

describe("gateway/outbox: mirror for the relay's thread", () => {
  let t: ReturnType<typeof tempDir>;
  let ob: Outbox;
  beforeEach(async () => {
    t = tempDir("mirror");
    ob = await Outbox.open({ dir: t.dir, fsync: false, segmentBytes: 2048 });
  });
  afterEach(async () => {
    await ob.close();
    t.cleanup();
  });

  it("reads what the outbox's own cursor reads, across segments, and nothing past the layout it was given", async () => {
    for (let i = 1; i <= 60; i++) await ob.appendValidated(siteTopic("exitLeft", "exit-1"), encodePayload("exitLeft", left(i)), `left-${i}`);
    expect(ob.segments.length).to.be.greaterThan(3); // rotation happened
    const done: number[] = [];
    const mirror = new OutboxMirror(ob.layout(), (seq) => done.push(seq));
    expect(await drain(mirror.cursor(0))).to.deep.equal(await drain(ob.cursor(0)));

    // Appended after the layout was taken: invisible until the owner posts the next one.
    await ob.appendValidated(siteTopic("exitLeft", "exit-1"), encodePayload("exitLeft", left(61)), "left-61");
    const cursor = mirror.cursor(60);
    expect(await cursor.next(10)).to.deep.equal([]);
    let notified = 0;
    mirror.onDurable(() => notified++);
    mirror.update(ob.layout());
    expect(notified).to.equal(1);
    expect((await cursor.next(10)).map((e) => e.id)).to.deep.equal(["left-61"]);
    await cursor.close();

    // Watermarks go back to the owner, once each and only forward.
    mirror.markDone(10);
    mirror.markDone(5);
    mirror.markDone(61);
    expect(done).to.deep.equal([10, 61]);
    expect(mirror.doneSeq).to.equal(61);
  });
});

describe("gateway/bridge: relay hosts against Mosquitto", function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tempDir>;
  let gw: GatewayServices | undefined;
  const users = [{ username: "lane", role: "gateway", password_env: "T_RELAY_PW" }];
  const env = { ...process.env, T_RELAY_PW: "relay-thread-pw" };
  beforeEach(async function () {
    await requireMosquittoOrSkip(this);
    t = tempDir("relay-thread");
  });
  afterEach(async () => {
    await gw?.close(false);
    gw = undefined;
    t?.cleanup();
  });

  it("is started again when it dies, resumes from the recorded watermark, and loses nothing", async () => {
    const siteId = uniqueSiteId("relay");
    gw = await startGatewayServices(testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users }), { env });
    await gw.bridge.waitConnected();
    const cloud = await connectMqtt(MOSQUITTO_URL, { protocolVersion: 5 });
    try {
      const atCloud = await collect(cloud, toCloudTopic(siteId, siteTopic("exitLeft", "+")));
      const n = 400;
      const emit = (from: number, to: number) => Promise.all(Array.from({ length: to - from + 1 }, (_, k) => gw!.emitEvent("exitLeft", left(from + k))));
      await emit(1, n / 2);
      await waitFor(() => gw!.outbox.doneSeq >= 50, 10_000, "some deliveries recorded");
      // The relay thread dies mid-stream (as on an uncaught error in it).
      const relay = (gw.bridge as unknown as { relay: { worker?: Worker } }).relay;
      const dying = relay.worker!;
      await dying.terminate();
      const mark = gw.outbox.doneSeq; // recorded before it died; its later PUBACKs are lost with it
      await emit(n / 2 + 1, n); // durable meanwhile, delivered by the next thread
      await waitFor(() => relay.worker !== undefined && relay.worker !== dying, 10_000, "a new relay thread");
      await waitFor(() => new Set(atCloud.map((m) => JSON.parse(m.payload).event_id)).size === n, 20_000, "every event at the cloud");
      await waitFor(() => gw!.outbox.depth === 0, 10_000, "the watermark to reach the last event");
      const ids = atCloud.map((m) => JSON.parse(m.payload).event_id as string);
      const firsts = ids.filter((id, i) => ids.indexOf(id) === i);
      expect(firsts).to.deep.equal(Array.from({ length: n }, (_, i) => `left-${i + 1}`)); // in order
      // Re-sent: only what lay above the recorded watermark (event i has seq i here).
      const resent = ids.filter((id, i) => ids.indexOf(id) !== i).map((id) => Number(id.slice("left-".length)));
      expect(resent.every((i) => i > mark), `re-sent ${resent.join(",")} with the watermark at ${mark}`).to.equal(true);
    } finally {
      await cloud.endAsync(true);
    }
  });

  it("runs in-process on request (the HIL harness's virtual clock) with the same delivery and statuses", async () => {
    const siteId = uniqueSiteId("relay-ip");
    gw = await startGatewayServices(testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users }), { env, relayInProcess: true });
    await gw.bridge.waitConnected();
    expect((gw.bridge as unknown as { relay: object }).relay.constructor.name).to.equal("InProcessRelay");
    const cloud = await connectMqtt(MOSQUITTO_URL, { protocolVersion: 5 });
    try {
      const events = await collect(cloud, toCloudTopic(siteId, siteTopic("exitLeft", "+")));
      const states = await collect(cloud, toCloudTopic(siteId, "parking/lane/+/state"));
      await Promise.all([1, 2, 3].map((i) => gw!.emitEvent("exitLeft", left(i))));
      gw.publishStatus("laneState", { ts: 1, src: "gw", lane_id: "exit-1", exit_state: "idle" });
      await waitFor(() => events.length === 3 && states.length === 1 && gw!.outbox.depth === 0, 10_000, "the events, the status and the watermark");
      expect(events.map((m) => JSON.parse(m.payload).event_id)).to.deep.equal(["left-1", "left-2", "left-3"]);
      expect(JSON.parse(states[0].payload)).to.include({ lane_id: "exit-1", exit_state: "idle" });
    } finally {
      await cloud.endAsync(true);
    }
  });
});
