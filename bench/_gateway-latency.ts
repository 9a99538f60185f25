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
import { parseSiteConfig } from "../gateway/config/load";
import { startGateway } from "../gateway/runtime";
import { fork } from "node:child_process";
import { openPtyPair, type PtyPair } from "../host/link/pty";


/**
 * Waiters re-check their condition whenever something they may depend on happened (a message
 * from the board process or the cloud broker), and every 5 ms otherwise: the bench shares the
 * gateway's process, so it must not spin a 1 ms timer per lane.
 */
const waiters = new Set<() => void>();
const poke = () => { for (const w of [...waiters]) w(); };

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (pred()) return;
  const end = Date.now() + timeoutMs;
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (pred()) { waiters.delete(check); clearInterval(poll); resolve(); }
      else if (Date.now() > end) { waiters.delete(check); clearInterval(poll); reject(new Error(`latency bench: timed out waiting for ${what}`)); }
    };
    const poll = setInterval(check, 5);
    waiters.add(check);
  });
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Per-hop timestamps of one exit (absolute ms), taken in the gateway's process with --trace. */
interface Hops { published: number; bridge?: number; payOk?: number; authorised?: number; open?: number; read?: number }

/** The per-hop table printed by --trace: p50 / p90 / p99 / max of each hop. */
function hopTable(traces: Hops[]): string {
  const hops: [string, (h: Hops) => number | undefined][] = [
    ["cloud broker → bridge", (h) => h.bridge !== undefined ? h.bridge - h.published : undefined],
    ["bridge → PAY_OK written", (h) => h.payOk !== undefined && h.bridge !== undefined ? h.payOk - h.bridge : undefined],
    ["PAY_OK → AUTHORISED read", (h) => h.authorised !== undefined && h.payOk !== undefined ? h.authorised - h.payOk : undefined],
    ["AUTHORISED → OPEN written", (h) => h.open !== undefined && h.authorised !== undefined ? h.open - h.authorised : undefined],
    ["OPEN written → read on the barrier line", (h) => h.read !== undefined && h.open !== undefined ? h.read - h.open : undefined],
    ["total", (h) => h.read !== undefined ? h.read - h.published : undefined],
  ];
  const f = (v: number) => v.toFixed(2).padStart(7);
  return hops.map(([name, pick]) => {
    const v = traces.map(pick).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    return `${name.padEnd(40)} ${f(percentile(v, 50))} ${f(percentile(v, 90))} ${f(percentile(v, 99))} ${f(v[v.length - 1])}  (n=${v.length})`;
  }).join("\n");
}

