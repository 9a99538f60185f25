/**
 * The gateway runtime with real parts: the simulated exit controller (real firmware) on a socat
 * pty, a barrier-executor stand-in on a second pty, the embedded site broker, Mosquitto as the
 * cloud broker, and a stand-in for the cloud's MQTT side.
 */
import { expect } from "chai";
import type { MqttClient } from "mqtt";
import { encodePayload, toCloudTopic, TOPICS } from "../../contracts/mqtt-topics";
import { startGateway, type Gateway } from "../../gateway/runtime";
import { SerialPeer } from "../../hil/harness/serial-peer";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { RealClock } from "../../sim/boards/virtual-clock";
import { openOneLaneSite, type OneLaneSite } from "./one-lane-site";
import { requireToolOrSkip } from "../../host/tools";
import { connectMqtt, MOSQUITTO_URL, requireMosquittoOrSkip, waitFor } from "../gateway/helpers";

describe("gateway runtime: a lane end to end over ptys and Mosquitto", function () {
  this.timeout(60000);
  const clock = new RealClock();
  let lane: OneLaneSite | undefined;
  let gateway: Gateway | undefined;
  let board: SimulatedExitController | undefined;
  let barrier: SerialPeer | undefined;
  let cloud: MqttClient | undefined;
  let site: string;
  const fromSite: { topic: string; payload: Record<string, unknown> }[] = [];

  beforeEach(async function () {
    requireToolOrSkip(this, "socat");
    await requireMosquittoOrSkip(this);
    lane = await openOneLaneSite("lane");
    site = lane.site;
    const { exitPty, barrierPty, config } = lane;
    cloud = await connectMqtt(MOSQUITTO_URL, { clientId: `cloud-${site}`, protocolVersion: 5 });
    await cloud.subscribeAsync(`syspark/${site}/parking/#`, { qos: 1 });
    fromSite.length = 0;
    cloud.on("message", (topic, payload) => fromSite.push({ topic, payload: JSON.parse(payload.toString()) }));
    barrier = await SerialPeer.open({ path: barrierPty.a, clock, self: { kind: "barrier-executor", fw: "stand-in", boot: 1, lane: "L1" }, receives: "down" });
    gateway = await startGateway(config, { siteBrokerPort: 0, env: { SYSPARK_ACL_HMAC_KEY: "k".repeat(32) } });
    board = await SimulatedExitController.start({ serialPath: exitPty.a, clock, lane: "L1" });
    await waitFor(() => gateway!.services.bridge.connected, 10_000, "bridge connected");
    await waitFor(() => gateway!.lanes.get("L1")!.snapshot().exit_link, 10_000, "exit link up");
  });

  afterEach(async () => {
    try {
      await board?.close();
      await barrier?.close();
      await gateway?.close(true);
      await cloud?.endAsync();
    } finally {
      await lane?.close(); // even when a close above fails
      lane = undefined;
    }
  });

  const publishToSite = (key: "paymentReq" | "paymentSuccess", payload: Record<string, unknown>) =>
    cloud!.publishAsync(toCloudTopic(site, TOPICS[key].topic), encodePayload(key, payload as never), { qos: 1 });
  const seen = (topicSuffix: string) => fromSite.filter((m) => m.topic === `syspark/${site}/${topicSuffix}`);

  it("runs a paid exit: exit request → payment → duplicated success → one OPEN → exit done", async () => {
    board!.vehicleArrives();
    await waitFor(() => seen("parking/sensor_gate/present").some((m) => m.payload.present === true), 10_000, "presence at the cloud");
    board!.presentBadge("04A21F9C3B");
    await waitFor(() => seen("parking/exit/req").length === 1, 10_000, "exit request at the cloud");
    expect(seen("parking/exit/req")[0].payload).to.deep.include({ lane_id: "L1", identity: { method: "badge", value: "04A21F9C3B" } });
    await publishToSite("paymentReq", { ts: Date.now(), src: "cloud", session_id: "S-E2E-1", lane_id: "L1", amount: 450, currency: "EUR", pay_url: "https://cloud.example/pay/S-E2E-1?t=abc", duration: 7800 });
    await waitFor(() => board!.state === "awaiting_payment", 10_000, "board awaiting payment");
    expect(board!.display.lines[1]).to.equal("4,50 EUR 2h10");
    for (let i = 0; i < 3; i++) await publishToSite("paymentSuccess", { ts: Date.now(), src: "cloud", session_id: "S-E2E-1", lane_id: "L1", provider_ref: "pi_e2e" });
    await barrier!.waitFor("OPEN", { session: "S-E2E-1" }, { timeoutMs: 10_000 });
    const open = barrier!.of("OPEN")[0];
    barrier!.send("CMD_DONE", { cmd: open.fields.cmd, result: "ok" });
    barrier!.send("BARRIER", { state: "opening", pos: "20" });
    barrier!.send("BARRIER", { state: "open", pos: "100" });
    await waitFor(() => board!.state === "passing", 10_000, "board passing");
    board!.vehicleLeaves();
    await waitFor(() => seen("parking/exit/done").length === 1, 10_000, "exit done at the cloud");
    expect(seen("parking/exit/done")[0].payload).to.deep.include({ lane_id: "L1", session_id: "S-E2E-1", barrier_result: "opened", decided_by: "cloud" });
    await new Promise((r) => setTimeout(r, 500));
    expect(barrier!.of("OPEN")).to.have.length(1);
    expect(gateway!.lanes.get("L1")!.stats.duplicatePaymentSuccess).to.equal(2);
  });
});
