/**
 * The bridge against the REAL Mosquitto (127.0.0.1:1883) as the cloud broker and the embedded
 * aedes as the site broker. Each test uses its own site id, so parallel runs do not clash.
 */
import { expect } from "chai";
import type { MqttClient } from "mqtt";
import { TOPICS, allowlist, encodePayload, siteTopic, toCloudTopic, type TopicKey } from "../../contracts/mqtt-topics";
import { Bridge, bridgeRoutes, mosquittoBridgeConf } from "../../gateway/bridge/bridge";
import { BridgeMetrics } from "../../gateway/bridge/metrics";
import { startGatewayServices, type GatewayServices } from "../../gateway/bridge/services";
import type { SiteConfig } from "../../gateway/config/schema";
import { MOSQUITTO, MOSQUITTO_URL, TcpProxy, collect, connectMqtt, exited, requireMosquittoOrSkip, spawnTs, tempDir, testConfig, uniqueSiteId, waitFor, type Received } from "./helpers";

const GW_PW = "site-gateway-pw";
const users = [{ username: "lane", role: "gateway", password_env: "T_GW_PW" }];
const env = { ...process.env, T_GW_PW: GW_PW };

const exitDone = (i: number) => ({ ts: 1_700_000_000_000 + i, src: "lane-exit-1", event_id: `done-${i}`, lane_id: "exit-1", barrier_result: "opened" as const, passed: true, decided_by: "cloud" as const, session_id: `s-${i}` });
const paymentSuccess = (s: string) => ({ ts: Date.now(), src: "cloud-1", session_id: s, lane_id: "exit-1", provider_ref: `pi_${s}` });

describe("gateway/bridge: unit", () => {
  it("derives a Mosquitto-style table from the contract's two disjoint allowlists", () => {
    const routes = bridgeRoutes("site-a");
    const inKeys = routes.filter((r) => r.direction === "in").map((r) => r.key);
    const outKeys = routes.filter((r) => r.direction === "out").map((r) => r.key);
    expect(inKeys).to.deep.equal(allowlist("cloud_to_site"));
    expect(outKeys).to.deep.equal(allowlist("site_to_cloud"));
    expect(inKeys.filter((k) => outKeys.includes(k))).to.deep.equal([]);
    expect(routes.map((r) => r.key)).to.not.include("lprPlate");
    expect(mosquittoBridgeConf("site-a").split("\n")).to.include(`topic ${TOPICS.paymentReq.topic} in 1 "" syspark/site-a/`);
    for (const r of routes) expect(r.qos).to.equal(TOPICS[r.key].qos);
  });
});

