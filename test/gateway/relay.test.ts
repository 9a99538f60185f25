import { expect } from "chai";
import { encodePayload } from "../../contracts/mqtt-topics";
import { OutboxRelay } from "../../gateway/bridge/relay";
import { Outbox, type OutboxEntry } from "../../gateway/outbox/outbox";
import { tempDir, waitFor } from "./helpers";

const ev = (i: number) => encodePayload("exitLeft", { ts: i, src: "t", event_id: `e-${i}`, lane_id: "exit-1" });

/** A fake cloud link: records publishes; the test decides when and how each is acknowledged. */
class FakeCloud {
  sent: OutboxEntry[] = [];
  pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  maxInflight = 0;
  publish = (e: OutboxEntry): Promise<void> =>
    new Promise((resolve, reject) => {
      this.sent.push(e);
      this.pending.set(e.seq, { resolve, reject });
      this.maxInflight = Math.max(this.maxInflight, this.pending.size);
    });
  ack(seq: number): void {
    this.pending.get(seq)!.resolve();
    this.pending.delete(seq);
  }
  fail(seq: number, err: Error): void {
    this.pending.get(seq)!.reject(err);
    this.pending.delete(seq);
  }
  ackAll(): void {
    for (const seq of [...this.pending.keys()]) this.ack(seq);
  }
}

describe("gateway/bridge: outbox relay", () => {
  let t: ReturnType<typeof tempDir>;
  let ob: Outbox;
  let relay: OutboxRelay | undefined;
  beforeEach(async () => {
    t = tempDir("relay");
    ob = await Outbox.open({ dir: t.dir, fsync: false });
  });
  afterEach(async () => {
    await relay?.stop();
    relay = undefined;
    await ob.close();
    t.cleanup();
  });

  it("publishes nothing while disconnected, then everything in order with at most `inflight` unacknowledged", async () => {
    const cloud = new FakeCloud();
    relay = new OutboxRelay(ob, cloud.publish, { inflight: 5 });
    for (let i = 1; i <= 30; i++) await ob.appendValidated("parking/exit/left", ev(i), `e-${i}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(cloud.sent).to.have.length(0);
    relay.setConnected(true);
    while (cloud.sent.length < 30) {
      await waitFor(() => cloud.pending.size > 0, 2000, "publishes");
      cloud.ackAll();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(cloud.sent.map((e) => e.seq)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(cloud.maxInflight).to.be.at.most(5);
    cloud.ackAll();
    await waitFor(() => ob.doneSeq === 30, 2000, "the watermark");
  });

  it("advances the watermark only over a contiguous acknowledged prefix", async () => {
    const cloud = new FakeCloud();
    relay = new OutboxRelay(ob, cloud.publish, { inflight: 10 });
    for (let i = 1; i <= 4; i++) await ob.appendValidated("parking/exit/left", ev(i), `e-${i}`);
    relay.setConnected(true);
    await waitFor(() => cloud.sent.length === 4, 2000, "4 publishes");
    cloud.ack(2);
    cloud.ack(3);
    await new Promise((r) => setTimeout(r, 20));
    expect(ob.doneSeq).to.equal(0); // 1 is not acknowledged yet
    cloud.ack(1);
    await waitFor(() => ob.doneSeq === 3, 2000, "watermark 3");
    cloud.ack(4);
    await waitFor(() => ob.doneSeq === 4, 2000, "watermark 4");
  });

  it("re-sends from the watermark after a transient failure, so nothing is skipped", async () => {
    const cloud = new FakeCloud();
    relay = new OutboxRelay(ob, cloud.publish, { inflight: 10, retryDelayMs: 10 });
    for (let i = 1; i <= 4; i++) await ob.appendValidated("parking/exit/left", ev(i), `e-${i}`);
    relay.setConnected(true);
    await waitFor(() => cloud.sent.length === 4, 2000, "4 publishes");
    cloud.ack(1);
    cloud.fail(2, new Error("Connection closed"));
    cloud.ack(3);
    cloud.ack(4);
    await waitFor(() => cloud.sent.length === 7, 2000, "the re-send");
    expect(cloud.sent.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4, 2, 3, 4]);
    expect(ob.doneSeq).to.equal(1);
    cloud.ackAll();
    await waitFor(() => ob.doneSeq === 4, 2000, "watermark 4");
  });

  it("dead-letters an entry the broker refuses permanently and carries on", async () => {
    const cloud = new FakeCloud();
    const dead: number[] = [];
    relay = new OutboxRelay(ob, cloud.publish, { inflight: 10, onDeadLetter: (e) => dead.push(e.seq) });
    for (let i = 1; i <= 3; i++) await ob.appendValidated("parking/exit/left", ev(i), `e-${i}`);
    relay.setConnected(true);
    await waitFor(() => cloud.sent.length === 3, 2000, "3 publishes");
    cloud.ack(1);
    cloud.fail(2, Object.assign(new Error("Publish error: Packet too large"), { code: 0x95 }));
    cloud.ack(3);
    await waitFor(() => ob.doneSeq === 3, 2000, "watermark 3");
    expect(dead).to.deep.equal([2]);
    expect(cloud.sent).to.have.length(3);
  });

  it("picks up events appended after it caught up", async () => {
    const cloud = new FakeCloud();
    relay = new OutboxRelay(ob, cloud.publish, { inflight: 10 });
    relay.setConnected(true);
    await new Promise((r) => setTimeout(r, 20));
    await ob.appendValidated("parking/exit/left", ev(1), "e-1");
    await waitFor(() => cloud.sent.length === 1, 2000, "the new event");
    cloud.ackAll();
    await ob.appendValidated("parking/exit/left", ev(2), "e-2");
    await waitFor(() => cloud.sent.length === 2, 2000, "the next event");
  });
});
