/**
 * Per-site credentials and ACL on the cloud broker (issue 19): accounts issued by
 * cloud/mqtt/broker-accounts.ts, written where compose.yaml mounts /mosquitto/auth, and a
 * private Mosquitto started from deploy/cloud-broker/mosquitto.conf itself. A site's account
 * reaches its own prefix and nothing else; the cloud's reaches every site; nobody connects
 * without a password; and the real gateway bridge works end to end through the ACL.
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { TOPICS, encodePayload, toCloudTopic, type TopicKey } from "../../contracts/mqtt-topics";
import { issueBrokerAccount, mosquittoPasswordLine, writeBrokerAccount, type BrokerAccount } from "../../cloud/mqtt/broker-accounts";
import { connectClient, detectProtocol, type MqttConnectOptions } from "../../cloud/mqtt/client";
import { startConsumer, subscriptionFilter, type SiteEventConsumer } from "../../cloud/mqtt/consumers";
import { BridgeMetrics } from "../../gateway/bridge/metrics";
import { startGatewayServices, type GatewayServices } from "../../gateway/bridge/services";
import type { CloudMessage } from "../../gateway/bridge/bridge";
import { silentLogger } from "../../host/log";
import { requireToolOrSkip } from "../../host/tools";
import { collect, connectMqtt, tempDir, testConfig, waitFor } from "../gateway/helpers";
import { DEPLOYED_CONF, FLOW_CONF, startDeployedBroker, systemUser, type DeployedBroker } from "./deployed-broker";

const exitDone = (i: number) => ({ ts: 1_700_000_000_000 + i, src: "lane-exit-1", event_id: `acl-done-${i}`, lane_id: "exit-1", barrier_result: "opened" as const, passed: true, decided_by: "cloud" as const, session_id: `s-${i}` });
const exitDoneJson = (siteId: string, i: number) => encodePayload("exitDone", { ...exitDone(i), src: `gw-${siteId}` });

/** The MQTT v5 / 3.1.1 CONNACK code mqtt.js reports for a refused connection. */
async function refusal(url: string, opts: Parameters<typeof connectMqtt>[1]): Promise<number | string | undefined> {
  try {
    const c = await connectMqtt(url, opts);
    await c.endAsync(true);
    return "connected";
  } catch (err) {
    return (err as { code?: number | string }).code;
  }
}

