/**
 * The live site page: every lane's display (with the pay QR code), lane and barrier state,
 * boom position, motor outputs and alarms, updating live (server-sent events); buttons drive a
 * car to a lane, badge in, obstruct the boom. The entry lane's card shows its terminal (with the
 * ticket QR when shown), the last ticket printed and the car park's state as the gateway knows
 * it; its buttons bring a car to the entry, take a ticket or badge, and send the car that went in
 * to an exit, where it leaves with its ticket (or has lost it). Paying happens on the cloud's real payment page,
 * the one the QR code points to. Self-contained HTML: no network needed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import QRCode from "qrcode";
import { z } from "zod";
import type { Site } from "./site";

export interface LaneView {
  id: string;
  display: string[];
  pay_url?: string;
  qr_svg?: string;
  exit_state: string;
  lane_phase: string;
  cloud_online: boolean;
  barrier_state: string;
  core_state: string;
  boom_pct: number;
  motor: { up: boolean; down: boolean; brake: boolean };
  fault?: string;
  vehicle: string;
  plate?: string;
}

const qrCache = new Map<string, string>();
async function qrSvg(url: string): Promise<string> {
  let svg = qrCache.get(url);
  if (!svg) {
    svg = await QRCode.toString(url, { type: "svg", margin: 1, width: 140 });
    qrCache.set(url, svg);
    if (qrCache.size > 64) qrCache.delete(qrCache.keys().next().value!);
  }
  return svg;
}

export interface EntryView {
  id: string;
  display: string[];
  /** The ticket's QR on the terminal's screen (printer failed: the driver photographs it). */
  qr_svg?: string;
  terminal_state: string;
  lane_phase: string;
  cloud_online: boolean;
  barrier_state: string;
  boom_pct: number;
  fault?: string;
  session_id?: string;
  decided_by?: string;
  vehicle: string;
  plate?: string;
  /** The last ticket the terminal printed. */
  ticket?: { id: string; code: string; qr_svg: string };
  /** The car park as the gateway knows it (the cloud's last state plus its own count since). */
  site: { state: string; free?: number };
  /** The last car that went in, until it is sent to an exit. */
  last_in?: { plate: string; plate_read: boolean; ticket_code?: string };
}

/** "12345678" as printed on the ticket: "1234 5678". */
const spacedCode = (code: string) => code.replace(/(\d{4})(?=\d)/g, "$1 ");

export async function entryView(site: Site): Promise<EntryView> {
  const { entry } = site;
  const snap = site.gateway.entryLanes.get(entry.id)!.snapshot();
  const qr = entry.terminal.display.qr;
  const printed = entry.terminal.printed.at(-1);
  const last = entry.lastIn;
  return {
    id: entry.id, display: entry.terminal.display.lines, qr_svg: qr ? await qrSvg(qr) : undefined,
    terminal_state: entry.terminal.state, lane_phase: snap.phase, cloud_online: snap.cloud_online,
    barrier_state: entry.barrier.barrierState, boom_pct: Math.round(entry.barrier.boomPct), fault: snap.fault,
    session_id: snap.session_id, decided_by: snap.decided_by, vehicle: entry.vehicle.phase, plate: entry.vehicle.plate,
    ticket: printed ? { id: printed.ticketId, code: spacedCode(printed.code), qr_svg: await qrSvg(printed.qr) } : undefined,
    site: site.gateway.occupancy.view(),
    last_in: last ? { plate: last.plate, plate_read: last.plateRead, ticket_code: last.ticket ? spacedCode(last.ticket.code) : undefined } : undefined,
  };
}

export async function siteView(site: Site): Promise<LaneView[]> {
  const views: LaneView[] = [];
  for (const lane of site.lanes.values()) {
    const snap = site.gateway.lanes.get(lane.id)!.snapshot();
    const motor = lane.barrier.motor;
    const qr = lane.exit.display.qr;
    views.push({
      id: lane.id, display: lane.exit.display.lines, pay_url: qr, qr_svg: qr ? await qrSvg(qr) : undefined,
      exit_state: lane.exit.state, lane_phase: snap.phase, cloud_online: snap.cloud_online,
      barrier_state: lane.barrier.barrierState, core_state: lane.barrier.coreState, boom_pct: Math.round(lane.barrier.boomPct),
      motor: { up: motor.motorUp, down: motor.motorDown, brake: motor.brake }, fault: snap.fault,
      vehicle: lane.vehicle.phase, plate: lane.vehicle.plate,
    });
  }
  return views;
}

