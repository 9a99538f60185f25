/** A TCP port on 127.0.0.1 that was free a moment ago (for private brokers, servers and children started by tests and benches). */
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `count` ports for parts that bind them later, distinct from one another: freePort() can hand
 * out the same just-closed port twice in a row (seen in bench cloud: the emulator and a cloud
 * both given one).
 */
export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count; tries++) {
    if (tries > count * 20) throw new Error(`no ${count} distinct free ports on 127.0.0.1`);
    ports.add(await freePort());
  }
  return [...ports];
}
