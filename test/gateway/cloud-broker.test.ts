import { expect } from "chai";
import { startGatewayServices, type GatewayServices } from "../../gateway/bridge/services";
import { BridgeMetrics } from "../../gateway/bridge/metrics";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../../host/mosquitto";
import { requireToolOrSkip } from "../../host/tools";
import { MOSQUITTO_URL, requireMosquittoOrSkip, tempDir, testConfig, uniqueSiteId, waitFor } from "./helpers";

describe("deploy/cloud-broker: SysPark's settings for its Mosquitto, and the relay's window", function () {
  this.timeout(30_000);
  let broker: PrivateMosquitto | undefined;
  let gw: GatewayServices | undefined;
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => {
    t = tempDir("cloud-broker");
  });
  afterEach(async () => {
    await gw?.close(false);
    gw = undefined;
    await broker?.stop();
    broker = undefined;
    t.cleanup();
  });

  async function relayWindowWith(cloudUrl: string, inflight?: number): Promise<number> {
    const config = testConfig({ siteId: uniqueSiteId("window"), cloudUrl, dataDir: t.dir });
    if (inflight !== undefined) config.bridge.inflight = inflight;
    gw = await startGatewayServices(config);
    await gw.bridge.waitConnected();
    const metric = gw.metrics.relayWindow;
    await waitFor(async () => (await BridgeMetrics.value(metric)) > 0, 5000, "the relay window gauge");
    return BridgeMetrics.value(metric);
  }

  it("load in Mosquitto, which then advertises a Receive Maximum of 100: the relay gets the default window of 100", async function () {
    if (!requireToolOrSkip(this, "mosquitto")) return;
    broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
    expect(broker.receiveMaximum).to.equal(100);
    expect(await relayWindowWith(broker.url)).to.equal(100);
  });

  it("a smaller bridge.inflight is kept as it is", async function () {
    if (!requireToolOrSkip(this, "mosquitto")) return;
    broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
    expect(await relayWindowWith(broker.url, 30)).to.equal(30);
  });

  it("against a stock Mosquitto (Receive Maximum 20) the window is capped at 20", async function () {
    await requireMosquittoOrSkip(this);
    expect(await relayWindowWith(MOSQUITTO_URL)).to.equal(20);
  });
});
