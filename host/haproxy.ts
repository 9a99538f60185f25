/**
 * A private HAProxy on a free loopback port in front of several `syspark cloud` instances, from
 * the machine's `haproxy` binary, with the settings of deploy/cloud-lb/haproxy.cfg (the file an
 * operator deploys): round robin, health checks on GET /health, a refused connection retried on
 * another instance. Tests and benchmarks that run N instances put it where a deployment puts its
 * load balancer, so that what they prove holds for that configuration.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports";
import { spawnOwned, which } from "./tools";

export const CLOUD_LB_CONF = fileURLToPath(new URL("../deploy/cloud-lb/haproxy.cfg", import.meta.url));

export interface PrivateHaproxy {
  url: string;
  port: number;
  pid: number | undefined;
  stop: () => Promise<void>;
}

export function haproxyBinary(): string | undefined {
  return which("haproxy") ?? which("/usr/sbin/haproxy");
}

/**
 * The deployable configuration with its `bind` on `port` and its `server` lines replaced by
 * `backends` (host:port each). Exported for the test that keeps the deployed file working.
 */
export function balancerConfig(template: string, port: number, backends: readonly string[]): string {
  const lines = template.split("\n").filter((l) => !/^\s*server\s/.test(l));
  const out = lines.map((l) => (/^\s*bind\s/.test(l) ? `    bind 127.0.0.1:${port}` : l));
  const at = out.findIndex((l) => /^backend\s/.test(l));
  if (at === -1) throw new Error(`${CLOUD_LB_CONF} has no backend section`);
  let end = at + 1;
  while (end < out.length && /^\s+\S/.test(out[end])) end++;
  out.splice(end, 0, ...backends.map((b, i) => `    server cloud${i + 1} ${b} check`));
  return out.join("\n");
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Starts HAProxy in the foreground (-db), owned by the caller (it dies with it), in front of `backends`. */
export async function startHaproxy(backends: readonly string[]): Promise<PrivateHaproxy> {
  const bin = haproxyBinary();
  if (!bin) throw new Error("haproxy is not installed (apt-get install -y haproxy)");
  if (backends.length === 0) throw new Error("startHaproxy needs at least one backend");
  const dir = mkdtempSync(join(tmpdir(), "syspark-haproxy-"));
  const port = await freePort();
  const conf = join(dir, "haproxy.cfg");
  writeFileSync(conf, balancerConfig(readFileSync(CLOUD_LB_CONF, "utf8"), port, backends));
  let stderr = "";
  const child = spawnOwned(bin, ["-db", "-f", conf], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 5000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not start (${child.exitCode === null ? "not listening after 5 s" : `exited ${child.exitCode}`}): ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, port, pid: child.pid, stop };
}