describe("deploy: broker accounts (unit)", function () {
  this.timeout(30_000); // the CLI test starts `syspark` four times
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir("broker-accounts")));
  afterEach(() => t.cleanup());

  it("a site account: user site-<id>, its own prefix only, a random base64url password, a $7$ PBKDF2-SHA512 line", () => {
    const a = issueBrokerAccount("site", "lyon-part-dieu");
    expect(a.username).to.equal("site-lyon-part-dieu");
    expect(a.aclLines).to.deep.equal(["user site-lyon-part-dieu", "topic readwrite syspark/lyon-part-dieu/#"]);
    expect(a.password).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(issueBrokerAccount("site", "lyon-part-dieu").password).to.not.equal(a.password);
    expect(a.passwordFileLine).to.match(/^site-lyon-part-dieu:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(a.passwordFileLine).to.not.include(a.password);
  });

  it("the line is what mosquitto_passwd writes for the same salt", () => {
    // mosquitto_passwd's own output for user alice, password secret-pw (salt WcLeXslB+Zezpiwp).
    const fromMosquittoPasswd = "alice:$7$101$WcLeXslB+Zezpiwp$3TehSK3FEhuKxNLsIG+xSwteITl+nDIpS9PCfYipZERjNtDQdzlWJ0ewhCir6mYRGCcbvDimPyaBUa5G6oshSg==";
    expect(mosquittoPasswordLine("alice", "secret-pw", Buffer.from("WcLeXslB+Zezpiwp", "base64"))).to.equal(fromMosquittoPasswd);
  });

  it("the cloud account: user syspark-cloud, every site", () => {
    const c = issueBrokerAccount("cloud");
    expect(c.username).to.equal("syspark-cloud");
    expect(c.aclLines).to.deep.equal(["user syspark-cloud", "topic readwrite syspark/#"]);
  });

  it("refuses a bad site id by name, and a site id for the cloud", () => {
    for (const bad of ["Lyon", "-lyon", "lyon/x", "lyon+", "a".repeat(33), ""]) expect(() => issueBrokerAccount("site", bad), bad).to.throw(/site id/);
    expect(() => issueBrokerAccount("site")).to.throw(/site id/);
    expect(() => issueBrokerAccount("cloud", "lyon")).to.throw(/no site id/);
  });

  it("writes DIR/passwd and DIR/acl with mode 0600; issued again, the user's lines are replaced in place, other lines kept", () => {
    const dir = join(t.dir, "auth");
    const first = writeBrokerAccount(dir, issueBrokerAccount("site", "site-a"));
    expect(first).to.deep.equal({ passwdFile: join(dir, "passwd"), aclFile: join(dir, "acl"), replaced: false });
    writeBrokerAccount(dir, issueBrokerAccount("cloud"));
    // An operator's own additions survive.
    writeFileSync(join(dir, "acl"), `${readFileSync(join(dir, "acl"), "utf8")}\n# ops\npattern read $SYS/broker/load/#\n`);
    const again = issueBrokerAccount("site", "site-a");
    expect(writeBrokerAccount(dir, again).replaced).to.equal(true);
    for (const f of ["passwd", "acl"]) expect(statSync(join(dir, f)).mode & 0o777, f).to.equal(0o600);
    const passwd = readFileSync(join(dir, "passwd"), "utf8").trim().split("\n");
    expect(passwd).to.have.length(2);
    expect(passwd[0]).to.equal(again.passwordFileLine);
    expect(passwd[1]).to.match(/^syspark-cloud:/);
    expect(readFileSync(join(dir, "acl"), "utf8")).to.equal(
      ["user site-site-a", "topic readwrite syspark/site-a/#", "", "user syspark-cloud", "topic readwrite syspark/#", "", "# ops", "pattern read $SYS/broker/load/#", ""].join("\n"),
    );
  });

  it("refuses a --dir that is a file", () => {
    const file = join(t.dir, "f");
    writeFileSync(file, "");
    expect(() => writeBrokerAccount(file, issueBrokerAccount("cloud"))).to.throw(/not a directory/);
  });

  it("syspark broker site-account / cloud-account: writes with --dir, prints the password once with its variables, refuses bad input by name", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ["bin/syspark.js", "broker", ...args], { encoding: "utf8" });
    const dir = join(t.dir, "auth");
    const site = cli("site-account", "lyon-part-dieu", "--dir", dir);
    expect(site.status, site.stderr).to.equal(0);
    const password = /SYSPARK_CLOUD_MQTT_PASSWORD=([A-Za-z0-9_-]{43})\n/.exec(site.stdout)?.[1];
    expect(site.stdout).to.include("SYSPARK_CLOUD_MQTT_USERNAME=site-lyon-part-dieu").and.include("docker compose kill -s HUP broker");
    expect(site.stdout.split(password!).length - 1, "the password, once").to.equal(1);
    expect(readFileSync(join(dir, "acl"), "utf8")).to.include("topic readwrite syspark/lyon-part-dieu/#");
    const cloud = cli("cloud-account");
    expect(cloud.status, cloud.stderr).to.equal(0);
    expect(cloud.stdout).to.match(/^syspark-cloud:\$7\$101\$/m).and.include("user syspark-cloud\ntopic readwrite syspark/#").and.match(/MQTT_USERNAME=syspark-cloud\n\s+MQTT_PASSWORD=\S{43}\n/);
    const badId = cli("site-account", "Lyon");
    expect([badId.status, badId.stderr]).to.deep.equal([1, 'syspark: site id "Lyon": 1–32 of a-z 0-9 -, starting with a letter or digit\n']);
    const badDir = cli("cloud-account", "--dir", "");
    expect(badDir.status).to.equal(1);
    expect(badDir.stderr).to.match(/--dir must be a directory path/);
  });

  it("deploy/cloud-broker/mosquitto.conf has the auth settings and every setting of syspark-flow.conf", () => {
    const conf = readFileSync(DEPLOYED_CONF, "utf8").split("\n");
    for (const line of ["per_listener_settings false", "allow_anonymous false", "password_file /mosquitto/auth/passwd", "acl_file /mosquitto/auth/acl", "listener 1883", "listener 8883", "persistence_location /mosquitto/data/"]) {
      expect(conf, line).to.include(line);
    }
    const flow = readFileSync(FLOW_CONF, "utf8").split("\n").filter((l) => l.trim() && !l.startsWith("#"));
    expect(flow.length).to.be.greaterThan(0);
    for (const line of flow) expect(conf, line).to.include(line);
  });
});

