/**
 * TLS to the cloud broker (issue 19): the gateway's bridge (cloud.url mqtts://, cloud.tls) and
 * the cloud's MQTT client (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE → MqttConnectOptions.tls)
 * against a private Mosquitto started from deploy/cloud-broker/mosquitto.conf, with only its TLS
 * listener, a throwaway CA made here with openssl, and per-site accounts. A certificate the
 * client cannot trust is refused with a message naming the setting to fix, logged once however
 * often mqtt.js retries, and never followed by a plaintext attempt.
 */
import { expect } from "chai";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import pino from "pino";
import { TOPICS, encodePayload, toCloudTopic } from "../../contracts/mqtt-topics";
import { issueBrokerAccount, writeBrokerAccount, type BrokerAccount } from "../../cloud/mqtt/broker-accounts";
import { connectClient, detectProtocol, type MqttConnectOptions } from "../../cloud/mqtt/client";
import type { CloudMessage } from "../../gateway/bridge/bridge";
import { startGatewayServices, type GatewayServices } from "../../gateway/bridge/services";
import { silentLogger, type Logger } from "../../host/log";
import { requireToolOrSkip } from "../../host/tools";
import { collect, tempDir, testConfig, waitFor } from "../gateway/helpers";
import { makeCa, makeTestPki, startDeployedBroker, type DeployedBroker, type TestPki } from "./deployed-broker";

interface LogLine {
  level: number;
  msg: string;
  err?: string;
}

function memoryLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { logger: pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l) as LogLine) }), lines };
}

const ERROR = 50;
const exitDone = (i: number) => ({ ts: 1_700_000_000_000 + i, src: "lane-exit-1", event_id: `tls-done-${i}`, lane_id: "exit-1", barrier_result: "opened" as const, passed: true, decided_by: "cloud" as const, session_id: `s-${i}` });

/** "New connection from …" lines: TCP connections the broker accepted on its TLS listener. */
const connections = (log: string) => log.split("\n").filter((l) => / New connection from /.test(l)).length;
/** "New client connected from … as <id>": an MQTT CONNECT the broker accepted. */
const mqttSessions = (log: string) => log.split("\n").filter((l) => / New client connected from /.test(l));