describe("gateway/bridge: against Mosquitto", function () {
  this.timeout(30_000);
  let t: ReturnType<typeof tempDir>;
  let siteId: string;
  const open: { end: () => Promise<unknown> }[] = [];

  beforeEach(async function () {
    await requireMosquittoOrSkip(this);
    t = tempDir("bridge");
    siteId = uniqueSiteId("br");
  });
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.end().catch(() => undefined);
    t?.cleanup();
  });

  async function gateway(cfg: SiteConfig): Promise<GatewayServices> {
    const gw = await startGatewayServices(cfg, { env });
    open.push({ end: () => gw.close(true) });
    return gw;
  }
  /** A connected gateway whose cloud link goes through a proxy the test can cut (proxy.stop()). */
  async function gatewayBehindProxy(): Promise<{ proxy: TcpProxy; gw: GatewayServices }> {
    const proxy = new TcpProxy(MOSQUITTO);
    await proxy.start();
    open.push({ end: () => proxy.stop() });
    const gw = await gateway(testConfig({ siteId, cloudUrl: proxy.url, dataDir: t.dir, users }));
    await gw.bridge.waitConnected();
    return { proxy, gw };
  }
  async function cloudClient(): Promise<MqttClient> {
    const c = await connectMqtt(MOSQUITTO_URL, { protocolVersion: 5 });
    open.push({ end: () => c.endAsync(true) });
    return c;
  }
  async function siteClient(gw: GatewayServices | number): Promise<MqttClient> {
    const port = typeof gw === "number" ? gw : gw.siteBroker.port;
    const c = await connectMqtt(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, username: "lane", password: GW_PW });
    open.push({ end: () => c.endAsync(true) });
    return c;
  }
  const cloudTopic = (key: TopicKey, lane?: string) => toCloudTopic(siteId, siteTopic(key, lane));
  const dropped = (gw: GatewayServices, direction: string, reason: string) => BridgeMetrics.value(gw.metrics.dropped, { direction, reason });

  it("forwards allowlisted topics both ways with the prefix mapping, the contract's QoS, and publishes a retained online status", async () => {
    const gw = await gateway(testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users }));
    await gw.bridge.waitConnected();
    const cloud = await cloudClient();
    const status = await collect(cloud, cloudTopic("gatewayStatus"));
    await waitFor(() => status.length > 0, 5000, "the retained status");
    expect(status[0].retain).to.equal(true);
    expect(JSON.parse(status[0].payload)).to.include({ status: "online", src: `gw-${siteId}` });

    // site → cloud
    const atCloud = await collect(cloud, cloudTopic("exitDone"));
    const lane = await siteClient(gw);
    await lane.publishAsync(siteTopic("exitDone"), encodePayload("exitDone", exitDone(1)), { qos: 1 });
    await waitFor(() => atCloud.length === 1, 5000, "exit/done on the cloud broker");
    expect(atCloud[0].topic).to.equal(`syspark/${siteId}/parking/exit/done`);
    expect(JSON.parse(atCloud[0].payload)).to.deep.equal(exitDone(1));
    expect(atCloud[0].qos).to.equal(TOPICS.exitDone.qos);

    // cloud → site
    const atSite = await collect(lane, siteTopic("paymentSuccess"));
    const events: string[] = [];
    gw.onCloudMessage((m) => events.push(`${m.key} ${(m.payload as { session_id: string }).session_id}`));
    await cloud.publishAsync(cloudTopic("paymentSuccess"), encodePayload("paymentSuccess", paymentSuccess("s-42")), { qos: 1 });
    await waitFor(() => atSite.length === 1, 5000, "payment/success on the site broker");
    expect(atSite[0].topic).to.equal("parking/payment/success");
    expect(atSite[0].qos).to.equal(TOPICS.paymentSuccess.qos);
    expect(events).to.deep.equal(["paymentSuccess s-42"]);

    // The lane orchestration's own path: durable append, then the cloud.
    await gw.emitEvent("exitDone", exitDone(2));
    await waitFor(() => atCloud.length === 2, 5000, "the emitted event");
    expect(JSON.parse(atCloud[1].payload).event_id).to.equal("done-2");
  });

  it("carries QoS 2 topics with QoS 2 both ways (sensor_gate/error out, acl/add in)", async () => {
    const gw = await gateway(testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users }));
    await gw.bridge.waitConnected();
    const cloud = await cloudClient();
    const errors = await collect(cloud, cloudTopic("sensorError"));
    const lane = await siteClient(gw);
    const acl = await collect(lane, siteTopic("aclAdd"));
    await new Promise((r) => setTimeout(r, 200));
    await lane.publishAsync(siteTopic("sensorError"), encodePayload("sensorError", { ts: 1, src: "be-1", event_id: "err-1", lane_id: "exit-1", code: "OVERCURRENT", severity: "fault" }), { qos: 2 });
    await cloud.publishAsync(cloudTopic("aclAdd"), encodePayload("aclAdd", { ts: 2, src: "cloud", version: 3, entries: [{ kind: "badge", id: "04A1B2C3" }], sig: "0123456789abcdef0123" }), { qos: 2 });
    await waitFor(() => errors.length === 1 && acl.length === 1, 5000, "both QoS 2 messages");
    expect(errors[0].qos).to.equal(2);
    expect(acl[0].qos).to.equal(2);
    expect(JSON.parse(acl[0].payload)).to.include({ version: 3 });
  });

  it("announces itself with sync/req (boot, then reconnect) and sends its own heartbeat with the outbox depth", async () => {
    const proxy = new TcpProxy(MOSQUITTO);
    await proxy.start();
    open.push({ end: () => proxy.stop() });
    const cloud = await cloudClient();
    const sync = await collect(cloud, cloudTopic("syncReq"));
    const beats = await collect(cloud, cloudTopic("heartbeat"));
    const cfg = testConfig({ siteId, cloudUrl: proxy.url, dataDir: t.dir, users });
    const gw = await gateway({ ...cfg, bridge: { ...cfg.bridge, heartbeat_s: 1 } });
    await waitFor(() => sync.length === 1, 5000, "sync/req at boot");
    expect(JSON.parse(sync[0].payload)).to.include({ reason: "boot", outbox_depth: 0, acl_version: 0 });
    await waitFor(() => beats.length >= 1, 5000, "a heartbeat");
    expect(JSON.parse(beats[0].payload)).to.include({ src: `gw-${siteId}`, outbox_depth: 0 });
    await proxy.stop();
    await waitFor(() => !gw.bridge.connected, 5000, "the link to drop");
    await gw.emitEvent("exitLeft", { ts: 3, src: "lane", event_id: "left-1", lane_id: "exit-1" });
    await proxy.start();
    await waitFor(() => sync.length === 2, 10_000, "sync/req after reconnect");
    expect(JSON.parse(sync[1].payload)).to.include({ reason: "reconnect" });
  });

  it("drops and counts forbidden and wrong-direction topics from the cloud side, and ignores other sites' prefixes", async () => {
    const gw = await gateway(testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users }));
    await gw.bridge.waitConnected();
    const lane = await siteClient(gw);
    const atSite = await collect(lane, "parking/#");
    const cloud = await cloudClient();
    await new Promise((r) => setTimeout(r, 200)); // the bridge's subscription is in place
    // Not in the cloud → site allowlist: a site-local topic, an unknown one, a site → cloud one.
    await cloud.publishAsync(cloudTopic("lprPlate"), encodePayload("lprPlate", { ts: 1, src: "x", lane_id: "exit-1", plate: "AA-1", confidence: 1 }), { qos: 1 });
    await cloud.publishAsync(toCloudTopic(siteId, "parking/admin/shell"), "{}", { qos: 1 });
    await cloud.publishAsync(cloudTopic("exitDone"), encodePayload("exitDone", exitDone(9)), { qos: 1 });
    // Another site's payment: not under this site's prefix, so never seen here.
    await cloud.publishAsync(toCloudTopic(uniqueSiteId("other"), siteTopic("paymentSuccess")), encodePayload("paymentSuccess", paymentSuccess("other-site")), { qos: 1 });
    // A marker that is allowed, to know the others had their chance.
    await cloud.publishAsync(cloudTopic("paymentSuccess"), encodePayload("paymentSuccess", paymentSuccess("marker")), { qos: 1 });
    await waitFor(() => atSite.length >= 1, 5000, "the marker");
    await waitFor(async () => (await dropped(gw, "cloud_to_site", "not_allowlisted")) >= 2, 3000, "the drop counters");
    expect(atSite.map((m) => m.topic)).to.deep.equal(["parking/payment/success"]);
    expect(await dropped(gw, "cloud_to_site", "not_allowlisted")).to.equal(2);
    expect(await dropped(gw, "cloud_to_site", "wrong_direction")).to.be.at.least(1);
    expect(await BridgeMetrics.value(gw.metrics.forwarded, { direction: "cloud_to_site" })).to.equal(1);
  });

  it("drops invalid payloads in both directions, counted, with the precise reason", async () => {
    const gw = await gateway(testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users }));
    await gw.bridge.waitConnected();
    const lane = await siteClient(gw);
    const atSite = await collect(lane, siteTopic("paymentSuccess"));
    const cloud = await cloudClient();
    const atCloud = await collect(cloud, toCloudTopic(siteId, "parking/exit/#"));
    await new Promise((r) => setTimeout(r, 200));
    await cloud.publishAsync(cloudTopic("paymentSuccess"), JSON.stringify({ ...paymentSuccess("s-1"), provider_ref: "" }), { qos: 1 });
    await cloud.publishAsync(cloudTopic("paymentSuccess"), "not json", { qos: 1 });
    await lane.publishAsync(siteTopic("exitDone"), JSON.stringify({ ...exitDone(1), barrier_result: "maybe" }), { qos: 1 });
    await lane.publishAsync(siteTopic("exitDone"), encodePayload("exitDone", exitDone(2)), { qos: 1 });
    await waitFor(() => atCloud.length === 1, 5000, "the valid event");
    await waitFor(async () => (await dropped(gw, "cloud_to_site", "invalid_payload")) === 2, 3000, "cloud drops");
    expect(JSON.parse(atCloud[0].payload).event_id).to.equal("done-2");
    expect(await dropped(gw, "site_to_cloud", "invalid_payload")).to.equal(1);
    expect(atSite).to.deep.equal([]);
  });

  it("does not loop: each forwarded message appears exactly once on the other side and never comes back", async () => {
    const gw = await gateway(testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users }));
    await gw.bridge.waitConnected();
    const lane = await siteClient(gw);
    const siteSeen = await collect(lane, "parking/#");
    const cloud = await cloudClient();
    const cloudSeen = await collect(cloud, toCloudTopic(siteId, "parking/#"));
    await new Promise((r) => setTimeout(r, 200));
    cloudSeen.length = 0; // retained status
    await cloud.publishAsync(cloudTopic("paymentReq"), encodePayload("paymentReq", { ts: 1, src: "cloud", session_id: "s-7", lane_id: "exit-1", amount: 450, currency: "EUR" }), { qos: 1 });
    await lane.publishAsync(siteTopic("exitReq"), encodePayload("exitReq", { ts: 2, src: "lane", event_id: "req-7", lane_id: "exit-1", identity: { method: "plate", value: "AB-123-CD" } }), { qos: 1 });
    await waitFor(() => siteSeen.length >= 2 && cloudSeen.length >= 2, 5000, "both messages on both sides");
    await new Promise((r) => setTimeout(r, 500)); // time for any echo to show up
    const count = (seen: Received[], topic: string) => seen.filter((m) => m.topic === topic).length;
    expect(count(siteSeen, "parking/payment/req")).to.equal(1);
    expect(count(siteSeen, "parking/exit/req")).to.equal(1);
    expect(count(cloudSeen, cloudTopic("paymentReq"))).to.equal(1);
    expect(count(cloudSeen, cloudTopic("exitReq"))).to.equal(1);
    expect(siteSeen.length).to.equal(2);
    expect(cloudSeen.length).to.equal(2);
  });

  it("publishes the last will `offline` when the gateway process dies", async () => {
    const cfg = testConfig({ siteId, cloudUrl: MOSQUITTO_URL, dataDir: t.dir, users });
    let up = false;
    const child = spawnTs(new URL("./fixtures/gateway-child.ts", import.meta.url).pathname, [JSON.stringify({ ...cfg, site_broker: { ...cfg.site_broker, port: 0 } })], (l) => {
      if (l === "cloud up") up = true;
    }, { T_GW_PW: GW_PW });
    open.push({ end: async () => { child.kill("SIGKILL"); await exited(child); } });
    await waitFor(() => up, 20_000, "the child gateway's cloud link");
    const cloud = await cloudClient();
    const status = await collect(cloud, cloudTopic("gatewayStatus"));
    await waitFor(() => status.some((s) => JSON.parse(s.payload).status === "online"), 5000, "online");
    child.kill("SIGKILL");
    await waitFor(() => status.some((s) => JSON.parse(s.payload).status === "offline"), 10_000, "the last will");
    // Retained: a newcomer sees offline too.
    const late = await cloudClient();
    const lateStatus = await collect(late, cloudTopic("gatewayStatus"));
    await waitFor(() => lateStatus.length > 0, 5000, "the retained status");
    expect(JSON.parse(lateStatus[0].payload)).to.include({ status: "offline" });
    expect(lateStatus[0].retain).to.equal(true);
  });

  it("keeps events while the cloud link is down and delivers them all, in order, after it comes back", async () => {
    const { proxy, gw } = await gatewayBehindProxy();
    const cloud = await cloudClient();
    const atCloud = await collect(cloud, cloudTopic("exitDone"));
    const lane = await siteClient(gw);
    await lane.publishAsync(siteTopic("exitDone"), encodePayload("exitDone", exitDone(0)), { qos: 1 });
    await waitFor(() => atCloud.length === 1 && gw.outbox.depth === 0, 5000, "the first event and its PUBACK");

    await proxy.stop(); // cloud unreachable
    await waitFor(() => !gw.bridge.connected, 5000, "the bridge to notice");
    const n = 200;
    for (let i = 1; i <= n; i++) await lane.publishAsync(siteTopic("exitDone"), encodePayload("exitDone", exitDone(i)), { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(atCloud.length).to.equal(1);
    expect(gw.outbox.depth).to.equal(n);

    await proxy.start(); // link restored
    await waitFor(() => new Set(atCloud.map((m) => JSON.parse(m.payload).event_id)).size === n + 1, 15_000, "the backlog to drain");
    const ids = atCloud.map((m) => JSON.parse(m.payload).event_id as string);
    const firsts = ids.filter((id, i) => ids.indexOf(id) === i);
    expect(firsts).to.deep.equal(Array.from({ length: n + 1 }, (_, i) => `done-${i}`)); // in order, none lost
    await waitFor(() => gw.outbox.depth === 0, 5000, "the outbox to empty");
  });

  it("publishes the lane state as a retained latest value: at once when up, only the newest after an outage, never in the outbox", async () => {
    const { proxy, gw } = await gatewayBehindProxy();
    const cloud = await cloudClient();
    const atCloud = await collect(cloud, toCloudTopic(siteId, TOPICS.laneState.topic));
    const state = (lane: string, exit_state: string) => ({ ts: Date.now(), src: "gw-test", lane_id: lane, exit_state });
    gw.publishStatus("laneState", state("L1", "idle"));
    await waitFor(() => atCloud.length === 1, 5000, "the first lane state");
    expect(atCloud[0]).to.include({ topic: cloudTopic("laneState", "L1"), qos: 1 });
    expect(gw.outbox.lastSeq).to.equal(0);

    await proxy.stop();
    await waitFor(() => !gw.bridge.connected, 5000, "the bridge to notice");
    for (const s of ["present", "identifying", "awaiting_payment"]) gw.publishStatus("laneState", state("L1", s));
    gw.publishStatus("laneState", state("L2", "fault"));
    expect(gw.outbox.lastSeq).to.equal(0);
    expect(() => gw.publishStatus("exitDone" as "laneState", state("L1", "idle"))).to.throw(/not a status topic/);
    expect(() => gw.publishStatus("laneState", { ...state("L1", "idle"), lane_id: "bad lane!" })).to.throw();
    await proxy.start();
    // QoS 1: the first state may come again (its PUBACK can be lost with the link); the
    // intermediate states never cross, and each lane ends on its newest state.
    const latest = () => new Map(atCloud.map((m) => [m.topic, JSON.parse(m.payload).exit_state as string]));
    await waitFor(() => latest().get(cloudTopic("laneState", "L1")) === "awaiting_payment" && latest().get(cloudTopic("laneState", "L2")) === "fault", 10_000, "the newest state of each lane after reconnection");
    expect(atCloud.map((m) => JSON.parse(m.payload).exit_state)).to.not.include.members(["present", "identifying"]);
    const refused = await gw.emitEvent("laneState", state("L1", "idle")).then(() => undefined, (err: Error) => err.message);
    expect(refused).to.match(/is a status: use publishStatus/);

    // A dashboard connecting later gets the retained newest value.
    const late = await cloudClient();
    const retained = await collect(late, cloudTopic("laneState", "L1"));
    await waitFor(() => retained.length === 1, 5000, "the retained lane state");
    expect(retained[0].retain).to.equal(true);
    expect(JSON.parse(retained[0].payload).exit_state).to.equal("awaiting_payment");
  });

  it("loses nothing when the gateway is killed with events in its outbox, and delivers them after restart", async () => {
    const proxy = new TcpProxy(MOSQUITTO);
    await proxy.start();
    const proxyPort = proxy.port;
    await proxy.stop(); // the cloud is unreachable from the start
    open.push({ end: () => proxy.stop() });
    const cfg = testConfig({ siteId, cloudUrl: `mqtt://127.0.0.1:${proxyPort}`, dataDir: t.dir, users });
    const arg = JSON.stringify({ ...cfg, site_broker: { ...cfg.site_broker, port: 0 } });
    const runChild = async (): Promise<{ port: number; up: () => boolean; kill: () => Promise<void> }> => {
      let port = 0, up = false;
      const child = spawnTs(new URL("./fixtures/gateway-child.ts", import.meta.url).pathname, [arg], (l) => {
        if (l.startsWith("site ")) port = Number(l.slice(5));
        if (l === "cloud up") up = true;
      }, { T_GW_PW: GW_PW });
      const kill = async () => { child.kill("SIGKILL"); await exited(child); };
      open.push({ end: kill });
      await waitFor(() => port > 0, 20_000, "the child's site broker");
      return { port, up: () => up, kill };
    };
    const first = await runChild();
    const lane = await connectMqtt(`mqtt://127.0.0.1:${first.port}`, { protocolVersion: 4, username: "lane", password: GW_PW, reconnectPeriod: 0 });
    lane.on("error", () => undefined);
    const n = 100;
    // Each PUBACK from the site broker means "durably in the outbox".
    for (let i = 0; i < n; i++) await lane.publishAsync(siteTopic("exitDone"), encodePayload("exitDone", exitDone(i)), { qos: 1 });
    await first.kill(); // kill -9 with everything still queued
    lane.end(true);

    const cloud = await cloudClient();
    const atCloud = await collect(cloud, cloudTopic("exitDone"));
    proxy.port = proxyPort;
    await proxy.start();
    const second = await runChild();
    await waitFor(() => second.up(), 20_000, "the restarted gateway's cloud link");
    await waitFor(() => new Set(atCloud.map((m) => JSON.parse(m.payload).event_id)).size === n, 15_000, "every event after the restart");
    const ids = atCloud.map((m) => JSON.parse(m.payload).event_id as string);
    expect(ids.filter((id, i) => ids.indexOf(id) === i)).to.deep.equal(Array.from({ length: n }, (_, i) => `done-${i}`));
  });

  it("refuses to build a bridge with a bad site id", () => {
    expect(() => new Bridge({ siteId: "Bad Site", site: {} as never, outbox: { depth: 0 } as never, cloud: { url: MOSQUITTO_URL, clientId: "x" } })).to.throw(/bad site id/);
  });
});

