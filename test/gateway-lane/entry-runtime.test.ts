/**
 * One entry lane through the real gateway runtime: in-memory cables to a terminal stand-in (a
 * link speaking the entry role) and a barrier stand-in, the embedded site broker, Mosquitto as the
 * cloud broker, and a cloud stand-in that answers parking/entry/req and publishes the retained
 * parking/site/state.
 */
import { expect } from "chai";
import type { MqttClient } from "mqtt";
import { encodePayload, toCloudTopic, TOPICS, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import { ticketSignatureOk, type Ticket } from "../../contracts/ticket";
import type { Fields } from "../../firmware/common/link/frame";
import { parseSiteConfig } from "../../gateway/config/load";
import { startGateway, type Gateway } from "../../gateway/runtime";
import { StreamLink } from "../../host/link/stream-link";
import { memoryCable } from "../../host/link/streams";
import { connectMqtt, MOSQUITTO_URL, requireMosquittoOrSkip, tempDir, uniqueSiteId, waitFor } from "../gateway/helpers";

const ACL_KEY = "entry-runtime-acl-key-0123456789";

/** A board stand-in on the board's end of a cable: what it received, and send(). */
function boardStandIn(end: ReturnType<typeof memoryCable>[0], self: ConstructorParameters<typeof StreamLink>[1]["self"]) {
  const received: { type: string; fields: Fields }[] = [];
  const link = new StreamLink(end, { self, receives: "down", onMessage: (type, fields) => { received.push({ type, fields }); } });
  link.start();
  return { link, received, of: (type: string) => received.filter((m) => m.type === type).map((m) => m.fields) };
}

describe("gateway runtime: an entry lane end to end", function () {
  this.timeout(30_000);
  const stops: (() => unknown)[] = [];
  let gateway: Gateway;
  let cloud: MqttClient;
  let site: string;
  let dataDir: string;
  const fromSite: { topic: string; payload: Record<string, unknown> }[] = [];
  const seen = (suffix: string) => fromSite.filter((m) => m.topic === `syspark/${site}/${suffix}`).map((m) => m.payload);
  const publishToSite = <K extends TopicKey>(key: K, payload: Payload<K>, retain = false) =>
    cloud.publishAsync(toCloudTopic(site, TOPICS[key].topic), encodePayload(key, payload), { qos: 1, retain });

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    fromSite.length = 0;
  });

  async function start() {
    const [terminalEnd, gatewayTerminal] = memoryCable();
    const [barrierEnd, gatewayBarrier] = memoryCable();
    const config = parseSiteConfig({
      site_id: site, data_dir: dataDir,
      lanes: [{ id: "E1", kind: "entry", exit_controller: { port: "memory:E1:exit" }, barrier_executor: { port: "memory:E1:barrier" } }],
      site_broker: { port: 0, allow_anonymous: true },
      cloud: { url: MOSQUITTO_URL, anonymous: true, client_id: `gw-${site}`, reconnect_ms: 200 },
      bridge: { heartbeat_s: 0 },
      outbox: { fsync: false },
    });
    const terminal = boardStandIn(terminalEnd, { kind: "exit-controller", fw: "stand-in", boot: 1, lane: "E1", role: "entry" });
    const barrier = boardStandIn(barrierEnd, { kind: "barrier-executor", fw: "stand-in", boot: 1, lane: "E1" });
    stops.push(() => terminal.link.close(), () => barrier.link.close());
    const gw = await startGateway(config, { siteBrokerPort: 0, env: { SYSPARK_ACL_HMAC_KEY: ACL_KEY }, transports: (_id, board) => (board === "exit" ? gatewayTerminal : gatewayBarrier) });
    stops.push(() => gw.close(true));
    await waitFor(() => gw.services.bridge.connected, 10_000, "bridge connected");
    await waitFor(() => gw.entryLanes.get("E1")!.snapshot().exit_link && gw.entryLanes.get("E1")!.snapshot().barrier_link, 10_000, "links up");
    barrier.link.send("BARRIER", { state: "closed", pos: "0" });
    return { gw, terminal, barrier };
  }

  it("a ticket entry: entry/req with a signed ticket, the cloud's admit, two keys, OPEN, parking/entry; the site state reaches the terminal and survives a restart", async function () {
    await requireMosquittoOrSkip(this);
    site = uniqueSiteId("entry");
    const tmp = tempDir("gw-entry");
    dataDir = tmp.dir;
    stops.push(() => tmp.cleanup());
    cloud = await connectMqtt(MOSQUITTO_URL, { clientId: `cloud-${site}`, protocolVersion: 5 });
    stops.push(() => cloud.endAsync());
    cloud.on("message", (topic, payload) => { if (payload.length) fromSite.push({ topic, payload: JSON.parse(payload.toString()) }); });
    await cloud.subscribeAsync(`syspark/${site}/parking/#`, { qos: 1, nl: true });
    // The cloud answers each entry request with an admission.
    cloud.on("message", (topic, payload) => {
      if (topic !== toCloudTopic(site, TOPICS.entryReq.topic)) return;
      const req = JSON.parse(payload.toString()) as Payload<"entryReq">;
      void publishToSite("entryDecision", { ts: Date.now(), src: "cloud", event_id: req.event_id, lane_id: req.lane_id, decision: "admit", session_id: "S-ENTRY-1", pool: "transient", lines: ["Bienvenue"] });
    });
    await publishToSite("siteState", { ts: Date.now(), src: "cloud", state: "open", occupied: 48, capacity: 50 }, true);
    stops.push(() => cloud.publishAsync(toCloudTopic(site, TOPICS.siteState.topic), "", { qos: 1, retain: true }));

    const { gw, terminal, barrier } = await start();
    gateway = gw;
    await waitFor(() => terminal.of("SITE").some((f) => f.free === "2"), 10_000, "SITE on the terminal");

    terminal.link.send("PRESENCE", { present: "1" });
    terminal.link.send("BUTTON", { name: "ticket" });
    await waitFor(() => terminal.of("ADMIT").length === 1, 10_000, "ADMIT on the terminal");
    const req = seen("parking/entry/req")[0] as unknown as Payload<"entryReq">;
    expect(req.identity.method).to.equal("ticket");
    expect(ticketSignatureOk(site, req.ticket as Ticket, ACL_KEY)).to.equal(true);
    expect(terminal.of("ADMIT")[0]).to.deep.equal({ session: "S-ENTRY-1", ticket: req.ticket!.id, code: req.ticket!.code, msg: "Bienvenue" });
    terminal.link.send("PRINTED", { ticket: req.ticket!.id, ok: "1" });
    terminal.link.send("AUTHORISED", { session: "S-ENTRY-1" });
    await waitFor(() => barrier.of("OPEN").length === 1, 10_000, "OPEN at the barrier");
    barrier.link.send("CMD_DONE", { cmd: barrier.of("OPEN")[0].cmd, result: "ok" });
    barrier.link.send("BARRIER", { state: "open", pos: "100" });
    await waitFor(() => terminal.of("OPENED").length === 1, 10_000, "OPENED on the terminal");
    terminal.link.send("PRESENCE", { present: "0" });
    terminal.link.send("ENTERED", { session: "S-ENTRY-1" });
    await waitFor(() => seen("parking/entry").length === 1, 10_000, "parking/entry at the cloud");
    expect(seen("parking/entry")[0]).to.deep.include({ lane_id: "E1", session_id: "S-ENTRY-1", decided_by: "cloud", ticket: req.ticket });
    await waitFor(() => terminal.of("SITE").some((f) => f.free === "1"), 10_000, "the local count on the terminal");
    expect(seen("parking/lane/E1/state").length).to.be.greaterThan(0);
    expect(gateway.occupancy.view()).to.deep.equal({ state: "open", free: 1 });

    // A restart (SIGKILL-like: no graceful close of the state) keeps the local count.
    for (const stop of stops.splice(stops.length - 3).reverse()) await stop();
    const again = await start();
    expect(again.gw.occupancy.view()).to.deep.equal({ state: "open", free: 1 });
  });
});
