/**
 * The TCP connection postgres.js opens to a PostgreSQL server, with Nagle's algorithm off.
 *
 * Why: every statement of a transaction is a small write whose answer someone awaits. With Nagle
 * on (Node's default, and postgres.js does not change it) a write made while an earlier one is
 * not yet acknowledged at the TCP level waits for that acknowledgement, which the server's kernel
 * may delay by 40 ms (delayed ACK). `npm run bench -- cloud` measured the cost (issue 20).
 *
 * postgres.js takes a socket factory (its `socket` option, documented under "Custom socket"); it
 * must hand back a connected socket, so the factory also applies the connect timeout.
 */
import { connect, type Socket } from "node:net";

interface SocketTarget {
  host: readonly string[];
  port: readonly number[];
  path?: string;
}

/**
 * The factory for a single server, or undefined when postgres.js must keep its own (several
 * hosts: it fails over between them, which a factory would hide from it).
 */
export function noDelaySocketFactory(url: string, connectTimeoutS: number): ((o: SocketTarget) => Promise<Socket>) | undefined {
  const authority = /^postgres(?:ql)?:\/\/(?:[^@/]*@)?([^/?#]*)/.exec(url)?.[1] ?? "";
  if (authority.includes(",")) return undefined;
  return (o) =>
    new Promise<Socket>((resolve, reject) => {
      const s = o.path ? connect({ path: o.path }) : connect({ host: o.host[0], port: o.port[0], noDelay: true });
      const fail = (err: Error) => {
        s.destroy();
        reject(err);
      };
      s.setTimeout(connectTimeoutS * 1000, () => fail(Object.assign(new Error(`connect timeout to ${o.path ?? `${o.host[0]}:${o.port[0]}`}`), { code: "CONNECT_TIMEOUT" })));
      s.once("error", fail);
      s.once("connect", () => {
        s.setTimeout(0);
        s.off("error", fail);
        resolve(s);
      });
    });
}
