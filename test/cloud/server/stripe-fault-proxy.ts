/**
 * TEST DOUBLE — a fault-injecting HTTP proxy put between the cloud's `stripe` client and the
 * Stripe test emulator, so a test can make "the provider" answer 500, answer a 400 of Stripe's
 * shape, or never answer, without any fault knob in the emulator itself (which keeps behaving
 * like Stripe). In `pass` mode it forwards every request as it is.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type FaultMode = "pass" | "error500" | "error400" | "hang";

export interface FaultProxy {
  readonly url: string;
  mode: FaultMode;
  /** Requests seen per mode (to prove a fault was actually served). */
  readonly served: Record<FaultMode, number>;
  close(): Promise<void>;
}

function forward(target: URL, req: IncomingMessage, res: ServerResponse): void {
  const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  up.on("error", (err) => {
    // The emulator is down: the connection to the client is dropped, as an unreachable host would.
    void err;
    req.socket.destroy();
  });
  req.pipe(up);
}

export async function startFaultProxy(targetUrl: string): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const served: Record<FaultMode, number> = { pass: 0, error500: 0, error400: 0, hang: 0 };
  const proxy = { mode: "pass" as FaultMode };
  const server: Server = createServer((req, res) => {
    const mode = proxy.mode;
    served[mode]++;
    if (mode === "pass") return forward(target, req, res);
    req.resume();
    if (mode === "hang") return; // never answers; the socket is destroyed on close
    const status = mode === "error500" ? 500 : 400;
    const body = mode === "error500" ? { error: { type: "api_error", message: "test double: internal server error" } } : { error: { type: "invalid_request_error", message: "test double: Received unknown parameter: bogus", param: "bogus", code: "parameter_unknown" } };
    res.writeHead(status, { "Content-Type": "application/json", "Request-Id": `req_testdouble_${served[mode]}` });
    res.end(JSON.stringify(body));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return proxy.mode;
    },
    set mode(m: FaultMode) {
      proxy.mode = m;
    },
    served,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
