/**
 * Site events that wait in the broker for the cloud — while it restarts after a crash, or while
 * the broker is out of its reach — are all consumed, each exactly once (issue 13, item 1).
 *
 * Real parts: a private Mosquitto with SysPark's cloud-broker settings (deploy/cloud-broker/),
 * the cloud on PostgreSQL (a schema of its own) in a child process (cloud-child.ts) that is
 * SIGKILLed, the way a crash stops it, and started again with the same instance id — so the same
 * MQTT client ids resume the same persistent sessions.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import type { IPublishPacket, MqttClient } from "mqtt";
import postgres from "postgres";
import { claimOutbox, DatabaseConnectionError, enqueueOutbox, openDatabase, verifyAuditChain, type Database } from "../../../cloud/db/index";
import { TOPICS, toCloudTopic } from "../../../contracts/mqtt-topics";
import { flushAudit } from "../../../cloud/server/audit-chain";
import type { MessageHandler } from "../../../cloud/mqtt/client";
import { startConsumer } from "../../../cloud/mqtt/consumers";
import { seedSite } from "../../../cloud/server/index";
import { TcpProxy } from "../../../hil/harness/tcp-proxy";
import { silentLogger } from "../../../host/log";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../../../host/mosquitto";
import { requireToolOrSkip } from "../../../host/tools";
import type { CloudChildConfig } from "./cloud-child";
import { PG_URL, SiteClient, until } from "./helpers";

const CHILD = fileURLToPath(new URL("./cloud-child.ts", import.meta.url));
const rnd = () => randomBytes(4).toString("hex");

interface ChildCloud {
  child: ChildProcess;
  url: string;
  /** Resolves when the child printed `line` (or already had). */
  printed(line: string): Promise<void>;
}

/** A cloud in a child process; resolves once it printed `ready <url>`. */
async function startChildCloud(config: CloudChildConfig, children: Set<ChildProcess>): Promise<ChildCloud> {
  const env = { ...process.env };
  // The in-process Stripe test emulator: this test is about MQTT, not about a Stripe account.
  for (const k of ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY", "STRIPE_API_BASE"]) delete env[k];
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(config)], { stdio: ["pipe", "pipe", "inherit"], env });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const lines: string[] = [];
  const waiters: { line: string; resolve: () => void }[] = [];
  let buf = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    buf += d;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => x.line === line)) w.resolve();
    }
  });
  const printed = (line: string) =>
    lines.includes(line)
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          waiters.push({ line, resolve });
          child.once("exit", (code, signal) => reject(new Error(`the cloud child exited (${code ?? signal}) before it printed "${line}"`)));
        });
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const ready = lines.find((l) => l.startsWith("ready "));
      if (ready) {
        child.stdout!.off("data", onData);
        resolve(ready.slice("ready ".length));
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code, signal) => reject(new Error(`the cloud child exited (${code ?? signal}) before it was ready`)));
  });
  return { child, url, printed };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function kill9(child: ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await exited(child);
}

/** Stops gracefully (SIGTERM: the cloud closes), so the audit rows it queued can be checked. */
async function terminate(child: ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await exited(child);
}

const entry = (eventId: string, plate: string) => ({ ts: Date.now(), src: "gw-test", event_id: eventId, lane_id: "E1", identity: { method: "plate" as const, value: plate } });

