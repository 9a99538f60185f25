import { expect } from "chai";
import fc from "fast-check";
import { allowlist, encodePayload, fromCloudTopic, parsePayload, siteTopic, specForTopic, toCloudTopic, topicMatches, TOPICS, type TopicKey } from "../../contracts/mqtt-topics";

describe("MQTT topic map", () => {
  it("holds the user's contract topics with their QoS and retain flags", () => {
    expect(TOPICS.paymentReq).to.include({ topic: "parking/payment/req", direction: "cloud_to_site", qos: 1, retain: false });
    expect(TOPICS.paymentSuccess).to.include({ topic: "parking/payment/success", qos: 1, retain: false });
    expect(TOPICS.present).to.include({ topic: "parking/sensor_gate/present", direction: "site_to_cloud", qos: 1, retain: true });
    expect(TOPICS.sensorError).to.include({ qos: 2 });
    expect(TOPICS.heartbeat).to.include({ qos: 0 });
    expect(TOPICS.aclFull).to.include({ qos: 2, direction: "cloud_to_site" });
  });

  it("has disjoint bridge allowlists that never include site-local topics", () => {
    const down = allowlist("cloud_to_site"), up = allowlist("site_to_cloud");
    expect(down.filter((k) => up.includes(k))).to.deep.equal([]);
    expect([...down, ...up]).to.not.include("lprPlate");
    const topics = (Object.keys(TOPICS) as TopicKey[]).map((k) => TOPICS[k].topic);
    expect(new Set(topics).size).to.equal(topics.length);
  });

  it("maps site topics to per-site cloud topics and back", () => {
    fc.assert(fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/), fc.constantFrom(...(Object.keys(TOPICS) as TopicKey[])), (site, key) => {
      const topic = siteTopic(key, "L1");
      const cloud = toCloudTopic(site, topic);
      expect(cloud.startsWith(`syspark/${site}/parking/`)).to.equal(true);
      expect(fromCloudTopic(cloud)).to.deep.equal({ siteId: site, topic });
      expect(specForTopic(topic)).to.equal(key);
    }));
    expect(() => toCloudTopic("Bad Site", "parking/x")).to.throw(/bad site id/);
    expect(fromCloudTopic("other/site/parking/payment/req")).to.equal(undefined);
  });

  it("matches MQTT wildcards like a broker", () => {
    expect(topicMatches("parking/lane/+/state", "parking/lane/L1/state")).to.equal(true);
    expect(topicMatches("parking/lane/+/state", "parking/lane/L1/x/state")).to.equal(false);
    expect(topicMatches("parking/#", "parking/a/b")).to.equal(true);
    expect(topicMatches("parking/payment/req", "parking/payment/req/x")).to.equal(false);
  });

  it("validates payloads with precise errors and refuses unknown fields", () => {
    const ok = parsePayload("parking/payment/req", JSON.stringify({ ts: 1, src: "cloud", session_id: "S1", lane_id: "L1", amount: 350, currency: "EUR", pay_url: "https://x.example/pay/S1?t=1" }));
    expect(ok.ok).to.equal(true);
    const bad = parsePayload("parking/payment/req", JSON.stringify({ ts: 1, src: "cloud", session_id: "S1", lane_id: "L1", amount: 3.5, currency: "euro", extra: 1 }));
    expect(bad.ok).to.equal(false);
    if (!bad.ok) {
      expect(bad.error).to.match(/amount/);
      expect(bad.error).to.match(/currency must be an ISO 4217 code/);
      expect(bad.error).to.match(/extra|unrecognized/i);
    }
    expect(parsePayload("parking/payment/req", "{not json")).to.deep.include({ ok: false });
    expect(parsePayload("parking/nope", "{}")).to.deep.equal({ ok: false, error: "unknown topic parking/nope" });
    expect(parsePayload("parking/payment/req", new Uint8Array([0xff, 0xfe]))).to.deep.include({ ok: false });
  });

  it("refuses to encode a payload that breaks the contract", () => {
    expect(() => encodePayload("present", { ts: 1, src: "gw", event_id: "e1", lane_id: "L1", present: "yes" as unknown as boolean })).to.throw(/breaks the contract/);
    expect(JSON.parse(encodePayload("present", { ts: 1, src: "gw", event_id: "e1", lane_id: "L1", present: true }))).to.include({ present: true });
  });
});
