/**
 * The one-lane demo `npm start` runs until the whole site exists: the simulated exit
 * controller (real firmware) on a socat pty pair — or an in-memory cable where socat is not
 * installed — and, on the other end, a DEMO STAND-IN for the gateway and cloud that plays the
 * exit flow: identify, ask for payment, accept `pay` / `decline` typed in the terminal, open,
 * close. A small status page shows the lane's display over HTTP.
 */
import { createServer, type Server } from "node:http";
import { openPtyPair, type PtyPair } from "../../host/pty";
import { which } from "../../host/tools";
import { LinkSession } from "../../firmware/common/link/session";
import type { Fields } from "../../firmware/common/link/frame";
import { SimulatedExitController } from "../sim/exit-controller-sim";
import { memoryCable, openSerialTransport, type SimTransport } from "../sim/sim-device";
import { RealClock } from "../sim/virtual-clock";

export interface LaneDemo {
  board: SimulatedExitController;
  url: string;
  pay(): void;
  decline(): void;
  close(): Promise<void>;
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startLaneDemo(opts: { httpPort: number; host?: string; lane?: string; log?: (line: string) => void }): Promise<LaneDemo> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const clock = new RealClock();
  let pty: PtyPair | undefined;
  let boardEnd: SimTransport, gatewayEnd: SimTransport;
  if (which("socat")) {
    pty = await openPtyPair("demo-lane");
    [boardEnd, gatewayEnd] = await Promise.all([openSerialTransport(pty.a), openSerialTransport(pty.b)]);
    log(`serial link: socat pty pair ${pty.a} <-> ${pty.b}`);
  } else {
    [boardEnd, gatewayEnd] = memoryCable();
    log("serial link: in-memory cable (install socat for a real pty pair)");
  }

  let sessionCounter = 0;
  let session: string | undefined;
  const events: string[] = [];
  const note = (text: string) => { events.push(`${new Date().toISOString().slice(11, 19)} ${text}`); if (events.length > 30) events.shift(); log(`[lane] ${text}`); };
  const gateway: LinkSession = new LinkSession({
    self: { kind: "gateway", fw: "demo-stand-in", boot: 1 },
    receives: "up",
    write: (line) => gatewayEnd.write(new Uint8Array([...line].map((c) => c.charCodeAt(0)))),
    onMessage: (type: string, f: Fields) => {
      if (type !== "HB") note(`board → ${type} ${Object.entries(f).map(([k, v]) => `${k}=${k === "pin" ? "****" : v}`).join(" ")}`);
      const send = (t: string, fields: Fields) => gateway.send(t, fields, clock.now());
      if (type === "PRESENCE" && f.present === "1") {
        send("IDENTIFY", { hint: "Lecture plaque..." });
        setTimeout(() => {
          session = `DEMO-${++sessionCounter}`;
          send("PAY_REQ", { session, amount: "450", currency: "EUR", url: `http://127.0.0.1:${opts.httpPort}/pay/${session}`, label: "2h10" });
          note(`demo cloud: session ${session} priced 4,50 EUR — type "pay" or "decline"`);
        }, 1500).unref();
      }
      if (type === "AUTHORISED") {
        send("OPENING", { session: f.session });
        setTimeout(() => send("OPENED", { session: f.session }), 2000).unref();
      }
    },
  });
  gatewayEnd.setReceiver((bytes) => {
    const text = String.fromCharCode(...bytes);
    for (const line of text.split("\n")) if (line) gateway.receiveLine(line, clock.now());
  });
  const tick = setInterval(() => gateway.tick(clock.now()), 50);
  gateway.start(clock.now());
  const board = await SimulatedExitController.start({ transport: boardEnd, lane: opts.lane ?? "L1", clock });

  const server: Server = createServer((req, res) => {
    const lines = board.display.lines.map((l) => `<div class="row">${escapeHtml(l.padEnd(20)).replace(/ /g, "&nbsp;")}</div>`).join("");
    if (req.url === "/api/lane") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ lane: board.lane, state: board.state, display: board.display, link: board.link.stats }));
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="1"><meta name="viewport" content="width=device-width">
<title>SysPark demo lane ${escapeHtml(board.lane)}</title><style>body{font-family:sans-serif;margin:2em}.lcd{background:#2a4;color:#021;font-family:monospace;font-size:1.4em;padding:.6em;display:inline-block;border-radius:6px}li{font-family:monospace}</style></head>
<body><h1>SysPark — simulated exit lane ${escapeHtml(board.lane)}</h1><p>State: <b>${board.state}</b>. Drive it from the terminal that ran <code>npm start</code> (type <code>?</code>).</p>
<div class="lcd">${lines}</div>${board.display.qr ? `<p>Pay URL (QR): ${escapeHtml(board.display.qr)}</p>` : ""}
<h2>Recent frames</h2><ul>${events.map((e) => `<li>${escapeHtml(e)}</li>`).join("")}</ul>
<p><small>The gateway and cloud here are a demo stand-in until the real ones are part of <code>npm start</code>.</small></p></body></html>`);
  });
  await new Promise<void>((resolve, reject) => { server.once("error", reject); server.listen(opts.httpPort, opts.host ?? "127.0.0.1", () => resolve()); });
  const url = `http://${opts.host ?? "127.0.0.1"}:${opts.httpPort}/`;

  return {
    board, url,
    pay: () => {
      if (!session) return note("nothing to pay");
      gateway.send("PAY_OK", { session, ref: "demo" }, clock.now());
    },
    decline: () => {
      if (!session) return note("nothing to decline");
      gateway.send("PAY_FAIL", { session, reason: "Carte refusee" }, clock.now());
    },
    close: async () => {
      clearInterval(tick);
      server.close();
      await board.close();
      await gatewayEnd.close();
      await pty?.close();
    },
  };
}
