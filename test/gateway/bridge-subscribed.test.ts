/**
 * The bridge counts as connected only once the cloud broker granted its cloud → site
 * subscriptions. Found by a fresh-clone run: a test published an access list right after
 * `bridge.connected` turned true (the CONNACK) while the SUBSCRIBE was still in flight; on a
 * first connection (no session at the broker yet) the broker dropped it, and the gateway never
 * got its list. Here the cloud broker (aedes) holds the SUBSCRIBE until the test releases it, so
 * the window is not left to chance.
 */
import { expect } from "chai";
import { Aedes } from "aedes";
import { encodePayload, toCloudTopic } from "../../contracts/mqtt-topics";
import { startGatewayServices, type GatewayServices } from "../../gateway/bridge/services";
import { listenAedes, type AedesListener } from "../../host/aedes-listen";
import { connectMqtt, tempDir, testConfig, uniqueSiteId, waitFor } from "./helpers";

describe("gateway/bridge: connected means subscribed", function () {
  this.timeout(30_000);
  let broker: AedesListener | undefined;
  let gw: GatewayServices | undefined;
  let t: ReturnType<typeof tempDir> | undefined;

  afterEach(async () => {
    await gw?.close(false);
    await broker?.close();
    t?.cleanup();
  });

  it("is not connected between the CONNACK and the SUBACK; once connected, a message the cloud publishes reaches the site", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => { release = r; });
    let subscribeSeen = false;
    const aedes = await Aedes.createBroker({
      authorizeSubscribe(_client, sub, done) {
        subscribeSeen = true;
        void held.then(() => done(null, sub));
      },
    });
    broker = await listenAedes(aedes, { port: 0 });
    t = tempDir("bridge-sub");
    const siteId = uniqueSiteId("bs");
    const cfg = testConfig({ siteId, cloudUrl: `mqtt://127.0.0.1:${broker.port}`, dataDir: t.dir, allowAnonymous: true });
    gw = await startGatewayServices({ ...cfg, cloud: { ...cfg.cloud, protocol_version: 4 } }, { env: process.env });
    const services = gw;
    await waitFor(() => subscribeSeen, 10_000, "the bridge's SUBSCRIBE at the cloud broker");
    expect(services.bridge.connected, "connected before the SUBACK").to.equal(false);

    const received: string[] = [];
    services.onCloudMessage((m) => received.push(m.key));
    release();
    await waitFor(() => services.bridge.connected, 10_000, "the bridge connected (subscriptions granted)");
    const cloud = await connectMqtt(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4 });
    try {
      await cloud.publishAsync(toCloudTopic(siteId, "parking/display/text"), encodePayload("displayText", { ts: Date.now(), src: "cloud", msg_id: "m1", lane_id: "exit-1", lines: ["Bonjour"] }), { qos: 1 });
      await waitFor(() => received.includes("displayText"), 10_000, "the cloud's message at the site");
    } finally {
      await cloud.endAsync(true);
    }
  });
});
