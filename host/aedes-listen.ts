/**
 * An aedes broker on a node:net server (the cloud's embedded broker, the gateway's site broker):
 * listen, keep track of the sockets, and close in the right order — server.close() waits for
 * the open connections, so aedes.close() (which ends them) starts at once, then the sockets
 * left are destroyed.
 */
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { Aedes } from "aedes";

export interface AedesListener {
  readonly host: string;
  /** The port bound (the one asked for, or the one given for port 0). */
  readonly port: number;
  /** Stops listening and closes the broker; idempotent (every call gets the same promise). */
  close(): Promise<void>;
}

export async function listenAedes(aedes: Aedes, opts: { host?: string; port: number; listenError?: (err: Error, host: string) => Error }): Promise<AedesListener> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    aedes.handle(socket);
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => reject(opts.listenError ? opts.listenError(err, host) : err);
    server.once("error", failed);
    server.listen(opts.port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
