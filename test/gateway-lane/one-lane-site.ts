/**
 * One exit lane for the gateway-lane tests: two socat pty pairs (exit controller, barrier
 * executor), a data directory, and the site file of a gateway on them whose cloud is Mosquitto.
 * `close()` stops what this opened, even when opening failed half-way.
 */
import { parseSiteConfig } from "../../gateway/config/load";
import type { SiteConfig } from "../../gateway/config/schema";
import { openPtyPair, type PtyPair } from "../../host/link/pty";
import { MOSQUITTO_URL, tempDir, uniqueSiteId } from "../gateway/helpers";

export interface OneLaneSite {
  site: string;
  dataDir: string;
  /** `.a` is the board's end, `.b` the gateway's. */
  exitPty: PtyPair;
  barrierPty: PtyPair;
  config: SiteConfig;
  close(): Promise<void>;
}

export async function openOneLaneSite(tag: string): Promise<OneLaneSite> {
  const site = uniqueSiteId(tag);
  const tmp = tempDir(`gw-${tag}`);
  const ptys: PtyPair[] = [];
  const close = async () => {
    try {
      for (const p of ptys) await p.close();
    } finally {
      tmp.cleanup();
    }
  };
  try {
    ptys.push(await openPtyPair("exit"));
    ptys.push(await openPtyPair("barrier"));
  } catch (err) {
    await close();
    throw err;
  }
  const [exitPty, barrierPty] = ptys;
  const config = parseSiteConfig({
    site_id: site, data_dir: tmp.dir,
    lanes: [{ id: "L1", exit_controller: { port: exitPty.b }, barrier_executor: { port: barrierPty.b } }],
    site_broker: { port: 0, allow_anonymous: true },
    cloud: { url: MOSQUITTO_URL, anonymous: true, client_id: `gw-${site}`, reconnect_ms: 200 },
    bridge: { heartbeat_s: 0 },
  });
  return { site, dataDir: tmp.dir, exitPty, barrierPty, config, close };
}
