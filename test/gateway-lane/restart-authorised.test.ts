/**
 * A gateway killed after the exit controller answered AUTHORISED and before the barrier was told
 * to open (issue 13, found by the gateway crash campaign), with the real runtime, the real exit
 * controller firmware on a socat pty, a barrier-executor stand-in on a second pty and Mosquitto
 * as the cloud broker; the test plays the cloud's MQTT side. The new gateway hears the
 * controller's re-sync (STATE authorised why=resync session=S) but lost the cloud's success with
 * the old process; the cloud answers the new gateway's parking/sync/req by saying the success
 * again (resync: true), and the lane opens, once. Was: nothing sent to the barrier, and the
 * controller faulted NO_OPEN 20 s later.
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

describe("gateway killed between the controller's AUTHORISED and the barrier's OPEN", function () {
  this.timeout(60_000);
  const clock = new RealClock();
  let lane: OneLaneSite | undefined;
  let gateway: Gateway | undefined;
  let board: SimulatedExitController | undefined;
  let barrier: SerialPeer | undefined;
  let cloud: MqttClient | undefined;
  let ticker: NodeJS.Timeout | undefined;

  afterEach(async () => {
    clearInterval(ticker);
    try {
      await board?.close();
      await barrier?.close();
      await gateway?.close(true);
      await cloud?.endAsync();
    } finally {
      await lane?.close(); // even when a close above fails
      gateway = board = barrier = cloud = lane = undefined;
    }
  });

  it("the restarted gateway opens once on the success the cloud says again for its sync/req", async function () {
    requireToolOrSkip(this, "socat");
    await requireMosquittoOrSkip(this);
    lane = await openOneLaneSite("authrst");
    const { site, exitPty, barrierPty, config } = lane;
    const fromSite: { topic: string; payload: Record<string, unknown> }[] = [];
    cloud = await connectMqtt(MOSQUITTO_URL, { clientId: `cloud-${site}`, protocolVersion: 5 });
    await cloud.subscribeAsync(`syspark/${site}/parking/#`, { qos: 1 });
    cloud.on("message", (topic, payload) => fromSite.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> }));
    const seen = (suffix: string) => fromSite.filter((m) => m.topic === `syspark/${site}/${suffix}`);
    const toSite = (key: "paymentReq" | "paymentSuccess", payload: Record<string, unknown>) =>
      cloud!.publishAsync(toCloudTopic(site, TOPICS[key].topic), encodePayload(key, payload as never), { qos: 1 });
    const success = { ts: Date.now(), src: "cloud", session_id: "S-AUTH-1", lane_id: "L1", provider_ref: "pi_auth", amount: 450, currency: "EUR" };

    barrier = await SerialPeer.open({ path: barrierPty.a, clock, self: { kind: "barrier-executor", fw: "stand-in", boot: 1, lane: "L1" }, receives: "down" });
    // The stand-in's link timers (heartbeats, retransmission), as a board's main loop runs them.
    ticker = setInterval(() => barrier?.tick(), 50);
    gateway = await startGateway(config, { siteBrokerPort: 0 });
    board = await SimulatedExitController.start({ serialPath: exitPty.a, clock, lane: "L1" });
    await waitFor(() => gateway!.services.bridge.connected, 10_000, "bridge connected");
    await waitFor(() => gateway!.lanes.get("L1")!.snapshot().exit_link && gateway!.lanes.get("L1")!.snapshot().barrier_link, 10_000, "links up");
    // The barrier is in its safe state (it lost the safety core's heartbeat): the lane may not
    // command it, so the controller's AUTHORISED stays without an OPEN — the moment of the kill.
    barrier.send("BARRIER", { state: "safe", pos: "0" });
    await waitFor(() => gateway!.lanes.get("L1")!.snapshot().barrier_state === "safe", 10_000, "barrier safe at the lane");

    board.vehicleArrives();
    await waitFor(() => seen("parking/sensor_gate/present").some((m) => m.payload.present === true), 10_000, "presence at the cloud");
    board.presentBadge("04A21F9C3B");
    await waitFor(() => seen("parking/exit/req").length === 1, 10_000, "exit request at the cloud");
    await toSite("paymentReq", { ts: Date.now(), src: "cloud", session_id: "S-AUTH-1", lane_id: "L1", amount: 450, currency: "EUR", pay_url: "https://cloud.example/pay/S-AUTH-1?t=abc" });
    await toSite("paymentSuccess", success);
    await waitFor(() => board!.state === "authorised", 10_000, "controller authorised");
    expect(barrier.of("OPEN")).to.deep.equal([]);

    // SIGKILL-like stop: no graceful goodbye, the lane's flow dies with the process.
    await gateway.close(false);
    gateway = undefined;
    const syncsBefore = seen("parking/sync/req").length;
    barrier.send("BARRIER", { state: "closed", pos: "0" }); // the core's heartbeat is back
    gateway = await startGateway(config, { siteBrokerPort: 0 });
    // The cloud answers the new gateway's sync/req: the recently paid session, said again.
    await waitFor(() => seen("parking/sync/req").length > syncsBefore, 10_000, "the new gateway's sync/req");
    await toSite("paymentSuccess", { ...success, ts: Date.now(), resync: true });
    barrier.send("BARRIER", { state: "closed", pos: "0" });

    const open = await barrier.waitFor("OPEN", { session: "S-AUTH-1" }, { timeoutMs: 15_000 });
    expect(board.state, "still authorised, not NO_OPEN").to.be.oneOf(["authorised", "opening"]);
    barrier.send("CMD_DONE", { cmd: open.fields.cmd, result: "ok" });
    barrier.send("BARRIER", { state: "open", pos: "100" });
    await waitFor(() => board!.state === "passing", 10_000, "controller passing");
    board.vehicleLeaves();
    await waitFor(() => seen("parking/exit/done").length === 1, 10_000, "exit done at the cloud");
    expect(seen("parking/exit/done")[0].payload).to.deep.include({ lane_id: "L1", session_id: "S-AUTH-1", barrier_result: "opened", decided_by: "cloud" });
    expect(barrier.of("OPEN")).to.have.length(1);
  });
});
