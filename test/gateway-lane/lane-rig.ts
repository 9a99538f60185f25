/**
 * A one-lane site for gateway tests: the simulated exit controller (real firmware) on a socat
 * pty, a barrier-executor stand-in (SerialPeer) on a second pty, the gateway runtime, Mosquitto
 * as the cloud broker behind a TCP proxy the test can cut, and a cloud-side MQTT client.
 */
import type { MqttClient } from "mqtt";
import { encodePayload, toCloudTopic, TOPICS, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import { parseSiteConfig } from "../../gateway/config/load";
import { startGateway, type Gateway } from "../../gateway/runtime";
import { SerialPeer } from "../../hil/harness/serial-peer";
import { SimulatedExitController } from "../../sim/boards/exit-controller-sim";
import { RealClock } from "../../sim/boards/virtual-clock";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { connectMqtt, MOSQUITTO, TcpProxy, tempDir, uniqueSiteId, waitFor } from "../gateway/helpers";

export const ACL_KEY = "lane-rig-acl-key-0123456789abcdef";

export interface LaneRig {
  site: string;
  gateway: Gateway;
  board: SimulatedExitController;
  barrier: SerialPeer;
  cloud: MqttClient;
  proxy: TcpProxy;
  exitPty: PtyPair;
  dataDir: string;
  /** Site → cloud messages seen by the cloud, in arrival order. */
  fromSite: { topic: string; payload: Record<string, unknown> }[];
  seen(topic: string): Record<string, unknown>[];
  publishToSite<K extends TopicKey>(key: K, payload: Payload<K>): Promise<void>;
  /** The barrier stand-in answers OPEN like an executor: accepted, opening, open. */
  autoOpen(): void;
  close(): Promise<void>;
}

export async function startLaneRig(opts: { offlineAfterS?: number } = {}): Promise<LaneRig> {
  // What the rig starts, stopped newest first by close() — or at once if the set-up fails.
  const stops: (() => unknown)[] = [];
  const stopAll = async () => {
    let failure: unknown;
    for (const stop of stops.splice(0).reverse()) {
      try { await stop(); } catch (err) { failure ??= err; }
    }
    if (failure) throw failure;
  };
  // A test may re-plug the board (rig.board, rig.exitPty replaced): close() closes the current ones.
  let rig: LaneRig | undefined;
  try {
    const clock = new RealClock();
    const site = uniqueSiteId("rig");
    const exitPty = await openPtyPair("exit");
    stops.push(() => (rig?.exitPty ?? exitPty).close());
    const barrierPty = await openPtyPair("barrier");
    stops.push(() => barrierPty.close());
    const tmp = tempDir("lane-rig");
    stops.push(() => tmp.cleanup());
    const proxy = new TcpProxy(MOSQUITTO);
    stops.push(() => proxy.stop());
    await proxy.start();
    const config = parseSiteConfig({
      site_id: site, data_dir: tmp.dir,
      lanes: [{ id: "L1", exit_controller: { port: exitPty.b }, barrier_executor: { port: barrierPty.b } }],
      site_broker: { port: 0, allow_anonymous: true },
      cloud: { url: proxy.url, anonymous: true, client_id: `gw-${site}`, reconnect_ms: 200, keepalive_s: 5 },
      bridge: { heartbeat_s: 0 },
      offline_policy: { offline_after_s: opts.offlineAfterS ?? 1, acl_hmac_key_env: "SYSPARK_ACL_HMAC_KEY" },
    });
    const cloud = await connectMqtt(`mqtt://${MOSQUITTO.host}:${MOSQUITTO.port}`, { clientId: `cloud-${site}`, protocolVersion: 5 });
    stops.push(() => cloud.endAsync());
    const fromSite: LaneRig["fromSite"] = [];
    cloud.on("message", (topic, payload) => fromSite.push({ topic, payload: JSON.parse(payload.toString()) }));
    await cloud.subscribeAsync(`syspark/${site}/parking/#`, { qos: 1 });
    const barrier = await SerialPeer.open({ path: barrierPty.a, clock, self: { kind: "barrier-executor", fw: "stand-in", boot: 1, lane: "L1" }, receives: "down" });
    stops.push(() => barrier.close());
    const tick = setInterval(() => barrier.tick(), 50);
    stops.push(() => clearInterval(tick));
    const gateway = await startGateway(config, { siteBrokerPort: 0, env: { SYSPARK_ACL_HMAC_KEY: ACL_KEY } });
    stops.push(() => gateway.close(true));
    const board = await SimulatedExitController.start({ serialPath: exitPty.a, clock, lane: "L1" });
    stops.push(() => (rig?.board ?? board).close());
    await waitFor(() => gateway.services.bridge.connected, 10_000, "bridge connected");
    await waitFor(() => gateway.lanes.get("L1")!.snapshot().exit_link, 10_000, "exit link up");
    barrier.send("BARRIER", { state: "closed", pos: "0" });
    let answered = 0;
    rig = {
      site, gateway, board, barrier, cloud, proxy, exitPty, dataDir: tmp.dir, fromSite,
      seen: (suffix) => fromSite.filter((m) => m.topic === `syspark/${site}/${suffix}`).map((m) => m.payload),
      publishToSite: async (key, payload) => {
        await cloud.publishAsync(toCloudTopic(site, TOPICS[key].topic), encodePayload(key, payload), { qos: 1 });
      },
      autoOpen: () => {
        const opens = barrier.of("OPEN");
        for (; answered < opens.length; answered++) {
          barrier.send("CMD_DONE", { cmd: opens[answered].fields.cmd, result: "ok" });
          barrier.send("BARRIER", { state: "opening", pos: "30" });
          barrier.send("BARRIER", { state: "open", pos: "100" });
        }
      },
      close: stopAll,
    };
    return rig;
  } catch (err) {
    await stopAll().catch(() => undefined); // the set-up's error is the one to report
    throw err;
  }
}