describe("gateway/bridge: docs", () => {
  it("docs/gateway.md shows the bridge table exactly as the contract derives it", async () => {
    const { readFileSync } = await import("node:fs");
    const doc = readFileSync(new URL("../../docs/gateway.md", import.meta.url), "utf8");
    expect(doc).to.include(mosquittoBridgeConf("lyon-part-dieu"));
  });
});

describe("gateway/bridge: with the cloud unreachable (no broker needed)", function () {
  this.timeout(20_000);
  it("acknowledges a site event only once it is in the outbox, also while stopping, and refuses once the outbox is closed", async () => {
    const t = tempDir("bridge-off");
    const cfg = testConfig({ siteId: uniqueSiteId("off"), cloudUrl: "mqtt://127.0.0.1:9", dataDir: t.dir, users });
    const gw = await startGatewayServices(cfg, { env });
    const lane = await connectMqtt(`mqtt://127.0.0.1:${gw.siteBroker.port}`, { protocolVersion: 4, username: "lane", password: GW_PW });
    lane.on("error", () => undefined);
    try {
      await lane.publishAsync(siteTopic("exitDone"), encodePayload("exitDone", exitDone(1)), { qos: 1 });
      expect(gw.outbox.depth).to.equal(1);
      await gw.bridge.stop(true);
      await lane.publishAsync(siteTopic("exitDone"), encodePayload("exitDone", exitDone(2)), { qos: 1 });
      expect(gw.outbox.depth).to.equal(2); // bridge stopped, broker still up: still durable
      await gw.outbox.close();
      let acked = false;
      const closed = new Promise<void>((r) => lane.once("close", () => r()));
      lane.publish(siteTopic("exitDone"), encodePayload("exitDone", exitDone(3)), { qos: 1 }, (err) => (acked = !err));
      await closed; // refused: no PUBACK, the connection is closed and the client will retry
      expect(acked).to.equal(false);
    } finally {
      lane.end(true);
      await gw.close(false);
      t.cleanup();
    }
  });
});
