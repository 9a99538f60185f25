/**
 * `bench console`'s sites (a process of its own, forked by console.ts): one MQTT connection per
 * site, as each site's gateway bridge has, publishing lane states as the gateway does (QoS 1,
 * retained, `syspark/<site>/parking/lane/<lane>/state`) at a steady total rate, lanes taken in
 * turn across the sites so every site changes all the time. Each state carries its sequence
 * number as its first display line (the marker the consoles look for) and a timestamp that grows
 * per lane (the persisted state keeps the newest).
 */
import mqtt from "mqtt";
import { encodePayload, siteTopic, toCloudTopic } from "../contracts/mqtt-topics";
import { laneMarker, laneName, wallMs, type FromLoad, type LoadConfig, type LoadReport, type ToLoad } from "./_console-protocol";

const send = (m: FromLoad) => process.send?.(m);
const EXIT_STATES = ["idle", "vehicle_present", "awaiting_payment", "authorised", "opening", "passing"];

async function run(cfg: LoadConfig, clients: mqtt.MqttClient[]): Promise<LoadReport> {
  const lanes = cfg.sites.length * cfg.lanesPerSite;
  const total = Math.round(cfg.rate * cfg.seconds);
  const events: LoadReport["events"] = [];
  const pubackMs: number[] = [];
  const lastTs = new Array<number>(lanes).fill(0);
  const last = new Map<number, LoadReport["last"][number]>();
  let errors = 0;
  let acked = 0;
  let sent = 0;

  const publishOne = (seq: number) => {
    // Lane k of the whole set: sites interleaved (k % sites), so each site gets an even share.
    const k = seq % lanes;
    const site = k % cfg.sites.length;
    const laneIdx = Math.floor(k / cfg.sites.length);
    const lane = laneName(laneIdx);
    const ts = Math.max(lastTs[k] + 1, Date.now());
    lastTs[k] = ts;
    const n = Math.floor(seq / lanes);
    const exitState = EXIT_STATES[n % EXIT_STATES.length];
    const marker = laneMarker(seq);
    const payload = encodePayload("laneState", { ts, src: `gw-${cfg.sites[site]}`, lane_id: lane, exit_state: exitState, barrier_state: n % 2 ? "open" : "closed", barrier_pos: n % 2 ? 100 : 0, display: [marker, exitState.slice(0, 20)] });
    const t = wallMs();
    events.push([seq, site, laneIdx, t]);
    last.set(k, { siteId: cfg.sites[site], lane, ts, marker, exitState });
    clients[site].publish(toCloudTopic(cfg.sites[site], siteTopic("laneState", lane)), payload, { qos: 1, retain: true }, (err) => {
      if (err) errors++;
      else pubackMs.push(wallMs() - t);
      acked++;
    });
  };

  const started = wallMs();
  const progress = setInterval(() => send({ type: "progress", published: sent }), 1000);
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((wallMs() - started) / 1000) * cfg.rate));
      while (sent < due) publishOne(sent++);
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const deadline = wallMs() + 10_000;
  while (acked < total && wallMs() < deadline) await new Promise((r) => setTimeout(r, 20));
  clearInterval(progress);
  errors += total - acked;
  if (cfg.clearRetained) {
    // An empty retained message removes the retained one: a shared broker keeps nothing of the bench.
    for (const l of last.values()) await clients[cfg.sites.indexOf(l.siteId)].publishAsync(toCloudTopic(l.siteId, siteTopic("laneState", l.lane)), "", { qos: 1, retain: true });
  }
  return { events, last: [...last.values()], pubackMs, errors };
}

function main(): void {
  let cfg: LoadConfig | undefined;
  let clients: mqtt.MqttClient[] = [];
  process.on("disconnect", () => process.exit(1));
  process.on("message", (m: ToLoad) => {
    void (async () => {
      if (m.cmd === "connect") {
        cfg = m.config;
        const c = cfg;
        clients = await Promise.all(c.sites.map((s) => mqtt.connectAsync(c.mqttUrl, { clientId: `bench-gw-${s}`, protocolVersion: c.mqttVersion, clean: true, reconnectPeriod: 0 })));
        send({ type: "ready" });
      } else if (m.cmd === "go" && cfg) {
        const report = await run(cfg, clients);
        await Promise.all(clients.map((c) => c.endAsync()));
        process.send?.({ type: "report", report } satisfies FromLoad, () => process.exit(0));
      }
    })().catch((err: Error) => send({ type: "error", message: err.message }));
  });
}

main();