describe("deploy: TLS to a real Mosquitto with a throwaway CA", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let wrongCa: string;
  let auth: ReturnType<typeof tempDir>;
  let site: BrokerAccount, cloud: BrokerAccount;
  let tlsOnly: DeployedBroker | undefined;
  let withClientCert: DeployedBroker | undefined;

  before(async function () {
    if (!requireToolOrSkip(this, "mosquitto") || !requireToolOrSkip(this, "openssl")) return;
    pki = makeTestPki();
    wrongCa = makeCa(pki.dir, "other-ca").cert;
    auth = tempDir("tls-auth");
    [site, cloud] = [issueBrokerAccount("site", "tls-site"), issueBrokerAccount("cloud")];
    for (const a of [site, cloud]) writeBrokerAccount(auth.dir, a);
    // No plaintext listener at all: whatever connects, connects in TLS or not at all.
    tlsOnly = await startDeployedBroker({ authDir: auth.dir, certsDir: pki.certsDir, plaintext: false });
    withClientCert = await startDeployedBroker({ authDir: auth.dir, certsDir: pki.certsDir, plaintext: false, requireCertificate: true });
  });
  after(async () => {
    await tlsOnly?.stop();
    await withClientCert?.stop();
    auth?.cleanup();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  const cloudOpts = (url: string, tls: MqttConnectOptions["tls"], logger: Logger = silentLogger): MqttConnectOptions => ({
    url,
    username: cloud.username,
    password: cloud.password,
    protocol: "auto",
    clientIdPrefix: `tls-cloud-${process.pid}`,
    logger,
    connectTimeoutMs: 3000,
    ...(tls ? { tls } : {}),
  });

  describe("the gateway's bridge", () => {
    let t: ReturnType<typeof tempDir>;
    let gw: GatewayServices | undefined;
    let cloudClient: MqttClient | undefined;
    beforeEach(() => (t = tempDir("tls-gateway")));
    afterEach(async () => {
      await gw?.close(false);
      await cloudClient?.endAsync(true);
      gw = cloudClient = undefined;
      t.cleanup();
    });

    async function startGateway(url: string, tls: { ca_file?: string; cert_file?: string; key_file?: string }, logger: Logger = silentLogger): Promise<GatewayServices> {
      const config = testConfig({ siteId: "tls-site", cloudUrl: url, dataDir: t.dir });
      config.cloud.anonymous = false;
      config.cloud.tls = { ...tls, reject_unauthorized: true };
      gw = await startGatewayServices(config, { logger, env: { SYSPARK_CLOUD_MQTT_USERNAME: site.username, SYSPARK_CLOUD_MQTT_PASSWORD: site.password } });
      return gw;
    }

    /** Both directions over the link: an exit to the cloud, a payment success back. */
    async function carriesBothWays(g: GatewayServices, url: string, tls: MqttConnectOptions["tls"]): Promise<void> {
      const o = cloudOpts(url, tls);
      cloudClient = await connectClient(o, await detectProtocol(o), `tls-cloud-${process.pid}`, null);
      const atCloud = await collect(cloudClient, toCloudTopic("tls-site", TOPICS.exitDone.topic), 1);
      const atSite: CloudMessage[] = [];
      g.onCloudMessage((m) => atSite.push(m));
      await g.bridge.waitConnected();
      await g.emitEvent("exitDone", exitDone(1));
      await waitFor(() => atCloud.length === 1, 10_000, "the exit at the cloud");
      const success = { ts: Date.now(), src: "cloud-1", session_id: "s-1", lane_id: "exit-1", provider_ref: "pi_s1" };
      await cloudClient.publishAsync(toCloudTopic("tls-site", TOPICS.paymentSuccess.topic), encodePayload("paymentSuccess", success), { qos: 1 });
      await waitFor(() => atSite.length === 1, 10_000, "the payment success at the gateway");
    }

    it("connects over mqtts:// with cloud.tls.ca_file and carries an event each way", async () => {
      const g = await startGateway(tlsOnly!.tlsUrl!, { ca_file: pki.caFile });
      await carriesBothWays(g, tlsOnly!.tlsUrl!, { ca: readFileSync(pki.caFile) });
    });

    it("with another CA: refuses the broker, says so once per connection naming cloud.tls.ca_file and its file, never tries plaintext", async () => {
      const { logger, lines } = memoryLogger();
      const before = tlsOnly!.log();
      const g = await startGateway(tlsOnly!.tlsUrl!, { ca_file: wrongCa }, logger);
      // mqtt.js retries every 200 ms (testConfig): wait for several attempts of both connections.
      await waitFor(() => connections(tlsOnly!.log().slice(before.length)) >= 8, 20_000, "several connection attempts at the broker");
      await waitFor(() => lines.filter((l) => l.level >= ERROR).length >= 2, 5000, "the two connections' errors");
      expect(g.bridge.connected).to.equal(false);
      const errors = lines.filter((l) => l.level >= ERROR);
      const main = errors.filter((l) => l.msg.startsWith("cloud link: "));
      const relay = errors.filter((l) => l.msg.startsWith("cloud link (relay connection): "));
      expect(main, "the main connection's error, once").to.have.length(1);
      expect(relay, "the relay connection's error, once").to.have.length(1);
      expect(main[0].msg).to.include("certificate").and.include("is not trusted").and.include(`the CA in ${wrongCa} (cloud.tls.ca_file)`).and.include("never in plaintext");
      expect(relay[0].msg).to.include("is not trusted").and.include("cloud.tls.ca_file");
      expect(lines.filter((l) => /cloud link.*error/.test(l.msg))).to.deep.equal([]);
      const log = tlsOnly!.log().slice(before.length);
      // Only TLS handshakes the client aborted: no MQTT session, no plaintext bytes on the port.
      expect(mqttSessions(log)).to.deep.equal([]);
      expect(log).to.not.match(/wrong version number|http request/i);
    });

    it("refuses cloud.tls with a plaintext mqtt:// URL instead of connecting unencrypted", async () => {
      let refused: Error | undefined;
      await startGateway(`mqtt://127.0.0.1:${tlsOnly!.tlsPort}`, { ca_file: pki.caFile }).catch((err: Error) => (refused = err));
      expect(refused?.message).to.match(/cloud\.tls is set but cloud\.url mqtt:\/\/127\.0\.0\.1:\d+ is not mqtts:\/\//);
    });

    it("refuses a CA file it cannot read, naming cloud.tls.ca_file", async () => {
      let refused: Error | undefined;
      await startGateway(tlsOnly!.tlsUrl!, { ca_file: join(t.dir, "missing.pem") }).catch((err: Error) => (refused = err));
      expect(refused?.message).to.match(/^cloud\.tls\.ca_file: cannot read .*missing\.pem \(ENOENT\)/);
    });

    it("require_certificate: without a client certificate refused with a message naming cloud.tls.cert_file; with cloud.tls.cert_file / key_file it works", async () => {
      const { logger, lines } = memoryLogger();
      const before = withClientCert!.log();
      const g = await startGateway(withClientCert!.tlsUrl!, { ca_file: pki.caFile }, logger);
      await waitFor(() => connections(withClientCert!.log().slice(before.length)) >= 6, 20_000, "several connection attempts at the broker");
      await waitFor(() => lines.some((l) => l.msg.startsWith("cloud link: ")), 5000, "the main connection's error");
      expect(g.bridge.connected).to.equal(false);
      const main = lines.filter((l) => l.level >= ERROR && l.msg.startsWith("cloud link: "));
      expect(main).to.have.length(1);
      expect(main[0].msg).to.include("requires a client certificate and none is configured: set cloud.tls.cert_file / key_file");
      expect(mqttSessions(withClientCert!.log().slice(before.length))).to.deep.equal([]);
      await g.close(false);
      gw = undefined;

      const ok = await startGateway(withClientCert!.tlsUrl!, { ca_file: pki.caFile, cert_file: pki.clientCert, key_file: pki.clientKey });
      await carriesBothWays(ok, withClientCert!.tlsUrl!, { ca: readFileSync(pki.caFile), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) });
    });
  });

  describe("the cloud's MQTT client", () => {
    const open: MqttClient[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((c) => c.endAsync(true)));
    });

    it("connects with the CA of MQTT_CA_FILE (MQTT 5 detected over TLS)", async () => {
      const o = cloudOpts(tlsOnly!.tlsUrl!, { ca: readFileSync(pki.caFile) });
      const version = await detectProtocol(o);
      expect(version).to.equal(5);
      const c = await connectClient(o, version, `tls-cloud-ok-${process.pid}`, null);
      open.push(c);
      expect(c.connected).to.equal(true);
    });

    it("with another CA, or none: refuses at once, naming MQTT_CA_FILE — detectProtocol and connectClient alike, no MQTT session at the broker", async () => {
      const before = tlsOnly!.log();
      const wrong = cloudOpts(tlsOnly!.tlsUrl!, { ca: readFileSync(wrongCa) });
      let probe: Error | undefined;
      await detectProtocol(wrong).catch((err: Error) => (probe = err));
      expect(probe?.message).to.match(/^cannot connect to the MQTT broker: the broker's TLS certificate at mqtts:\/\/127\.0\.0\.1:\d+\/? is not trusted: it does not chain to the CA \(MQTT_CA_FILE\)\. Set MQTT_CA_FILE/);
      const { logger, lines } = memoryLogger();
      let connect: Error | undefined;
      await connectClient({ ...wrong, logger, connectTimeoutMs: 30_000 }, 5, `tls-cloud-wrong-${process.pid}`, null).catch((err: Error) => (connect = err));
      // Not the 31 s connect timeout: the certificate's own refusal.
      expect(connect?.message).to.include("is not trusted").and.include("MQTT_CA_FILE");
      expect(lines.filter((l) => l.level >= 40)).to.deep.equal([]);
      let noCa: Error | undefined;
      await detectProtocol(cloudOpts(tlsOnly!.tlsUrl!, undefined)).catch((err: Error) => (noCa = err));
      expect(noCa?.message).to.include("no certificate authority Node trusts signed it, and MQTT_CA_FILE is not set");
      expect(mqttSessions(tlsOnly!.log().slice(before.length))).to.deep.equal([]);
    });

    it("refuses TLS settings with a plaintext mqtt:// MQTT_URL", async () => {
      let refused: Error | undefined;
      await detectProtocol(cloudOpts(`mqtt://127.0.0.1:${tlsOnly!.tlsPort}`, { ca: readFileSync(pki.caFile) })).catch((err: Error) => (refused = err));
      expect(refused?.message).to.match(/MQTT_URL mqtt:\/\/127\.0\.0\.1:\d+\/? is not mqtts:\/\//);
    });

    it("require_certificate: refused without MQTT_CERT_FILE / MQTT_KEY_FILE, connects with them", async () => {
      let refused: Error | undefined;
      await detectProtocol(cloudOpts(withClientCert!.tlsUrl!, { ca: readFileSync(pki.caFile) })).catch((err: Error) => (refused = err));
      expect(refused?.message).to.include("requires a client certificate and none is configured: set MQTT_CERT_FILE / MQTT_KEY_FILE");
      const o = cloudOpts(withClientCert!.tlsUrl!, { ca: readFileSync(pki.caFile), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) });
      const c = await connectClient(o, await detectProtocol(o), `tls-cloud-cert-${process.pid}`, null);
      open.push(c);
      expect(c.connected).to.equal(true);
    });
  });
});
