import { expect } from "chai";
import { appendFileSync, readdirSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { Outbox, type OutboxEntry } from "../../gateway/outbox/outbox";
import { exited, spawnTs, tempDir, waitFor } from "./helpers";

const present = (i: number) => ({ ts: 1_700_000_000_000 + i, src: "test", event_id: `ev-${i}`, lane_id: "exit-1", present: i % 2 === 0 });

async function readAll(ob: Outbox, after?: number, chunk = 100): Promise<OutboxEntry[]> {
  const c = ob.cursor(after);
  const out: OutboxEntry[] = [];
  for (let got = await c.next(chunk); got.length > 0; got = await c.next(chunk)) out.push(...got);
  await c.close();
  return out;
}

describe("gateway/outbox: durable store-and-forward", function () {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => {
    t = tempDir("outbox");
  });
  afterEach(() => t.cleanup());

  it("appends validated events with seq and event id, and reads them back in order", async () => {
    const ob = await Outbox.open({ dir: t.dir });
    const entries = await Promise.all([0, 1, 2, 3, 4].map((i) => ob.append("present", present(i))));
    expect(entries.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(entries.map((e) => e.id)).to.deep.equal(["ev-0", "ev-1", "ev-2", "ev-3", "ev-4"]);
    expect(entries[0].topic).to.equal("parking/sensor_gate/present");
    const lane = await ob.append("laneState", { ts: 1, src: "t", lane_id: "exit-2", exit_state: "idle" });
    expect(lane.topic).to.equal("parking/lane/exit-2/state");
    expect(lane.id).to.match(/^ob[0-9a-f]{8}-6$/); // no event_id in the payload: the outbox makes one
    const back = await readAll(ob);
    expect(back.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(JSON.parse(back[2].payload)).to.deep.equal(present(2));
    expect(ob.depth).to.equal(6);
    await ob.close();
  });

  it("refuses a payload that breaks the contract, and writes nothing", async () => {
    const ob = await Outbox.open({ dir: t.dir });
    // @ts-expect-error lane_id is required by the contract
    await ob.append("present", { ts: 1, src: "t", event_id: "x", present: true }).then(() => expect.fail("accepted"), (err: Error) => expect(err.message).to.match(/breaks the contract/));
    expect(await readAll(ob)).to.have.length(0);
    await ob.close();
  });

  it("keeps undelivered events across a restart and resumes after the delivery watermark", async () => {
    let ob = await Outbox.open({ dir: t.dir });
    for (let i = 0; i < 10; i++) await ob.append("present", present(i));
    ob.markDone(4);
    await ob.close();
    ob = await Outbox.open({ dir: t.dir });
    expect(ob.doneSeq).to.equal(4);
    expect(ob.depth).to.equal(6);
    expect((await readAll(ob)).map((e) => e.seq)).to.deep.equal([5, 6, 7, 8, 9, 10]);
    const e = await ob.append("present", present(10));
    expect(e.seq).to.equal(11); // seqs are never reused
    await ob.close();
  });

  it("cuts a torn last record off on open and never returns it", async () => {
    let ob = await Outbox.open({ dir: t.dir });
    for (let i = 0; i < 3; i++) await ob.append("present", present(i));
    await ob.close();
    const seg = join(t.dir, readdirSync(t.dir).find((f) => f.startsWith("seg-"))!);
    appendFileSync(seg, '1234abcd {"s":4,"i":"ev-3","t":"parking/sensor_gate/pre'); // a write cut short by a crash
    ob = await Outbox.open({ dir: t.dir });
    expect((await readAll(ob)).map((e) => e.id)).to.deep.equal(["ev-0", "ev-1", "ev-2"]);
    expect((await ob.append("present", present(3))).seq).to.equal(4);
    expect((await readAll(ob)).map((e) => e.id)).to.deep.equal(["ev-0", "ev-1", "ev-2", "ev-3"]);
    await ob.close();
  });

  it("skips a corrupted record in a closed segment (counted) and keeps the rest", async () => {
    let ob = await Outbox.open({ dir: t.dir, segmentBytes: 4096 });
    for (let i = 0; i < 60; i++) await ob.append("present", present(i));
    await ob.close();
    const segs = readdirSync(t.dir).filter((f) => f.startsWith("seg-")).sort();
    expect(segs.length).to.be.greaterThan(1);
    const first = join(t.dir, segs[0]);
    truncateSync(first, statSync(first).size - 5); // damage the last record of a closed segment
    ob = await Outbox.open({ dir: t.dir, segmentBytes: 4096 });
    const all = await readAll(ob);
    expect(all.length).to.equal(59);
    expect(ob.corrupted).to.equal(1);
    expect(all.map((e) => e.seq)).to.satisfy((s: number[]) => s.every((v, i) => i === 0 || v > s[i - 1]));
    await ob.close();
  });

  it("streams a backlog bigger than its read chunk across segments, in order", async () => {
    const ob = await Outbox.open({ dir: t.dir, segmentBytes: 8192, fsync: false });
    const n = 2000;
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => ob.append("present", present(i + j))));
    expect(ob.segments.length).to.be.greaterThan(10);
    const all = await readAll(ob, undefined, 37);
    expect(all.map((e) => e.id)).to.deep.equal(Array.from({ length: n }, (_, i) => `ev-${i}`));
    await ob.close();
  });

  it("refuses a second writer on the same directory, and takes over a lock left by a dead process", async () => {
    const ob = await Outbox.open({ dir: t.dir });
    await Outbox.open({ dir: t.dir }).then(() => expect.fail("opened twice"), (err: Error) => expect(err.message).to.match(/in use by process/));
    await ob.close();
    const { readFileSync, writeFileSync } = await import("node:fs");
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeFileSync(join(t.dir, "LOCK"), `999999999 ${boot}\n`); // no such process
    const again = await Outbox.open({ dir: t.dir });
    await again.close();
    expect(statSync(join(t.dir, "done.log")).mode & 0o777).to.equal(0o600);
  });

  it("group-commits concurrent appends into far fewer fsyncs than appends", async () => {
    const ob = await Outbox.open({ dir: t.dir });
    let batches = 0;
    ob.onDurable(() => batches++);
    await Promise.all(Array.from({ length: 200 }, (_, i) => ob.append("present", present(i))));
    expect(batches).to.be.lessThan(20);
    await ob.close();
  });

  it("writes a burst of appends made in one synchronous run as one batch (one fsync), not a batch of one and then the rest", async () => {
    const ob = await Outbox.open({ dir: t.dir });
    let batches = 0;
    ob.onDurable(() => batches++);
    await Promise.all(Array.from({ length: 300 }, (_, i) => ob.append("present", present(i))));
    expect(batches).to.equal(1);
    // and a lone append is still written at once
    const t0 = performance.now();
    await ob.append("present", present(300));
    expect(batches).to.equal(2);
    expect(performance.now() - t0).to.be.lessThan(1000);
    await ob.close();
  });

  it("compacts: delivered segments are deleted and a delivered active segment is rotated", async () => {
    const ob = await Outbox.open({ dir: t.dir, segmentBytes: 8192, compactBytes: 2048, fsync: false });
    for (let i = 0; i < 200; i++) await ob.append("present", present(i));
    const before = readdirSync(t.dir).filter((f) => f.startsWith("seg-")).length;
    expect(before).to.be.greaterThan(3);
    ob.markDone(ob.lastDurableSeq);
    await ob.append("present", present(200)); // rotates the fully delivered active segment
    await waitFor(() => readdirSync(t.dir).filter((f) => f.startsWith("seg-")).length === 1, 5000, "compaction");
    expect((await readAll(ob)).map((e) => e.id)).to.deep.equal(["ev-200"]);
    await ob.close();
    const again = await Outbox.open({ dir: t.dir });
    expect(again.doneSeq).to.equal(200);
    expect((await readAll(again)).map((e) => e.seq)).to.deep.equal([201]);
    await again.close();
  });

  it("loses nothing it acknowledged when SIGKILLed at random moments", async function () {
    this.timeout(60_000);
    const acked: { id: string; seq: number }[] = [];
    for (let r = 0; r < 3; r++) {
      let ready = false;
      const child = spawnTs(new URL("./fixtures/outbox-writer.ts", import.meta.url).pathname, [t.dir, `r${r}`], (line) => {
        if (line === "ready") ready = true;
        const m = /^ok (\S+) (\d+)$/.exec(line);
        if (m) acked.push({ id: m[1], seq: Number(m[2]) });
      });
      await waitFor(() => ready, 20_000, "the writer to start");
      await new Promise((res) => setTimeout(res, 50 + Math.floor(Math.random() * 300)));
      child.kill("SIGKILL");
      await exited(child);
    }
    expect(acked.length, "the writer acknowledged too few appends to prove anything").to.be.greaterThan(20);
    const ob = await Outbox.open({ dir: t.dir, segmentBytes: 16 * 1024 });
    const onDisk = new Map((await readAll(ob, 0, 500)).map((e) => [e.id, e.seq]));
    // Every acknowledged event is still on disk, unless it was marked delivered (then it may be compacted away).
    const lost = acked.filter((a) => !onDisk.has(a.id) && a.seq > ob.doneSeq);
    expect(lost, `lost acknowledged events: ${lost.slice(0, 5).map((a) => a.id).join(", ")}`).to.deep.equal([]);
    for (const a of acked) if (onDisk.has(a.id)) expect(onDisk.get(a.id)).to.equal(a.seq);
    // And the undelivered ones come out in seq order.
    const pending = (await readAll(ob)).map((e) => e.seq);
    expect(pending).to.deep.equal([...pending].sort((x, y) => x - y));
    expect(pending.length).to.equal(new Set(pending).size);
    await ob.close();
  });
});