const arriveBody = z.strictObject({ minutes: z.number().int().min(0).max(43_200).default(125) });
const obstructBody = z.strictObject({ on: z.boolean() });
const badgeBody = z.strictObject({ uid: z.string().regex(/^[0-9A-Fa-f]{10}$/, "uid must be 10 hex digits").default("04A21F9C3B") });
/** What a code scanner sends: printable ASCII, at most 64 characters (the firmware drops the rest). */
const scanBody = z.strictObject({ text: z.string().min(1, "text is empty").max(64, "text is over 64 characters").regex(/^[\x20-\x7e]+$/, "text must be printable ASCII") });
const entryArriveBody = z.strictObject({
  read_plate: z.boolean().default(true),
  plate: z.string().regex(/^[A-Z0-9-]{2,12}$/, "plate must be 2 to 12 capital letters, digits or dashes").optional(),
});
const fromEntryBody = z.strictObject({ scan_ticket: z.boolean().default(true) });
const emptyBody = z.strictObject({});
const EXIT_BODIES: Record<string, z.ZodType> = { arrive: arriveBody, obstruct: obstructBody, badge: badgeBody, leave: emptyBody, "from-entry": fromEntryBody, scan: scanBody, lost: emptyBody };
const ENTRY_BODIES: Record<string, z.ZodType> = { arrive: entryArriveBody, ticket: emptyBody, badge: badgeBody, scan: scanBody, leave: emptyBody };