describe("cloud: site events waiting in the broker (a cloud restart, a broker out of reach) are all consumed, once", function () {
  this.timeout(120_000);
  const schema = `syspark_consume_restart_${rnd()}`;
  const children = new Set<ChildProcess>();
  const sites: SiteClient[] = [];
  let db: Database | undefined;
  let broker: PrivateMosquitto | undefined;
  let proxy: TcpProxy | undefined;

  before(async function () {
    if (!requireToolOrSkip(this, "mosquitto")) return;
    try {
      db = await openDatabase({ databaseUrl: PG_URL, schema, createSchema: true, max: 4, logger: silentLogger });
    } catch (err) {
      if (err instanceof DatabaseConnectionError && process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
        console.warn(`      skipped: PostgreSQL not reachable at ${PG_URL} (set SYSPARK_REQUIRE_POSTGRES=1 to make this a failure): ${err.message}`);
        this.skip();
      }
      throw err;
    }
    broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
  });

  afterEach(async () => {
    await Promise.all([...children].map((c) => kill9(c)));
    await Promise.all(sites.splice(0).map((s) => s.close()));
    await proxy?.stop();
    proxy = undefined;
  });

  after(async () => {
    await broker?.stop();
    if (db) {
      await db.close();
      const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
      await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end({ timeout: 5 });
    }
  });

  async function newSite(): Promise<string> {
    const siteId = `t-${rnd()}`;
    await seedSite(db as Database, { siteId, name: "Restart test site", timeZone: "Europe/Paris", currency: "EUR" }, { exit: "X1", entry: "E1" });
    return siteId;
  }

  function childConfig(mqttUrl: string): CloudChildConfig {
    return { databaseUrl: PG_URL, dbSchema: schema, mqttUrl, instanceId: `t-${rnd()}`, shareGroup: `g${rnd()}`, mqttSessionExpiryS: 3600 };
  }

  const processed = async (siteId: string, eventId: string) => {
    const rows = await (db as Database).sql`SELECT 1 FROM processed_site_events WHERE site_id = ${siteId} AND event_id = ${eventId}`;
    return rows.length === 1;
  };

  /** Every entry processed exactly once: one event row and one session per plate; the audit chain verifies. */
  async function expectEachOnce(siteId: string, plates: Map<string, string>): Promise<void> {
    const sql = (db as Database).sql;
    const events = await sql<{ eventId: string }[]>`SELECT event_id FROM processed_site_events WHERE site_id = ${siteId}`;
    const seen = new Set(events.map((e) => e.eventId));
    const missing = [...plates.keys()].filter((id) => !seen.has(id));
    expect(missing, `${plates.size - missing.length}/${plates.size} entries processed; lost: ${missing.join(", ")}`).to.deep.equal([]);
    const sessions = await sql<{ plate: string; n: number }[]>`SELECT identity_value AS plate, count(*)::int4 AS n FROM sessions WHERE site_id = ${siteId} GROUP BY identity_value`;
    const counts = new Map(sessions.map((s) => [s.plate, s.n]));
    const notOnce = [...plates.values()].filter((p) => counts.get(p) !== 1).map((p) => `${p}: ${counts.get(p) ?? 0}`);
    expect(notOnce, "sessions per plate (each must be 1)").to.deep.equal([]);
    expect(sessions.length, "sessions for plates that were never sent").to.equal(plates.size);
    await flushAudit(db as Database);
    const audit = await verifyAuditChain(sql);
    expect(audit.ok, `audit chain: ${JSON.stringify(audit.firstBroken)}`).to.equal(true);
    const [{ n }] = await sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM audit_log WHERE kind = 'session.entry' AND payload->>'site_id' = ${siteId}`;
    expect(n, "session.entry audit rows").to.equal(plates.size);
  }

  /**
   * A child cloud whose MQTT goes to `mqttUrl` (the broker, or a proxy in front of it), a site
   * publishing on the broker itself, and one entry consumed: the consumer's session exists and works.
   */
  async function warmCloud(mqttUrl: string): Promise<{ siteId: string; config: ReturnType<typeof childConfig>; cloud: Awaited<ReturnType<typeof startChildCloud>>; site: SiteClient; warm: Map<string, string> }> {
    const b = broker as PrivateMosquitto;
    const siteId = await newSite();
    const config = childConfig(mqttUrl);
    const cloud = await startChildCloud(config, children);
    const site = await SiteClient.connect(b.url, siteId);
    sites.push(site);
    const warm = await publishEntries(site, 1, "warm");
    const [warmId] = warm.keys();
    await until(() => processed(siteId, warmId), 30_000, "the warm-up entry");
    return { siteId, config, cloud, site, warm };
  }

  /** Publishes `n` entries (QoS 1, each acknowledged by the broker); returns event id → plate. */
  async function publishEntries(site: SiteClient, n: number, tag: string): Promise<Map<string, string>> {
    const plates = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const eventId = `${tag}-${i}-${rnd()}`;
      const plate = `${tag.toUpperCase()}${String(i).padStart(4, "0")}`;
      await site.publish("entry", entry(eventId, plate));
      plates.set(eventId, plate);
    }
    return plates;
  }

  it("a cloud killed with SIGKILL and restarted consumes every parking/entry published while it was down, each once", async () => {
    // The consumer's session exists and works: one entry goes through before the crash.
    const { siteId, config, cloud: first, site, warm } = await warmCloud((broker as PrivateMosquitto).url);

    await kill9(first.child);
    const queued = await publishEntries(site, 50, "down");
    await startChildCloud(config, children);

    // The broker delivers a session's queue in order and the consumer handles its messages one
    // at a time in that order: once the last is processed, every earlier one was handled.
    const lastId = [...queued.keys()].at(-1) as string;
    await until(() => processed(siteId, lastId), 60_000, "the last entry published while the cloud was down");
    for (const c of [...children]) await terminate(c);
    await expectEachOnce(siteId, new Map([...warm, ...queued]));
  });

  it("a cloud killed between claiming an outbox row and publishing it publishes that row at once when restarted (its lease is not waited out)", async () => {
    // Found by the CI crash test: a SIGKILL between the relay's claim and its PUBACK left a paid
    // driver's payment/success behind the dead run's lease, and the driver waited it out at the barrier.
    const { siteId, config, cloud: first, site } = await warmCloud((broker as PrivateMosquitto).url);
    await kill9(first.child);
    const sql = (db as Database).sql;
    const success = (sessionId: string) => ({ ts: Date.now(), src: "cloud-test", session_id: sessionId, lane_id: "X1", provider_ref: `pi_${sessionId}`, amount: 450, currency: "EUR" });
    const enqueue = (sessionId: string) => (db as Database).tx((tx) => enqueueOutbox(tx, { topic: toCloudTopic(siteId, TOPICS.paymentSuccess.topic), payload: success(sessionId) }));
    // What the killed run had claimed (its lease still runs for a minute), and a row another,
    // live instance holds: that one stays with its owner.
    const mine = await enqueue(`s-mine-${rnd()}`);
    const [claimed] = await claimOutbox(sql, { limit: 1, leaseMs: 60_000, owner: config.instanceId });
    expect(claimed.id, "the dead run's claim").to.equal(mine.id);
    const theirs = await enqueue(`s-theirs-${rnd()}`);
    const [held] = await claimOutbox(sql, { limit: 1, leaseMs: 60_000, owner: "another-live-instance" });
    expect(held.id, "the live instance's claim").to.equal(theirs.id);

    const restarted = Date.now();
    await startChildCloud(config, children);
    await site.waitFor("paymentSuccess", (p) => p.session_id === (claimed.payload as { session_id: string }).session_id, 10_000);
    const waitedMs = Date.now() - restarted;
    expect(waitedMs, "from the restart to the payment/success, far below the lease's minute").to.be.below(10_000);
    const [row] = await sql<{ publishedAt: Date | null; claimedBy: string | null }[]>`SELECT published_at, claimed_by FROM outbox WHERE id = ${theirs.id}`;
    expect(row, "another owner's live lease is left alone").to.deep.equal({ publishedAt: null, claimedBy: "another-live-instance" });
    expect(site.count("paymentSuccess", (p) => p.session_id === (held.payload as { session_id: string }).session_id), "payment/success of the row another instance holds").to.equal(0);
    await sql`UPDATE outbox SET claimed_until = NULL, claimed_by = NULL WHERE id = ${theirs.id}`;
  });

  it("a cloud cut off from its broker consumes, once reconnected, every parking/entry published meanwhile, each once", async () => {
    const b = broker as PrivateMosquitto;
    proxy = new TcpProxy({ host: b.host, port: b.port });
    await proxy.start();
    const { siteId, cloud: { url }, site, warm } = await warmCloud(proxy.url);
    const brokerOk = async () => ((await (await fetch(`${url}/health`)).json()) as { broker: { ok: boolean } }).broker.ok;

    await proxy.stop(); // the broker is out of the cloud's reach; mqtt.js keeps reconnecting
    await until(async () => !(await brokerOk()), 15_000, "the cloud to see its broker connections down");
    const queued = await publishEntries(site, 50, "cut");
    await proxy.start(); // same port: mqtt.js's next attempt resumes the sessions
    const lastId = [...queued.keys()].at(-1) as string;
    await until(() => processed(siteId, lastId), 60_000, "the last entry published while the cloud was cut off");
    expect(await brokerOk(), "the cloud's broker connections after the outage").to.equal(true);
    for (const c of [...children]) await terminate(c);
    await expectEachOnce(siteId, new Map([...warm, ...queued]));
  });
  it("scale out: the share of an instance killed for good is drained by a live peer — every parking/entry consumed, once, and the dead member leaves the group (issue 20)", async () => {
    const b = broker as PrivateMosquitto;
    const sql = (db as Database).sql;
    const siteId = await newSite();
    // Two instances in one share group; a peer silent for 2 s counts as gone (30 s in production).
    const shareGroup = `g${rnd()}`;
    const scaleOut = (): CloudChildConfig => ({ ...childConfig(b.url), shareGroup, instanceStaleS: 2, instanceWatchMs: 250 });
    await startChildCloud(scaleOut(), children);
    const goneConfig = scaleOut();
    const gone = await startChildCloud(goneConfig, children);
    const site = await SiteClient.connect(b.url, siteId);
    sites.push(site);

    await kill9(gone.child);
    // Mosquitto keeps giving the killed member its turn: about half of these go into its session.
    const queued = await publishEntries(site, 40, "gone");
    const count = async () => (await sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM processed_site_events WHERE site_id = ${siteId}`)[0].n;
    await until(async () => (await count()) >= queued.size, 30_000, "every entry (the killed instance's share drained by its peer)");
    await expectEachOnce(siteId, queued);
    await until(async () => (await sql`SELECT 1 FROM cloud_instances WHERE instance_id = ${goneConfig.instanceId}`).length === 0, 10_000, "the drained instance forgotten");

    // Its session is gone, so the group is the live instance alone: new entries are consumed at once.
    const after = await publishEntries(site, 10, "after");
    await until(async () => (await count()) >= queued.size + after.size, 5_000, "the entries published after the drain");
  });

  it("a message that arrives while the cloud stops is not acknowledged: the next instance consumes it, each once", async () => {
    const { siteId, config, cloud: first, site, warm } = await warmCloud((broker as PrivateMosquitto).url);

    // An open transaction holds the next entry's event id: the cloud's transaction for it waits,
    // so that entry is in flight when the cloud is asked to stop.
    const holder = postgres(PG_URL, { max: 2, onnotice: () => undefined, connection: { search_path: schema } });
    const tx = await holder.reserve();
    try {
      const heldId = `held-${rnd()}`;
      await tx`BEGIN`;
      await tx`INSERT INTO processed_site_events (site_id, event_id, topic) VALUES (${siteId}, ${heldId}, 'parking/entry')`;
      const [{ pid }] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      await site.publish("entry", entry(heldId, "HELD0001"));
      await until(async () => (await holder<{ n: number }[]>`SELECT count(*)::int4 AS n FROM pg_stat_activity WHERE ${pid}::int4 = ANY(pg_blocking_pids(pid))`)[0].n > 0, 30_000, "the cloud's transaction for the held entry to wait");

      first.child.kill("SIGTERM");
      await first.printed("closing");
      const late = await publishEntries(site, 10, "late");
      await tx`ROLLBACK`; // the held entry goes through; the instance finishes it and exits
      await exited(first.child);
      expect(first.child.exitCode, "the first instance's exit code").to.equal(0);

      await startChildCloud(config, children);
      const lastId = [...late.keys()].at(-1) as string;
      await until(() => processed(siteId, lastId), 60_000, "the last entry published while the cloud was stopping");
      for (const c of [...children]) await terminate(c);
      await expectEachOnce(siteId, new Map([...warm, [heldId, "HELD0001"], ...late]));
    } finally {
      tx.release();
      await holder.end({ timeout: 5 });
    }
  });
});

