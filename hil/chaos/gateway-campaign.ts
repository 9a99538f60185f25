/**
 * The gateway crash campaign (issue 13): the production gateway in a child process is killed
 * with SIGKILL at seeded random moments while exits flow on several lanes, and started again on
 * the same configuration and data directory (its durable outbox). Around it, everything real:
 * - the cloud (`startCloud`, in this process — it is not what is killed) on the PostgreSQL
 *   server, in a schema of its own created and dropped here, with the in-process Stripe test
 *   emulator;
 * - the cloud broker: a private Mosquitto with SysPark's cloud-broker settings;
 * - the boards: simulated exit controllers and barrier executors (the real firmware) on socat
 *   pty pairs, in this process so that they outlive the gateway (gateway-lane.ts);
 * - a driver per lane: entry (the entry camera on the site broker) → arrival → badge → the cloud
 *   prices → the driver pays the QR code's link with a test card → the barrier opens → the car
 *   passes → the exit reaches the cloud → the session is closed.
 * After the last exit and a bounded settle time each exit is tallied (campaign.ts) from what
 * the lanes saw and what the database says, and `syspark audit verify` checks the audit chain.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt, { type MqttClient } from "mqtt";
import postgres from "postgres";
import { seedSite, startCloud, type CloudHandle } from "../../cloud/server/index";
import { encodePayload, siteTopic } from "../../contracts/mqtt-topics";
import { parseSiteConfig } from "../../gateway/config/load";
import { silentLogger } from "../../host/log";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto } from "../../host/mosquitto";
import { freePort } from "../../host/ports";
import { openPtyPair } from "../../host/link/pty";
import { percentile, round1, seededRandom, tallyExits, type CampaignOptions, type CampaignResult, type ExitRecord } from "./campaign";
import { ChaosLane, waitFor, type DriverCloud, type DrivenExit } from "./gateway-lane";
import { GatewayProcess } from "./gateway-process";

export const PG_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SYSPARK = fileURLToPath(new URL("../../bin/syspark.js", import.meta.url));

/** Per step of an exit; generous: a restart (process start, tsx, links re-synced) fits well inside. */
const STEP_MS = 30_000;
/** After the last exit: time for the last events to reach the cloud. */
const SETTLE_MS = 30_000;

/** EM4100 badge UIDs, one per exit: 10 hex digits, distinct within a campaign. */
const badgeOf = (run: string, n: number) => `${run}${n.toString(16).toUpperCase().padStart(6, "0")}`.slice(-10);

function auditVerify(databaseUrl: string, schema: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SYSPARK, "audit", "verify", "--schema", schema], { env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, output: `${stdout}${stderr}`.trim() });
    });
  });
}

type Closers = (() => Promise<unknown>)[];

/** The cloud side of a campaign: the cloud broker and the cloud (with its Stripe test emulator) on a schema of its own. */
interface CloudSide {
  brokerUrl: string;
  aclKey: string;
  sql: postgres.Sql;
  cloudUrl: string;
  emulatorUrl: string;
  /** Closes the cloud (once; also at teardown). */
  closeCloud: () => Promise<void>;
}

