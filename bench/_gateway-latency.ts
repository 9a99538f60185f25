/**
 * Part of `npm run bench -- gateway`: latency from `parking/payment/success` published to the
 * cloud broker to the OPEN frame on the barrier executor's serial line, over N exits on L lanes.
 * Real parts: one gateway, the simulated exit controllers (real firmware) and barrier-executor
 * stand-ins on socat ptys, Mosquitto as the cloud broker. The interval includes the two-key
 * round trip (PAY_OK to the controller, its AUTHORISED back) that a real exit goes through.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { encodePayload, toCloudTopic, TOPICS } from "../contracts/mqtt-topics";
import type { BoardClock } from "../firmware/common/io/board-host";
import { parseSiteConfig } from "../gateway/config/load";
import { startGateway } from "../gateway/runtime";
import { SerialPeer } from "../hil/harness/serial-peer";
import { SimulatedExitController } from "../hil/sim/exit-controller-sim";
import { RealClock } from "../hil/sim/virtual-clock";
import { openPtyPair, type PtyPair } from "../host/pty";

const precise: BoardClock = {
  now: () => performance.now(),
  schedule: (cb, ms) => { const t = setTimeout(cb, ms); t.unref(); return t; },
  cancel: (t) => clearTimeout(t as NodeJS.Timeout),
};

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`latency bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function measurePaymentToOpen(opts: { cloudUrl: string; lanes: number; exits: number; progress: (s: string) => void }): Promise<{ samples: number[]; p50: number; p99: number; max: number }> {
  const site = `lat-${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), "syspark-bench-lat-"));
  const ptys: PtyPair[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const laneIds = Array.from({ length: opts.lanes }, (_, i) => `L${i + 1}`);
    const pairs = [];
    for (const id of laneIds) {
      const exit = await openPtyPair(`exit-${id}`, dir), barrier = await openPtyPair(`barrier-${id}`, dir);
      ptys.push(exit, barrier);
      pairs.push({ id, exit, barrier });
    }
    const config = parseSiteConfig({
      site_id: site, data_dir: join(dir, "data"),
      lanes: pairs.map((p) => ({ id: p.id, exit_controller: { port: p.exit.b }, barrier_executor: { port: p.barrier.b } })),
      site_broker: { port: 0, allow_anonymous: true },
      cloud: { url: opts.cloudUrl, anonymous: true, client_id: `gw-${site}` },
      bridge: { heartbeat_s: 0 },
    });
    const cloud = await mqtt.connectAsync(opts.cloudUrl, { protocolVersion: 5, clientId: `cloud-${site}` });
    closers.push(() => cloud.endAsync(true));
    const exitReqs = new Map<string, number>();
    cloud.on("message", (topic, payload) => {
      const m = JSON.parse(payload.toString()) as { lane_id: string };
      exitReqs.set(m.lane_id, (exitReqs.get(m.lane_id) ?? 0) + 1);
    });
    await cloud.subscribeAsync(toCloudTopic(site, TOPICS.exitReq.topic), { qos: 1 });
    const gateway = await startGateway(config, { siteBrokerPort: 0, env: { SYSPARK_ACL_HMAC_KEY: "bench-key-0123456789abcdef" } });
    closers.push(() => gateway.close(true));
    await gateway.services.bridge.waitConnected();

    const lanes = [];
    for (const p of pairs) {
      const barrier = await SerialPeer.open({ path: p.barrier.a, clock: precise, self: { kind: "barrier-executor", fw: "bench", boot: 1, lane: p.id }, receives: "down" });
      const tick = setInterval(() => barrier.tick(), 20);
      closers.push(async () => { clearInterval(tick); await barrier.close(); });
      const board = await SimulatedExitController.start({
        serialPath: p.exit.a, clock: new RealClock(), lane: p.id,
        config: { presenceDebounceMs: 10, doneDisplayMs: 100, deniedDisplayMs: 100 },
      });
      closers.push(() => board.close());
      lanes.push({ id: p.id, barrier, board });
    }
    for (const l of lanes) await until(() => gateway.lanes.get(l.id)!.snapshot().exit_link && gateway.lanes.get(l.id)!.snapshot().barrier_link, 15_000, `lane ${l.id} links`);

    const samples: number[] = [];
    const perLane = Math.ceil(opts.exits / lanes.length);
    let done = 0;
    await Promise.all(lanes.map(async ({ id, barrier, board }) => {
      for (let n = 0; n < perLane && done < opts.exits; n++) {
        const session = `S-${id}-${n}`;
        const requests = exitReqs.get(id) ?? 0;
        board.vehicleArrives();
        await until(() => board.state === "identifying", 10_000, `${id} identifying`);
        board.presentBadge("04A21F9C3B");
        await until(() => (exitReqs.get(id) ?? 0) > requests, 10_000, `${id} exit request`);
        await cloud.publishAsync(toCloudTopic(site, TOPICS.paymentReq.topic), encodePayload("paymentReq", { ts: Date.now(), src: "bench", session_id: session, lane_id: id, amount: 250, currency: "EUR", pay_url: `https://cloud.example/pay/${session}?t=x` }), { qos: 1 });
        await until(() => board.state === "awaiting_payment", 10_000, `${id} awaiting payment`);
        const opens = barrier.of("OPEN").length;
        const t0 = performance.now();
        await cloud.publishAsync(toCloudTopic(site, TOPICS.paymentSuccess.topic), encodePayload("paymentSuccess", { ts: Date.now(), src: "bench", session_id: session, lane_id: id, provider_ref: "pi_bench" }), { qos: 1 });
        const open = await barrier.waitFor("OPEN", { session }, { from: 0, timeoutMs: 10_000 });
        samples.push(open.at - t0);
        void opens;
        barrier.send("CMD_DONE", { cmd: open.fields.cmd, result: "ok" });
        barrier.send("BARRIER", { state: "open", pos: "100" });
        await until(() => board.state === "passing", 10_000, `${id} passing`);
        board.vehicleLeaves();
        await until(() => board.state === "idle", 10_000, `${id} idle`);
        barrier.send("BARRIER", { state: "closed", pos: "0" });
        await until(() => gateway.lanes.get(id)!.phase === "idle", 10_000, `${id} lane idle`);
        if (++done % 100 === 0) opts.progress(`latency: ${done}/${opts.exits} exits`);
      }
    }));
    const sorted = [...samples].sort((a, b) => a - b);
    return { samples, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const p of ptys) await p.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