describe("deploy: per-site ACL on a real Mosquitto (deploy/cloud-broker/mosquitto.conf)", function () {
  this.timeout(30_000);
  let auth: ReturnType<typeof tempDir>;
  let broker: DeployedBroker | undefined;
  let siteA: BrokerAccount, siteB: BrokerAccount, cloud: BrokerAccount;
  const open: MqttClient[] = [];

  before(async function () {
    if (!requireToolOrSkip(this, "mosquitto")) return;
    auth = tempDir("broker-auth");
    [siteA, siteB, cloud] = [issueBrokerAccount("site", "site-a"), issueBrokerAccount("site", "site-b"), issueBrokerAccount("cloud")];
    for (const a of [siteA, siteB, cloud]) writeBrokerAccount(auth.dir, a);
    broker = await startDeployedBroker({ authDir: auth.dir });
  });
  after(async () => {
    await broker?.stop();
    auth?.cleanup();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.endAsync(true)));
  });

  async function as(account: BrokerAccount, protocolVersion: 4 | 5 = 5): Promise<MqttClient> {
    const c = await connectMqtt(broker!.url!, { username: account.username, password: account.password, protocolVersion });
    open.push(c);
    return c;
  }

  it("site A publishes and subscribes under syspark/site-a/#; the cloud account sees it, also through a $share subscription", async () => {
    const a = await as(siteA);
    const c = await as(cloud);
    const shared = await as(cloud);
    const mine = await collect(a, "syspark/site-a/#", 1);
    const cloudGot = await collect(c, "syspark/+/parking/exit/done", 1);
    // What the cloud's consumers subscribe to on MQTT 5 (cloud/mqtt/consumers.ts).
    const filter = subscriptionFilter("exitDone", 5, "acl-test");
    expect(filter).to.equal("$share/acl-test/syspark/+/parking/exit/done");
    const viaShare: string[] = [];
    shared.on("message", (topic) => viaShare.push(topic));
    expect((await shared.subscribeAsync(filter, { qos: 1 }))[0].qos).to.equal(1);
    await a.publishAsync(toCloudTopic("site-a", TOPICS.exitDone.topic), exitDoneJson("site-a", 1), { qos: 1 });
    await waitFor(() => mine.length === 1 && cloudGot.length === 1 && viaShare.length === 1, 5000, "site A's event at site A, the cloud and its shared subscription");
    expect(viaShare).to.deep.equal(["syspark/site-a/parking/exit/done"]);
  });

  it("site A cannot publish into site B's prefix: PUBACK not authorised, and no cloud subscriber ever gets it", async () => {
    const a = await as(siteA);
    const c = await as(cloud);
    const cloudGot = await collect(c, "syspark/#", 1);
    let refused: unknown;
    await a.publishAsync(toCloudTopic("site-b", TOPICS.paymentSuccess.topic), "{}", { qos: 1 }).catch((err: unknown) => (refused = err));
    expect((refused as { code?: number } | undefined)?.code, "PUBACK reason code").to.equal(135);
    a.publish(toCloudTopic("site-b", TOPICS.exitDone.topic), exitDoneJson("site-b", 2), { qos: 0 });
    // Mosquitto handles one client's publishes in order: once the marker arrives, anything
    // before it that were to be delivered has been.
    await a.publishAsync(toCloudTopic("site-a", TOPICS.exitDone.topic), exitDoneJson("site-a", 3), { qos: 1 });
    await waitFor(() => cloudGot.some((m) => m.topic.startsWith("syspark/site-a/")), 5000, "site A's marker at the cloud");
    expect(cloudGot.map((m) => m.topic)).to.deep.equal([toCloudTopic("site-a", TOPICS.exitDone.topic)]);
  });

  it("site A never receives site B's messages, even subscribed to # and syspark/site-b/#", async () => {
    const a = await as(siteA);
    const b = await as(siteB);
    const c = await as(cloud);
    const aGot = await collect(a, "#", 1);
    await a.subscribeAsync({ "syspark/site-b/#": { qos: 1 }, "syspark/+/parking/exit/done": { qos: 1 } });
    const cloudGot = await collect(c, "syspark/site-b/#", 1);
    await b.publishAsync(toCloudTopic("site-b", TOPICS.exitDone.topic), exitDoneJson("site-b", 4), { qos: 1 });
    await waitFor(() => cloudGot.length === 1, 5000, "site B's event at the cloud");
    // B's event is through the broker; A's own marker comes after anything queued for A.
    await a.publishAsync(toCloudTopic("site-a", "parking/marker"), "m", { qos: 1 });
    await waitFor(() => aGot.some((m) => m.topic === "syspark/site-a/parking/marker"), 5000, "site A's own marker");
    expect(aGot.filter((m) => !m.topic.startsWith("syspark/site-a/"))).to.deep.equal([]);
  });

  it("the cloud account publishes to each site and reads both", async () => {
    const a = await as(siteA);
    const b = await as(siteB);
    const c = await as(cloud);
    const cloudGot = await collect(c, "syspark/+/parking/exit/done", 1);
    const aGot = await collect(a, toCloudTopic("site-a", TOPICS.paymentSuccess.topic), 1);
    const bGot = await collect(b, toCloudTopic("site-b", TOPICS.paymentSuccess.topic), 1);
    await a.publishAsync(toCloudTopic("site-a", TOPICS.exitDone.topic), exitDoneJson("site-a", 5), { qos: 1 });
    await b.publishAsync(toCloudTopic("site-b", TOPICS.exitDone.topic), exitDoneJson("site-b", 6), { qos: 1 });
    await waitFor(() => cloudGot.length === 2, 5000, "both sites' events at the cloud");
    expect(cloudGot.map((m) => m.topic).sort()).to.deep.equal(["syspark/site-a/parking/exit/done", "syspark/site-b/parking/exit/done"]);
    await c.publishAsync(toCloudTopic("site-a", TOPICS.paymentSuccess.topic), "a", { qos: 1 });
    await c.publishAsync(toCloudTopic("site-b", TOPICS.paymentSuccess.topic), "b", { qos: 1 });
    await waitFor(() => aGot.length === 1 && bGot.length === 1, 5000, "the cloud's commands at both sites");
  });

  it("refuses anonymous clients and wrong passwords (CONNACK not authorised, MQTT 5 and 3.1.1)", async () => {
    const url = broker!.url!;
    expect(await refusal(url, { protocolVersion: 5 })).to.equal(135);
    expect(await refusal(url, { protocolVersion: 4 })).to.equal(5);
    expect(await refusal(url, { protocolVersion: 5, username: siteA.username, password: siteB.password })).to.equal(135);
    expect(await refusal(url, { protocolVersion: 4, username: siteA.username, password: `${siteA.password}x` })).to.equal(5);
    expect(await refusal(url, { protocolVersion: 5, username: "site-nobody", password: siteA.password })).to.equal(135);
  });

  it("an account issued again replaces the old password once Mosquitto reloads (SIGHUP), closing connections made with it", async () => {
    const old = issueBrokerAccount("site", "site-c");
    writeBrokerAccount(auth.dir, old);
    await broker!.reload();
    const oldConnection = await as(old);
    const closed = new Promise<void>((resolve) => oldConnection.once("close", () => resolve()));
    const renewed = issueBrokerAccount("site", "site-c");
    expect(writeBrokerAccount(auth.dir, renewed).replaced).to.equal(true);
    await broker!.reload();
    await closed;
    expect(await refusal(broker!.url!, { protocolVersion: 5, username: old.username, password: old.password })).to.equal(135);
    expect(await refusal(broker!.url!, { protocolVersion: 5, username: renewed.username, password: renewed.password })).to.equal("connected");
  });

  it("as root, writes the files with the owner of the directory, so that a Mosquitto dropping to its own user reads them (start and reload)", async function () {
    const broker = systemUser("mosquitto");
    if (process.getuid?.() !== 0 || !broker) {
      console.warn("      skipped: needs root and a mosquitto system user (Debian's mosquitto package)");
      return this.skip();
    }
    const parent = tempDir("broker-owner");
    chmodSync(parent.dir, 0o755);
    const dir = join(parent.dir, "auth");
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, broker.uid, broker.gid);
    let own: DeployedBroker | undefined;
    try {
      const first = issueBrokerAccount("site", "site-d");
      writeBrokerAccount(dir, first);
      writeBrokerAccount(dir, issueBrokerAccount("cloud"));
      for (const f of ["passwd", "acl"]) expect(statSync(join(dir, f)), f).to.include({ uid: broker.uid, gid: broker.gid, mode: 0o100600 });
      own = await startDeployedBroker({ authDir: dir, user: "mosquitto" });
      expect(await refusal(own.url!, { protocolVersion: 5, username: first.username, password: first.password })).to.equal("connected");
      const again = issueBrokerAccount("site", "site-d");
      writeBrokerAccount(dir, again);
      expect(statSync(join(dir, "passwd"))).to.include({ uid: broker.uid, mode: 0o100600 });
      await own.reload();
      expect(await refusal(own.url!, { protocolVersion: 5, username: again.username, password: again.password })).to.equal("connected");
    } finally {
      await own?.stop();
      parent.cleanup();
    }
  });

  describe("the gateway bridge with site A's account, the cloud's consumers with the cloud's", () => {
    let t: ReturnType<typeof tempDir>;
    let gw: GatewayServices | undefined;
    let consumer: SiteEventConsumer | undefined;
    let publisher: MqttClient | undefined;
    beforeEach(() => (t = tempDir("acl-gateway")));
    afterEach(async () => {
      await gw?.close(false);
      await consumer?.stop();
      await publisher?.endAsync(true);
      gw = consumer = publisher = undefined;
      t.cleanup();
    });

    it("an event site → cloud, a command cloud → site, the online status and the last will, all through the ACL", async () => {
      const mqttOpts: MqttConnectOptions = { url: broker!.url!, username: cloud.username, password: cloud.password, protocol: "auto", clientIdPrefix: "acl-cloud", logger: silentLogger };
      const version = await detectProtocol(mqttOpts);
      expect(version).to.equal(5);
      const events: { siteId: string; key: TopicKey; payload: unknown }[] = [];
      consumer = await startConsumer({
        connect: (handleMessage) => connectClient(mqttOpts, version, `acl-cloud-consumer-${process.pid}`, { sessionExpiryS: 0, handleMessage }),
        version,
        shareGroup: "acl-test",
        handle: async (siteId, key, payload) => {
          events.push({ siteId, key, payload });
          return "ok";
        },
        logger: silentLogger,
      });
      publisher = await connectClient(mqttOpts, version, `acl-cloud-pub-${process.pid}`, null);

      const config = testConfig({ siteId: "site-a", cloudUrl: broker!.url!, dataDir: t.dir });
      config.cloud.anonymous = false;
      gw = await startGatewayServices(config, { env: { SYSPARK_CLOUD_MQTT_USERNAME: siteA.username, SYSPARK_CLOUD_MQTT_PASSWORD: siteA.password } });
      const fromCloud: CloudMessage[] = [];
      gw.onCloudMessage((m) => fromCloud.push(m));
      await gw.bridge.waitConnected();

      await waitFor(() => events.some((e) => e.key === "gatewayStatus" && (e.payload as { status: string }).status === "online"), 5000, "the gateway's online status at the cloud");
      await gw.emitEvent("exitDone", exitDone(7));
      await waitFor(() => events.some((e) => e.key === "exitDone"), 10_000, "the exit at the cloud");
      expect(events.find((e) => e.key === "exitDone")).to.deep.include({ siteId: "site-a" });

      const success = { ts: Date.now(), src: "cloud-1", session_id: "s-7", lane_id: "exit-1", provider_ref: "pi_s7" };
      await publisher.publishAsync(toCloudTopic("site-a", TOPICS.paymentSuccess.topic), encodePayload("paymentSuccess", success), { qos: 1 });
      await waitFor(() => fromCloud.length === 1, 10_000, "the payment success at the gateway");
      expect(fromCloud[0]).to.deep.include({ key: "paymentSuccess", topic: TOPICS.paymentSuccess.topic });
      expect(await BridgeMetrics.value(gw.metrics.outboxDeadLettered)).to.equal(0);

      // A hard stop: the broker publishes the last will, which the ACL must let through.
      await gw.close(false);
      gw = undefined;
      await waitFor(() => events.some((e) => e.key === "gatewayStatus" && (e.payload as { status: string }).status === "offline"), 10_000, "the last will at the cloud");
    });
  });
});