export async function measurePaymentToOpen(opts: { cloudUrl: string; lanes: number; exits: number; progress: (s: string) => void; trace?: boolean }): Promise<{ samples: number[]; p50: number; p99: number; max: number; hops?: string }> {
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
    // The interval starts when the message reaches the cloud broker; t0 is taken just before the
    // publish, so this client must not hold it back: without TCP_NODELAY Nagle's algorithm keeps
    // the PUBLISH in our kernel while our last PUBACK (for an exit request) awaits the broker's
    // delayed TCP ACK — up to 40 ms before the message even reaches the broker.
    (cloud.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    const exitReqs = new Map<string, number>();
    cloud.on("message", (topic, payload) => {
      const m = JSON.parse(payload.toString()) as { lane_id: string };
      exitReqs.set(m.lane_id, (exitReqs.get(m.lane_id) ?? 0) + 1);
      poke();
    });
    await cloud.subscribeAsync(toCloudTopic(site, TOPICS.exitReq.topic), { qos: 1 });
    const now = () => performance.timeOrigin + performance.now();
    // --trace: one timestamp per hop of every exit, and the serial lines per exit by type.
    const traces = new Map<string, Hops>();
    const lineCounts = new Map<string, number>();
    const sessionOf = (line: string) => / session=([^ *]+)/.exec(line)?.[1];
    /** The first serial lines of each lane (start-up and first exits), for the message of a lane that gets stuck. */
    const first = new Map<string, string[]>();
    const keepFirst = (lane: string, board: string, dir: string, line: string) => {
      let lines = first.get(lane);
      if (!lines) first.set(lane, (lines = []));
      if (lines.length < 150) lines.push(`${(now() % 100_000).toFixed(1)} ${board} ${dir} ${line}`);
    };
    const onLine = opts.trace ? (lane: string, board: "exit" | "barrier", dir: "rx" | "tx", line: string) => {
      const t = now();
      keepFirst(lane, board, dir, line);
      const kind = `${board} ${dir} ${line.split(" ")[1]?.replace(/\*.*/, "")}`;
      lineCounts.set(kind, (lineCounts.get(kind) ?? 0) + 1);
      const h = traces.get(sessionOf(line) ?? "");
      if (!h) return;
      if (board === "exit" && dir === "tx" && line.includes(" PAY_OK ")) h.payOk ??= t;
      else if (board === "exit" && dir === "rx" && line.includes(" AUTHORISED ")) h.authorised ??= t;
      else if (board === "barrier" && dir === "tx" && line.includes(" OPEN ")) h.open ??= t;
    } : keepFirst;
    const gateway = await startGateway(config, { siteBrokerPort: 0, env: { SYSPARK_ACL_HMAC_KEY: "bench-key-0123456789abcdef" }, onLine });
    // Before the lanes' own listener, which writes PAY_OK synchronously.
    if (opts.trace) gateway.services.bridge.prependListener("cloud-message", (m: { key: string; payload: unknown }) => {
      const h = m.key === "paymentSuccess" ? traces.get((m.payload as { session_id: string }).session_id) : undefined;
      if (h) h.bridge ??= now();
    });
    closers.push(() => gateway.close(true));
    await gateway.services.bridge.waitConnected();

    // The boards run in their own process, as real boards are separate MCUs.
    const child = fork(new URL("./_latency-boards.ts", import.meta.url), [JSON.stringify(pairs.map((p) => ({ id: p.id, exitPath: p.exit.a, barrierPath: p.barrier.a })))], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    closers.push(async () => { child.send({ cmd: "stop" }); await new Promise((r) => { child.once("exit", r); setTimeout(r, 3000); }); child.kill(); });
    const boardState = new Map<string, string>();
    const opens = new Map<string, { session: string; cmd: string; at: number }[]>();
    child.on("message", (m: { type: string; lane: string; state: string; session: string; cmd: string; at: number }) => {
      if (m.type === "state") boardState.set(m.lane, m.state);
      if (m.type === "open") opens.set(m.lane, [...(opens.get(m.lane) ?? []), { session: m.session, cmd: m.cmd, at: m.at }]);
      poke();
    });
    await new Promise<void>((resolve, reject) => { child.once("message", () => resolve()); child.once("exit", (code) => reject(new Error(`board process exited (${code})`))); });
    for (const id of laneIds) await until(() => gateway.lanes.get(id)!.snapshot().exit_link && gateway.lanes.get(id)!.snapshot().barrier_link, 15_000, `lane ${id} links`);

    const samples: number[] = [];
    const perLane = Math.ceil(opts.exits / laneIds.length);
    let done = 0;
    // The first lane that fails stops the others (their waits would only time out in turn) and
    // its error, with the lane's state at that moment, is the bench's.
    let failure: Error | undefined;
    await Promise.all(laneIds.map(async (id) => {
      const tell = (cmd: string, extra: Record<string, string> = {}) => child.send({ cmd, lane: id, ...extra });
      try {
        for (let n = 0; n < perLane && done < opts.exits && !failure; n++) {
          const session = `S-${id}-${n}`;
          const requests = exitReqs.get(id) ?? 0;
          tell("arrive");
          await until(() => boardState.get(id) === "identifying", 10_000, `${id} identifying`);
          tell("badge");
          await until(() => (exitReqs.get(id) ?? 0) > requests, 10_000, `${id} exit request`);
          await cloud.publishAsync(toCloudTopic(site, TOPICS.paymentReq.topic), encodePayload("paymentReq", { ts: Date.now(), src: "bench", session_id: session, lane_id: id, amount: 250, currency: "EUR", pay_url: `https://cloud.example/pay/${session}?t=x` }), { qos: 1 });
          await until(() => boardState.get(id) === "awaiting_payment", 10_000, `${id} awaiting payment`);
          const t0 = now();
          if (opts.trace) traces.set(session, { published: t0 });
          await cloud.publishAsync(toCloudTopic(site, TOPICS.paymentSuccess.topic), encodePayload("paymentSuccess", { ts: Date.now(), src: "bench", session_id: session, lane_id: id, provider_ref: "pi_bench" }), { qos: 1 });
          await until(() => (opens.get(id) ?? []).some((o) => o.session === session), 10_000, `${id} OPEN`);
          const open = opens.get(id)!.find((o) => o.session === session)!;
          samples.push(open.at - t0);
          if (opts.trace) traces.get(session)!.read = open.at;
          tell("answer", { open: open.cmd });
          await until(() => boardState.get(id) === "passing", 10_000, `${id} passing`);
          tell("leave");
          await until(() => boardState.get(id) === "idle", 10_000, `${id} idle`);
          tell("closed");
          await until(() => gateway.lanes.get(id)!.phase === "idle", 10_000, `${id} lane idle`);
          if (++done % 100 === 0) opts.progress(`latency: ${done}/${opts.exits} exits`);
        }
      } catch (err) {
        const lane = gateway.lanes.get(id)!.snapshot();
        const lines = first.get(id)?.join("\n  ");
        const link = gateway.links.get(id)!;
        failure ??= new Error(`${(err as Error).message} (lane ${id}: ${JSON.stringify(lane)}; board state ${boardState.get(id)}; gateway's exit link ${JSON.stringify(link.exit.session.stats)}, pending ${link.exit.session.pending})${lines ? `\nfirst serial lines:\n  ${lines}` : ""}`);
      }
    }));
    if (failure) throw failure;
    const sorted = [...samples].sort((a, b) => a - b);
    const perExit = [...lineCounts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${(n / samples.length).toFixed(1)}`).join(", ");
    return { samples, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1], ...(opts.trace ? { hops: `${hopTable([...traces.values()])}\nserial lines per exit: ${perExit}` } : {}) };
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const p of ptys) await p.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