describe("cloud/mqtt startConsumer: what it acknowledges", () => {
  /** Just what startConsumer uses of an mqtt.js client; `stream` changes at each (re)connection. */
  function fakeClient() {
    return { stream: {}, connected: true, subscribeAsync: async () => [{ topic: "t", qos: 1 }], on: () => undefined, endAsync: async () => undefined };
  }
  const packet = (eventId: string) =>
    ({ cmd: "publish", topic: "syspark/s1/parking/entry", qos: 1, messageId: 7, dup: false, retain: false, payload: Buffer.from(JSON.stringify(entry(eventId, "AB123CD"))) }) as IPublishPacket;

  async function consumerWithGate() {
    const client = fakeClient();
    let handleMessage: MessageHandler | undefined;
    const handled: string[] = [];
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    const consumer = await startConsumer({
      connect: async (h) => {
        handleMessage = h;
        return client as unknown as MqttClient;
      },
      version: 5,
      shareGroup: "g",
      logger: silentLogger,
      handle: async (_site, _key, payload) => {
        await gate;
        handled.push((payload as { event_id: string }).event_id);
        return "created";
      },
    });
    const deliver = (eventId: string) => new Promise<Error | undefined>((resolve) => (handleMessage as MessageHandler)(client as unknown as MqttClient, packet(eventId), resolve));
    return { client, consumer, handled, open, deliver };
  }

  it("acknowledges a message once its handler resolved, on the connection it came on", async () => {
    const c = await consumerWithGate();
    const acked = c.deliver("e1");
    c.open();
    expect(await acked).to.equal(undefined);
    expect(c.handled).to.deep.equal(["e1"]);
  });

  it("does not acknowledge, on the next connection, a message whose connection was lost while it was processed", async () => {
    const c = await consumerWithGate();
    const acked = c.deliver("e1");
    c.client.stream = {}; // mqtt.js reconnected: a new stream, where packet id 7 may be another message
    c.open();
    expect(await acked).to.be.instanceOf(Error);
    expect(c.handled, "it was processed (the redelivery will be a duplicate)").to.deep.equal(["e1"]);
  });

  it("once stopping, refuses new messages unprocessed and finishes the one in flight before disconnecting", async () => {
    const c = await consumerWithGate();
    const inFlight = c.deliver("e1");
    const stopped = c.consumer.stop();
    const late = c.deliver("e2");
    c.open();
    expect(await late, "a message arriving while stopping").to.be.instanceOf(Error);
    expect(await inFlight, "the message in flight").to.equal(undefined);
    await stopped;
    expect(c.handled).to.deep.equal(["e1"]);
  });
});
