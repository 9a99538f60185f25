/**
 * `bench console`'s operators (a process of its own, forked by console.ts): signs each console in
 * (`POST /api/login`), holds its server-sent-events stream (`GET /api/console/sites/:site/stream`
 * with the Bearer token, as a browser's EventSource would hold it), and records when each lane
 * frame and each feed frame arrives. Beside them, the anchor: a bare MQTT subscription to the same
 * lane states on the same broker, in the same process, so "broker → a client here" and
 * "broker → cloud → SSE → a client here" are measured on the same events at the same time.
 * On `burst`, the operators act: one override per item through the API, all at once.
 */
import http from "node:http";
import mqtt from "mqtt";
import { feedMarker, feedReason, markerSeq, wallMs, type BurstItem, type ClientsConfig, type ClientsReport, type FeedSent, type FromClients, type ToClients } from "./_console-protocol";

const send = (m: FromClients) => process.send?.(m);

interface Console {
  siteId: string;
  token: string;
  lanes: [number, number, number][];
  feed: [number, number, number][];
  closed: boolean;
}

async function login(cloudUrl: string, username: string, password: string): Promise<string> {
  const r = await fetch(`${cloudUrl}/api/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }) });
  if (r.status !== 200) throw new Error(`POST /api/login as ${username}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

/** Opens one console's stream; resolves at its `hello` frame. */
function openStream(cloudUrl: string, c: Console, onFrame: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${cloudUrl}/api/console/sites/${c.siteId}/stream`, { headers: { Authorization: `Bearer ${c.token}`, Accept: "text/event-stream" }, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream ${c.siteId}: HTTP ${res.statusCode}`));
      res.setEncoding("utf8");
      let buf = "";
      res.on("data", (chunk: string) => {
        const at = wallMs(); // every frame of one chunk arrived together
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf("\n\n")) !== -1) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = "message";
          let data = "";
          for (const line of frame.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (event === "hello") resolve();
          else if (event === "lane") {
            const body = JSON.parse(data) as { display?: string[]; sentAt: number };
            const seq = markerSeq(body.display?.[0]);
            if (seq !== undefined) c.lanes.push([seq, at, body.sentAt]);
            onFrame();
          } else if (event === "feed") {
            const body = JSON.parse(data) as { text?: string; sentAt: number };
            const k = feedMarker(body.text);
            if (k !== undefined) c.feed.push([k, at, body.sentAt]);
            onFrame();
          }
        }
      });
      res.on("close", () => (c.closed = true));
    });
    req.on("error", reject);
  });
}

async function burst(cloudUrl: string, tokens: Map<string, string>, items: BurstItem[]): Promise<FeedSent[]> {
  return Promise.all(
    items.map(async (it): Promise<FeedSent> => {
      const token = tokens.get(it.siteId) as string;
      const sentAt = wallMs();
      const r = await fetch(`${cloudUrl}/api/console/sites/${it.siteId}/lanes/${it.lane}/commands`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ action: "open", reason: feedReason(it.k), cmd_id: `bench-feed-${it.k}` }),
      });
      const ackAt = r.status === 202 ? wallMs() : undefined;
      await r.arrayBuffer();
      return { k: it.k, siteId: it.siteId, sentAt, ackAt, status: r.status };
    }),
  );
}

async function main(): Promise<void> {
  let consoles: Console[] = [];
  const anchor: [number, number][] = [];
  const sent: FeedSent[] = [];
  let frames = 0;
  let anchorClient: mqtt.MqttClient | undefined;
  let progress: NodeJS.Timeout | undefined;
  let cfg: ClientsConfig | undefined;
  const tokens = new Map<string, string>();

  process.on("disconnect", () => process.exit(1)); // the bench is gone: so are its consoles
  process.on("message", (m: ToClients) => {
    void (async () => {
      if (m.cmd === "open") {
        cfg = m.config;
        const c = cfg;
        // Signed in one after the other (scrypt per login), then every stream opened at once.
        consoles = [];
        for (const k of c.consoles) consoles.push({ siteId: k.siteId, token: await login(c.cloudUrl, k.username, k.password), lanes: [], feed: [], closed: false });
        for (const k of consoles) if (!tokens.has(k.siteId)) tokens.set(k.siteId, k.token);
        await Promise.all(consoles.map((k) => openStream(c.cloudUrl, k, () => frames++)));
        anchorClient = await mqtt.connectAsync(c.mqttUrl, { clientId: `bench-anchor-${process.pid}`, protocolVersion: c.mqttVersion, clean: true, reconnectPeriod: 0 });
        anchorClient.on("message", (_topic, payload) => {
          const at = wallMs();
          const p = JSON.parse(payload.toString() || "{}") as { display?: string[] };
          const seq = markerSeq(p.display?.[0]);
          if (seq !== undefined) anchor.push([seq, at]);
        });
        await anchorClient.subscribeAsync("syspark/+/parking/lane/+/state", { qos: 0 }); // as the site watch does (cloud/live/watch.ts)
        progress = setInterval(() => send({ type: "progress", frames }), 1000);
        send({ type: "ready" });
      } else if (m.cmd === "burst" && cfg) {
        const s = await burst(cfg.cloudUrl, tokens, m.items);
        sent.push(...s);
        send({ type: "sent", sent: s });
      } else if (m.cmd === "report") {
        clearInterval(progress);
        await anchorClient?.endAsync(true);
        const report: ClientsReport = { lanes: consoles.map((c) => c.lanes), feed: consoles.map((c) => c.feed), anchor, sent, closedStreams: consoles.filter((c) => c.closed).length };
        process.send?.({ type: "report", report } satisfies FromClients, () => process.exit(0));
      }
    })().catch((err: Error) => send({ type: "error", message: err.message }));
  });
}

void main();