/** `signal`: aborting it stops the drivers and the killer, and the campaign closes everything it started (a test's `after`). */
export async function runGatewayCampaign(opts: CampaignOptions & { signal?: AbortSignal }): Promise<CampaignResult> {
  const started = performance.now();
  const log = opts.log ?? (() => undefined);
  const laneCount = opts.lanes ?? 2;
  const run = randomBytes(2).toString("hex").toUpperCase();
  const siteId = `chaos-gw-${run.toLowerCase()}`;
  const schema = `syspark_chaos_gw_${randomBytes(4).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "syspark-chaos-gw-"));
  const closers: Closers = [];
  const problems: string[] = [];
  try {
    const cloud = await startCloudSide(run, siteId, schema, closers);
    const laneIds = Array.from({ length: laneCount }, (_, i) => `L${i + 1}`);
    const { lanes, gatewayEnds } = await startBoards(laneIds, dir, closers);
    const sitePort = await freePort();
    const gateway = await startGatewayChild({ siteId, dir, sitePort, gatewayEnds, cloud, closers });
    // Drivers' paying times from a sequence of their own (see driveWithKills).
    const payRandom = seededRandom((opts.seed ?? 1) + 0x9e3779b9);
    const driverCloud = siteClients({ run, siteId, sitePort, cloud, payRandom, closers });
    const { driven, kills } = await driveWithKills(opts, { run, lanes, gateway, driverCloud, problems, log });
    if (opts.signal?.aborted) throw new Error("the gateway campaign was aborted");
    const { tally, strays } = await settleAndTally(cloud.sql, siteId, driven, lanes, problems);
    if (driven.length < opts.exits) problems.push(`only ${driven.length}/${opts.exits} exits were driven`);
    if (kills < opts.kills) problems.push(`only ${kills}/${opts.kills} kills happened`);
    if (new Set(driven.map((e) => e.badge)).size !== driven.length) problems.push("two exits used one badge (campaign bug)");

    // ------------------------------------------------------------ the audit chain
    await gateway.kill();
    await cloud.closeCloud();
    const audit = await auditVerify(PG_URL, schema);
    if (!audit.ok) problems.push(`syspark audit verify failed: ${audit.output}`);
    const latencies = driven.map((e) => e.arrivalToOpenMs).filter((x): x is number => x !== undefined);
    const result: CampaignResult = {
      part: "gateway",
      exits: driven.length,
      kills,
      lost: tally.lost,
      doubled: tally.doubled + strays,
      stuck: tally.stuck,
      p50_ms: round1(percentile(latencies, 50)),
      p99_ms: round1(percentile(latencies, 99)),
      audit_ok: audit.ok,
      problems: [...tally.problems, ...problems],
      wall_s: round1((performance.now() - started) / 1000),
    };
    log(`gateway campaign: ${result.exits} exits, ${result.kills} kills, lost ${result.lost}, doubled ${result.doubled}, stuck ${result.stuck}, arrival → open p50 ${result.p50_ms} ms p99 ${result.p99_ms} ms, audit ${audit.ok ? "OK" : "BROKEN"} (${audit.output.split("\n").pop()})`);
    return result;
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The cloud broker (a private Mosquitto) and the cloud on its own schema, with the site seeded. */
async function startCloudSide(run: string, siteId: string, schema: string, closers: Closers): Promise<CloudSide> {
  const broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
  closers.push(() => broker.stop());
  const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
  closers.push(async () => {
    await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end({ timeout: 5 });
  });
  const aclKey = randomBytes(24).toString("hex");
  let cloud: CloudHandle | undefined = await startCloud({
    databaseUrl: PG_URL, dbSchema: schema, dbCreateSchema: true, dbPoolMax: 8,
    mqttUrl: broker.url, port: 0,
    stripe: { emulatorPort: 0, emulatorWebhookRetry: { attempts: 5, initialDelayMs: 100, maxDelayMs: 1000 } },
    logger: silentLogger, instanceId: `chaos-${run.toLowerCase()}`, shareGroup: `chaos${run.toLowerCase()}`,
    relayPollMs: 50, seedDemo: false, createFirstAdmin: false, aclHmacKey: aclKey,
  });
  const closeCloud = async () => { const c = cloud; cloud = undefined; await c?.close(); };
  closers.push(closeCloud);
  await seedSite(cloud.db, { siteId, name: "Chaos site", timeZone: "Europe/Paris", currency: "EUR" });
  const emulatorUrl = cloud.emulator?.url;
  if (!emulatorUrl) throw new Error("the campaign pays through the Stripe test emulator, but the cloud started without it (unset STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET)");
  return { brokerUrl: broker.url, aclKey, sql: cloud.db.sql, cloudUrl: cloud.url, emulatorUrl, closeCloud };
}

/** Each lane's simulated boards on socat pty pairs, stepped every 20 ms; the gateway's ends of the pairs. */
async function startBoards(laneIds: string[], dir: string, closers: Closers): Promise<{ lanes: ChaosLane[]; gatewayEnds: { id: string; exit: string; barrier: string }[] }> {
  const lanes: ChaosLane[] = [];
  const gatewayEnds: { id: string; exit: string; barrier: string }[] = [];
  for (const id of laneIds) {
    const exitPty = await openPtyPair(`exit-${id}`, dir);
    closers.push(() => exitPty.close());
    const barrierPty = await openPtyPair(`barrier-${id}`, dir);
    closers.push(() => barrierPty.close());
    const lane = await ChaosLane.start(id, exitPty, barrierPty);
    closers.push(() => lane.close());
    lanes.push(lane);
    gatewayEnds.push({ id, exit: exitPty.b, barrier: barrierPty.b });
  }
  const stepper = setInterval(() => { for (const l of lanes) l.step(); }, 20);
  closers.push(async () => clearInterval(stepper));
  return { lanes, gatewayEnds };
}

/** The gateway, a child process, on a site configuration written here (checked first). */
async function startGatewayChild(o: { siteId: string; dir: string; sitePort: number; gatewayEnds: { id: string; exit: string; barrier: string }[]; cloud: CloudSide; closers: Closers }): Promise<GatewayProcess> {
  const config = {
    site_id: o.siteId,
    data_dir: join(o.dir, "gateway-data"),
    lanes: o.gatewayEnds.map((g) => ({ id: g.id, exit_controller: { port: g.exit }, barrier_executor: { port: g.barrier } })),
    site_broker: { host: "127.0.0.1", port: o.sitePort, allow_anonymous: true },
    cloud: { url: o.cloud.brokerUrl, anonymous: true, client_id: `gw-${o.siteId}`, reconnect_ms: 200 },
    bridge: { heartbeat_s: 0 },
  };
  parseSiteConfig(config); // refused here, with the field, rather than by the child
  const configPath = join(o.dir, "site.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const gateway = new GatewayProcess(configPath, { ...process.env, SYSPARK_ACL_HMAC_KEY: o.cloud.aclKey, LOG_LEVEL: "info" });
  o.closers.push(() => gateway.kill());
  await gateway.start();
  return gateway;
}

/** What a driver needs of the site and the cloud: the entry camera, the session's status, and the payment page. */
function siteClients(o: { run: string; siteId: string; sitePort: number; cloud: CloudSide; payRandom: () => number; closers: Closers }): DriverCloud {
  const { run, siteId, cloud } = o;
  // The entry lane's camera: a LAN client of the site broker, reconnecting as the gateway
  // comes back (MQTT.js sends an unacknowledged QoS 1 publish again on reconnection).
  const lan: MqttClient = mqtt.connect(`mqtt://127.0.0.1:${o.sitePort}`, { clientId: `entry-cam-${run}`, reconnectPeriod: 200, connectTimeout: 5000 });
  lan.on("error", () => undefined);
  o.closers.push(() => lan.endAsync(true));
  let entries = 0;
  return {
    payDelayMs: () => 200 + Math.floor(o.payRandom() * 1300),
    publishEntry: async (badge) => {
      const payload = encodePayload("entry", { ts: Date.now() - 2 * 3600_000, src: "lpr-E1", event_id: `ent-${run}-${++entries}`, lane_id: "E1", identity: { method: "badge", value: badge } });
      await lan.publishAsync(siteTopic("entry"), payload, { qos: 1 });
    },
    sessionStatus: async (badge) => {
      const [row] = await cloud.sql<{ status: string }[]>`SELECT status FROM sessions WHERE site_id = ${siteId} AND identity_value = ${badge} ORDER BY created_at DESC LIMIT 1`;
      return row?.status;
    },
    pay: async (payUrl) => {
      const u = new URL(payUrl);
      const sessionId = u.pathname.split("/")[2];
      const token = u.searchParams.get("t") ?? "";
      const r = await fetch(`${cloud.cloudUrl}/api/pay/${encodeURIComponent(sessionId)}/intent?t=${encodeURIComponent(token)}`, { method: "POST" });
      if (!r.ok) throw new Error(`pay: the cloud's intent answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
      const { client_secret: secret } = (await r.json()) as { client_secret: string };
      const card = new URLSearchParams({ card_number: "4242 4242 4242 4242", exp: "12/34", cvc: "123", locale: "en" });
      const p = await fetch(`${cloud.emulatorUrl}/emulator/pay/${encodeURIComponent(secret)}`, { method: "POST", body: card, headers: { "content-type": "application/x-www-form-urlencoded" }, redirect: "manual" });
      if (p.status !== 200 && p.status !== 303 && p.status !== 302) throw new Error(`pay: the card page answered ${p.status}`);
    },
  };
}

/**
 * A driver per lane pushes exits until the campaign's count while the killer SIGKILLs the
 * gateway at seeded moments and starts it again. Returns every driven exit and the kills done.
 */
async function driveWithKills(
  opts: CampaignOptions & { signal?: AbortSignal },
  o: { run: string; lanes: ChaosLane[]; gateway: GatewayProcess; driverCloud: DriverCloud; problems: string[]; log: (line: string) => void },
): Promise<{ driven: DrivenExit[]; kills: number }> {
  const { lanes, gateway, log } = o;
  // Kill delays and drivers' paying times from two sequences, so that the kill moments a seed
  // gives do not depend on how many drivers paid before each kill.
  const random = seededRandom(opts.seed ?? 1);
  const driven: DrivenExit[] = [];
  let next = 0;
  let done = 0;
  let kills = 0;
  let stopped = false;
  const stop = () => stopped || opts.signal?.aborted === true;
  const drivers = lanes.map(async (lane) => {
    while (!stop() && next < opts.exits) {
      const n = next++;
      const e = await lane.driveExit(badgeOf(o.run, n), o.driverCloud, { stepMs: STEP_MS }, stop);
      driven.push(e);
      done++;
      if (e.stoppedAt) log(`exit ${n} on ${lane.id} stopped: ${e.stoppedAt}`);
      if (e.badgedAgain > 0) log(`exit ${n} on ${lane.id}: the driver presented the badge ${e.badgedAgain + 1} times`);
      if (done % 50 === 0) log(`${done}/${opts.exits} exits, ${kills} kills`);
      // A lane that cannot even become ready again is broken: stop driving it.
      if (e.stoppedAt && !(await waitFor(() => lane.exit.state === "idle" && lane.vehicle.phase !== "at_loop", STEP_MS, stop))) {
        o.problems.push(`lane ${lane.id} never came back after exit ${n}: ${lane.describe()}`);
        return;
      }
    }
  });
  const allDriven = Promise.all(drivers);
  let driving = true;
  void allDriven.finally(() => { driving = false; });
  // Kill k happens once the campaign is k/(kills+1) of the way through its exits, after a
  // random delay of up to one exit's mean duration so far: at any phase of the exits then
  // under way (a fixed short delay after an exit completes would always hit the same phase).
  const drivingSince = performance.now();
  for (let k = 1; k <= opts.kills; k++) {
    const threshold = Math.floor((k * opts.exits) / (opts.kills + 1));
    await waitFor(() => done >= threshold || !driving, 24 * 3600_000, stop);
    if (!driving || stop()) break;
    const exitMs = (performance.now() - drivingSince) / Math.max(1, done / lanes.length);
    await new Promise((r) => setTimeout(r, Math.floor(random() * exitMs)));
    await gateway.kill();
    kills++;
    log(`kill ${kills}: gateway SIGKILLed after ${done} exits (${lanes.map((l) => l.describe()).join("; ")}); restarting`);
    try {
      await gateway.start();
    } catch (err) {
      // Without a gateway no exit can complete: stop the drivers, and say why.
      stopped = true;
      await allDriven;
      throw err;
    }
  }
  await allDriven;
  return { driven, kills };
}

/**
 * After a bounded settle time, each driven exit as the lanes saw it and as the database says
 * (tallied by campaign.ts), and the booms that opened for nobody (`strays`, doubled opens).
 */
async function settleAndTally(sql: postgres.Sql, siteId: string, driven: DrivenExit[], lanes: ChaosLane[], problems: string[]): Promise<{ tally: ReturnType<typeof tallyExits>; strays: number }> {
  const unsettled = async () => {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE site_id = ${siteId} AND status IN ('active', 'pending_payment', 'paid')`;
    const [pending] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_pending`;
    return row.n + pending.n;
  };
  await waitFor(async () => (await unsettled()) === 0, SETTLE_MS);
  const sessions = await sql<{ sessionId: string; badge: string; status: string }[]>`
    SELECT session_id, identity_value AS badge, status FROM sessions WHERE site_id = ${siteId}`;
  const captured = await sql<{ sessionId: string; n: number }[]>`
    SELECT p.session_id, count(*)::int AS n FROM payments p JOIN sessions s USING (session_id)
    WHERE s.site_id = ${siteId} AND p.state = 'paid' GROUP BY p.session_id`;
  const closes = await sql<{ sessionId: string; n: number }[]>`
    SELECT session_id, count(*)::int AS n FROM (
      SELECT session_id FROM audit_log WHERE kind = 'session.closed'
      UNION ALL SELECT session_id FROM audit_pending WHERE kind = 'session.closed') c
    WHERE session_id IS NOT NULL GROUP BY session_id`;
  const capturedOf = new Map(captured.map((r) => [r.sessionId, r.n]));
  const closesOf = new Map(closes.map((r) => [r.sessionId, r.n]));
  const sessionsOf = new Map<string, { sessionId: string; status: string }[]>();
  for (const s of sessions) sessionsOf.set(s.badge, [...(sessionsOf.get(s.badge) ?? []), s]);
  const records: ExitRecord[] = driven.map((e) => {
    const mine = sessionsOf.get(e.badge) ?? [];
    const s = mine[0];
    if (mine.length > 1) problems.push(`exit ${e.badge} on ${e.lane}: ${mine.length} sessions for one car`);
    if (e.stoppedAt) problems.push(`exit ${e.badge} on ${e.lane} stopped: ${e.stoppedAt}`);
    return {
      key: `${s?.sessionId ?? "no session"} (lane ${e.lane}, badge ${e.badge})`,
      successesActedOn: e.openings,
      letOut: e.letOut,
      status: s?.status ?? null,
      closes: s ? (closesOf.get(s.sessionId) ?? 0) : 0,
      paymentsCaptured: s ? (capturedOf.get(s.sessionId) ?? 0) : 0,
    };
  });
  const tally = tallyExits(records);
  // A boom that opened while no exit was being driven opened for nobody: a doubled open.
  let strays = 0;
  for (const lane of lanes) {
    for (const at of lane.strayOpenings) {
      strays++;
      problems.push(`doubled: lane ${lane.id}'s boom opened at ${new Date(at).toISOString()} with no exit being driven`);
    }
  }
  return { tally, strays };
}
