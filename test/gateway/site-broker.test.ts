import { expect } from "chai";
import type { MqttClient } from "mqtt";
import { encodePayload, siteTopic } from "../../contracts/mqtt-topics";
import { canPublish, canSubscribe, filterCovers, grantsFor } from "../../gateway/broker/acl";
import { hashPassword } from "../../gateway/broker/passwords";
import { startSiteBroker, usersFromConfig, type SiteBroker } from "../../gateway/broker/site-broker";
import { parseSiteConfig } from "../../gateway/config/load";
import { connectMqtt, waitFor } from "./helpers";

const plate = () => encodePayload("lprPlate", { ts: Date.now(), src: "cam-1", lane_id: "exit-1", plate: "AB-123-CD", confidence: 0.93 });

describe("gateway/broker: ACL rules", () => {
  it("grants the LPR camera parking/lpr/plate only, dashboards read-only", () => {
    const lpr = grantsFor("lpr"), dash = grantsFor("dashboard"), gw = grantsFor("gateway");
    expect(canPublish(lpr, siteTopic("lprPlate")).ok).to.equal(true);
    expect(canPublish(lpr, siteTopic("exitReq")).ok).to.equal(false);
    expect(canSubscribe(lpr, "parking/#").ok).to.equal(false);
    expect(canPublish(dash, siteTopic("laneState", "exit-1")).ok).to.equal(false);
    expect(canSubscribe(dash, "parking/lane/+/state").ok).to.equal(true);
    expect(canPublish(gw, siteTopic("exitDone")).ok).to.equal(true);
  });

  it("lets no client publish a cloud → site topic (owned by the bridge), whatever its grants", () => {
    const all = grantsFor("custom", { publish: ["parking/#"] });
    for (const key of ["paymentSuccess", "paymentReq", "barrierCmd", "aclFull"] as const) {
      const d = canPublish(all, siteTopic(key));
      expect(d.ok).to.equal(false);
      expect(d.ok ? "" : d.reason).to.match(/owned by the cloud/);
    }
    expect(canPublish(all, "$SYS/x").ok).to.equal(false);
  });

  it("checks subscription filters by coverage, not by match", () => {
    expect(filterCovers("parking/#", "parking/lane/+/state")).to.equal(true);
    expect(filterCovers("parking/lane/+/state", "parking/lane/exit-1/state")).to.equal(true);
    expect(filterCovers("parking/lane/+/state", "parking/#")).to.equal(false);
    expect(filterCovers("parking/lane/+/state", "parking/lane/+/+")).to.equal(false);
    expect(filterCovers("parking/lane/exit-1/state", "parking/lane/+/state")).to.equal(false);
  });
});

describe("gateway/broker: embedded site broker (aedes)", function () {
  let broker: SiteBroker;
  const clients: MqttClient[] = [];
  const url = () => `mqtt://127.0.0.1:${broker.port}`;
  const env = { CAM_PW: "camera-secret", GW_PW: "gateway-secret" };

  before(async () => {
    const cfg = parseSiteConfig({
      site_id: "acl-test",
      lanes: [{ id: "exit-1", exit_controller: { port: "/dev/a" }, barrier_executor: { port: "/dev/b" } }],
      cloud: { url: "mqtt://127.0.0.1:1", anonymous: true },
      site_broker: {
        port: 0,
        users: [
          { username: "cam", role: "lpr", password_env: "CAM_PW" },
          { username: "gw", role: "gateway", password_env: "GW_PW" },
          { username: "screen", role: "dashboard", password_scrypt: hashPassword("screen-secret", { N: 1024 }) },
        ],
      },
    });
    broker = await startSiteBroker({ port: 0, users: usersFromConfig(cfg.site_broker, new Map([["cam", env.CAM_PW], ["gw", env.GW_PW]])) });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  });
  after(async () => {
    await broker.close();
  });

  async function client(username?: string, password?: string): Promise<MqttClient> {
    const c = await connectMqtt(url(), { protocolVersion: 4, username, password });
    clients.push(c);
    return c;
  }

  it("listens on a free port when asked for port 0 (never 1883 by default)", () => {
    expect(broker.port).to.be.a("number").and.not.equal(1883);
  });

  it("refuses anonymous clients and wrong passwords", async () => {
    await client().then(() => expect.fail("anonymous accepted"), (err: Error) => expect(err.message).to.match(/Not authorized|not authorized/i));
    await client("cam", "wrong").then(() => expect.fail("bad password accepted"), (err: Error) => expect(err.message).to.match(/Bad username or password/i));
    await client("nobody", "x").then(() => expect.fail("unknown user accepted"), (err: Error) => expect(err.message).to.match(/Bad username or password/i));
    await client("screen", "screen-secret"); // scrypt hash
  });

  it("lets the camera publish plates and disconnects it for anything else", async () => {
    const screen = await client("screen", "screen-secret");
    const seen: string[] = [];
    screen.on("message", (t) => seen.push(t));
    await screen.subscribeAsync("parking/#", { qos: 1 });
    const cam = await client("cam", "camera-secret");
    await cam.publishAsync(siteTopic("lprPlate"), plate(), { qos: 1 });
    await waitFor(() => seen.includes(siteTopic("lprPlate")), 5000, "the plate on the dashboard");
    const closed = new Promise<void>((r) => cam.once("close", () => r()));
    cam.publish(siteTopic("exitReq"), "{}", { qos: 1 });
    await closed; // MQTT 3.1.1: a refused publish closes the connection
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).to.not.include(siteTopic("exitReq"));
  });

  it("refuses dashboard publishes and cloud-owned topics even from the gateway role", async () => {
    const screen = await client("screen", "screen-secret");
    const seen: string[] = [];
    const gwWatcher = await client("gw", "gateway-secret");
    gwWatcher.on("message", (t) => seen.push(t));
    await gwWatcher.subscribeAsync("parking/#", { qos: 1 });
    screen.publish(siteTopic("laneState", "exit-1"), "{}", { qos: 0 });
    const gw = await client("gw", "gateway-secret");
    gw.publish(siteTopic("paymentSuccess"), "{}", { qos: 0 });
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).to.deep.equal([]);
  });

  it("answers a forbidden subscription with a SUBACK failure and keeps the client connected", async () => {
    const cam = await client("cam", "camera-secret");
    // SUBACK return code 0x80: MQTT.js turns it into a subscribe error.
    await cam.subscribeAsync("parking/#", { qos: 1 }).then(() => expect.fail("subscription granted"), (err: Error) => expect(err.message).to.match(/Subscribe error/));
    await new Promise((r) => setTimeout(r, 50));
    expect(cam.connected).to.equal(true);
  });

  it("shows each authorised client publish to the tap before acknowledging it", async () => {
    const order: string[] = [];
    broker.setTap(async (m) => {
      order.push(`tap ${m.topic} ${m.username}`);
      await new Promise((r) => setTimeout(r, 50));
      order.push("tap done");
    });
    try {
      const cam = await client("cam", "camera-secret");
      await cam.publishAsync(siteTopic("lprPlate"), plate(), { qos: 1 });
      order.push("puback");
      expect(order).to.deep.equal([`tap ${siteTopic("lprPlate")} cam`, "tap done", "puback"]);
    } finally {
      broker.setTap(undefined);
    }
  });
});