/** The body checked against `schema`; a refusal names the field (a 400 for the person's browser). */
async function validBody(req: IncomingMessage, schema: z.ZodType): Promise<Record<string, unknown>> {
  const parsed = schema.safeParse(await readJson(req));
  if (parsed.success) return parsed.data as Record<string, unknown>;
  throw Object.assign(new Error(parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")), { status: 400 });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw Object.assign(new Error("body over 4 KiB"), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try { return text ? JSON.parse(text) : {}; } catch { throw Object.assign(new Error("body is not JSON"), { status: 400 }); }
}

export async function startSitePage(site: Site, opts: { port: number; host?: string }): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const clients = new Set<ServerResponse>();
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://site");
      if (req.method === "GET" && url.pathname === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(PAGE.replaceAll("__CLOUD__", site.cloud.publicBaseUrl));
      } else if (req.method === "GET" && url.pathname === "/api/site") {
        send(res, 200, { lanes: await siteView(site), entry: await entryView(site) });
      } else if (req.method === "GET" && url.pathname === "/events") {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
        clients.add(res);
        req.on("close", () => clients.delete(res));
      } else if (req.method === "POST" && /^\/api\/lanes\/[^/]+\/(arrive|badge|obstruct|leave|from-entry|scan|lost)$/.test(url.pathname)) {
        const [, , , laneId, action] = url.pathname.split("/");
        const lane = site.lanes.get(laneId);
        if (!lane) return send(res, 404, { error: `no lane ${laneId}` });
        const body = await validBody(req, EXIT_BODIES[action]);
        if (action === "arrive") return send(res, 200, { plate: await site.carArrives(laneId, body.minutes as number) });
        if (action === "from-entry") {
          const car = await site.carFromEntry(laneId, { scanTicket: body.scan_ticket as boolean });
          return send(res, 200, { plate: car.plate });
        }
        if (action === "badge") lane.exit.presentBadge(body.uid as string);
        else if (action === "obstruct") lane.barrier.vehicleUnder(body.on as boolean);
        else if (action === "scan") site.scanAtExit(laneId, body.text as string);
        else if (action === "lost") site.lostTicket(laneId);
        else lane.vehicle.reverseAway();
        return send(res, 200, { ok: true });
      } else if (req.method === "POST" && /^\/api\/entry\/[^/]+\/(arrive|ticket|badge|scan|leave)$/.test(url.pathname)) {
        const [, , , laneId, action] = url.pathname.split("/");
        if (laneId !== site.entry.id) return send(res, 404, { error: `no entry lane ${laneId}` });
        const body = await validBody(req, ENTRY_BODIES[action]);
        if (action === "arrive") return send(res, 200, { plate: await site.carAtEntry({ readPlate: body.read_plate as boolean, ...(body.plate ? { plate: body.plate as string } : {}) }) });
        if (action === "ticket") site.takeTicket();
        else if (action === "badge") site.entryBadge(body.uid as string);
        else if (action === "scan") site.scanAtEntry(body.text as string);
        else site.entry.reverseAway();
        return send(res, 200, { ok: true });
      } else {
        send(res, 404, { error: "not found" });
      }
    })().catch((err: Error & { status?: number }) => send(res, err.status ?? 409, { error: err.message }));
  });
  const timer = setInterval(() => {
    if (clients.size === 0) return;
    void Promise.all([siteView(site), entryView(site)]).then(([lanes, entry]) => {
      const data = `data: ${JSON.stringify({ lanes, entry })}\n\n`;
      for (const c of clients) c.write(data);
    });
  }, 250);
  await new Promise<void>((resolve, reject) => { server.once("error", reject); server.listen(opts.port, opts.host ?? "127.0.0.1", () => resolve()); });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${opts.host ?? "127.0.0.1"}:${port}/`, server,
    close: async () => {
      clearInterval(timer);
      for (const c of clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>SysPark — live site</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111}
header{background:#1f2937;color:#fff;padding:.8em 1.2em}header a{color:#93c5fd}
main{display:flex;flex-wrap:wrap;gap:1em;padding:1em}
.lane{background:#fff;border-radius:10px;padding:1em;box-shadow:0 1px 3px #0002;width:360px}
.lcd{background:#1f4d2b;color:#b6f5c0;font-family:monospace;font-size:15px;padding:.5em;border-radius:6px;white-space:pre;line-height:1.35}
.row{display:flex;justify-content:space-between;margin:.25em 0}.k{color:#555}
.boom{height:16px;background:#e5e7eb;border-radius:8px;overflow:hidden}.boom div{height:100%;background:#f59e0b;transition:width .2s}
.fault{color:#b91c1c;font-weight:bold}button{margin:.2em .2em 0 0;padding:.4em .7em;border-radius:6px;border:1px solid #999;background:#fff;cursor:pointer}
.qr{margin-top:.5em;text-align:center}.qr a{font-size:12px;word-break:break-all}
.entry{border-top:4px solid #2563eb}.ticket{margin-top:.5em;padding:.5em;border:1px dashed #999;border-radius:6px;text-align:center;font-family:monospace}
</style></head><body>
<header><b>SysPark</b> — live site (simulated lanes, real firmware) · cloud: <a href="__CLOUD__">__CLOUD__</a></header>
<main id="lanes">loading…</main>
<script>
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => "&#" + c.charCodeAt(0) + ";");
async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body || {}) });
  const j = await r.json();
  if (!r.ok) alert(j.error);
}
const act = (lane, action, body) => post("/api/lanes/" + lane + "/" + action, body);
const actEntry = (lane, action, body) => post("/api/entry/" + lane + "/" + action, body);
function scanAt(path) {
  const text = prompt("Code held under the scanner (a ticket SPK1.…, a validation SPV1.…, a reservation SPR1.…)");
  if (text) post(path, { text });
}
const SITE_STATE = { open: "open", full: "FULL", closed: "CLOSED" };
function entryCard(e) {
  const site = (SITE_STATE[e.site.state] || e.site.state) + (e.site.free === undefined ? "" : " · " + e.site.free + " free");
  return \`
  <section class="lane entry" data-lane="\${esc(e.id)}">
    <h2>Entrée \${esc(e.id)}</h2>
    <div class="lcd" data-testid="display">\${e.display.map((x) => esc(x.padEnd(20))).join("\\n")}</div>
    \${e.qr_svg ? \`<div class="qr" data-testid="screen-qr">\${e.qr_svg}</div>\` : ""}
    <div class="row"><span class="k">entry terminal</span><b data-testid="terminal-state">\${esc(e.terminal_state)}</b></div>
    <div class="row"><span class="k">gateway lane</span><span data-testid="lane-phase">\${esc(e.lane_phase)}\${e.decided_by ? " · by " + esc(e.decided_by) : ""}\${e.cloud_online ? "" : " (cloud offline)"}</span></div>
    <div class="row"><span class="k">barrier</span><b data-testid="barrier-state">\${esc(e.barrier_state)}</b></div>
    <div class="boom" title="boom position"><div style="width:\${e.boom_pct}%"></div></div>
    \${e.fault ? \`<div class="fault">alarm: \${esc(e.fault)}</div>\` : ""}
    <div class="row"><span class="k">vehicle</span><span data-testid="vehicle">\${esc(e.vehicle)} \${esc(e.plate || "")}</span></div>
    <div class="row"><span class="k">car park</span><b data-testid="site-state">\${esc(site)}</b></div>
    \${e.ticket ? \`<div class="ticket" data-testid="ticket">last ticket <b>\${esc(e.ticket.code)}</b><br><small>\${esc(e.ticket.id)}</small><br>\${e.ticket.qr_svg}</div>\` : ""}
    \${e.last_in ? \`<div class="row"><span class="k">went in</span><span data-testid="last-in">\${esc(e.last_in.plate)}\${e.last_in.plate_read ? " (plate read)" : ""}\${e.last_in.ticket_code ? " · ticket " + esc(e.last_in.ticket_code) : ""}</span></div>\` : ""}
    <button data-testid="entry-arrive" onclick="actEntry('\${esc(e.id)}','arrive',{read_plate:true})">Car arrives (plate read)</button>
    <button data-testid="entry-arrive-unread" onclick="actEntry('\${esc(e.id)}','arrive',{read_plate:false})">Car arrives (plate not read)</button>
    <button data-testid="take-ticket" onclick="actEntry('\${esc(e.id)}','ticket',{})">Take a ticket</button>
    <button onclick="actEntry('\${esc(e.id)}','badge',{})">Badge</button>
    <button onclick="scanAt('/api/entry/\${esc(e.id)}/scan')">Scan a code…</button>
    <button onclick="actEntry('\${esc(e.id)}','leave',{})">Car reverses away</button>
  </section>\`;
}
function render(lanes, entry) {
  document.getElementById("lanes").innerHTML = (entry ? entryCard(entry) : "") + lanes.map((l) => \`
  <section class="lane" data-lane="\${esc(l.id)}">
    <h2>Lane \${esc(l.id)}</h2>
    <div class="lcd" data-testid="display">\${l.display.map((x) => esc(x.padEnd(20))).join("\\n")}</div>
    \${l.pay_url ? \`<div class="qr">\${l.qr_svg}<br><a data-testid="pay-link" href="\${esc(l.pay_url)}" target="_blank">\${esc(l.pay_url)}</a></div>\` : ""}
    <div class="row"><span class="k">exit controller</span><b data-testid="exit-state">\${esc(l.exit_state)}</b></div>
    <div class="row"><span class="k">gateway lane</span><span>\${esc(l.lane_phase)}\${l.cloud_online ? "" : " (cloud offline)"}</span></div>
    <div class="row"><span class="k">barrier</span><b data-testid="barrier-state">\${esc(l.barrier_state)}</b> <span class="k">core \${esc(l.core_state)}</span></div>
    <div class="boom" title="boom position"><div style="width:\${l.boom_pct}%"></div></div>
    <div class="row"><span class="k">boom</span><span data-testid="boom">\${l.boom_pct}% open</span><span>\${l.motor.up ? "motor ▲" : l.motor.down ? "motor ▼" : "motor off"}\${l.motor.brake ? " · brake" : ""}</span></div>
    \${l.fault ? \`<div class="fault">alarm: \${esc(l.fault)}</div>\` : ""}
    <div class="row"><span class="k">vehicle</span><span data-testid="vehicle">\${esc(l.vehicle)} \${esc(l.plate || "")}</span></div>
    <button data-testid="arrive" onclick="act('\${esc(l.id)}','arrive',{minutes:125})">Car arrives (in for 2h05)</button>
    <button onclick="act('\${esc(l.id)}','badge',{})">Badge</button>
    <button onclick="act('\${esc(l.id)}','obstruct',{on:true})">Obstruct boom</button>
    <button onclick="act('\${esc(l.id)}','obstruct',{on:false})">Clear</button>
    <button onclick="act('\${esc(l.id)}','leave',{})">Car reverses away</button>
    <br><button data-testid="from-entry" onclick="act('\${esc(l.id)}','from-entry',{scan_ticket:true})">Car from the entry → here (with its ticket)</button>
    <button onclick="act('\${esc(l.id)}','from-entry',{scan_ticket:false})">Car from the entry → here (ticket lost)</button>
    <button data-testid="lost" onclick="act('\${esc(l.id)}','lost',{})">Lost ticket</button>
    <button onclick="scanAt('/api/lanes/\${esc(l.id)}/scan')">Scan a code…</button>
  </section>\`).join("");
}
fetch("/api/site").then((r) => r.json()).then((s) => render(s.lanes, s.entry));
new EventSource("/events").onmessage = (e) => { const s = JSON.parse(e.data); render(s.lanes, s.entry); };
</script></body></html>`;
