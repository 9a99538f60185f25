/**
 * A private Mosquitto started from the deployed configuration itself,
 * deploy/cloud-broker/mosquitto.conf, with its container paths (/mosquitto/auth, /mosquitto/certs,
 * /mosquitto/data) pointed at the test's temp dirs and its listeners (1883, 8883) on free
 * loopback ports — so the tests check the file operators run, not a copy of it. Also the
 * throwaway certificate authorities the TLS tests need, made with openssl.
 */
import { execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../host/ports";
import { spawnOwned, which } from "../../host/tools";
import { tcpReachable, waitFor } from "../gateway/helpers";

export const DEPLOYED_CONF = fileURLToPath(new URL("../../deploy/cloud-broker/mosquitto.conf", import.meta.url));
export const FLOW_CONF = fileURLToPath(new URL("../../deploy/cloud-broker/syspark-flow.conf", import.meta.url));

export interface DeployedBroker {
  /** mqtt://127.0.0.1:<port> of the plaintext listener (the compose network's 1883), if kept. */
  url?: string;
  /** mqtts://127.0.0.1:<port> of the TLS listener (8883), if certificates were given. */
  tlsUrl?: string;
  tlsPort?: number;
  /** Everything Mosquitto logged so far. */
  log(): string;
  /** SIGHUP (passwd, acl and certificates read again); resolves once Mosquitto says it reloaded. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export interface DeployedBrokerOptions {
  authDir: string;
  /** Directory with server.pem, server.key, ca.pem: keeps the TLS listener. */
  certsDir?: string;
  /** Keep the plaintext listener (default true). */
  plaintext?: boolean;
  /** Add `require_certificate true` to the TLS listener. */
  requireCertificate?: boolean;
  /**
   * Started by root, the user Mosquitto drops to (as in its container); by default the caller's
   * own, so that nothing changes hands.
   */
  user?: string;
}

/** uid and gid of a system user (`id`), or undefined if there is none. */
export function systemUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const id = (flag: string) => Number(execFileSync("id", [flag, name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    return undefined;
  }
}

/** The deployed file, adapted as the options say (the flow and auth settings untouched). */
function adaptedConf(o: DeployedBrokerOptions, dir: string, ports: { plain: number; tls: number }): string {
  const out = [`user ${o.user ?? userInfo().username}`];
  let section: "global" | "plain" | "tls" = "global";
  for (const raw of readFileSync(DEPLOYED_CONF, "utf8").split("\n")) {
    let line = raw.replaceAll("/mosquitto/auth/", `${o.authDir}/`).replaceAll("/mosquitto/data/", `${dir}/`);
    if (o.certsDir) line = line.replaceAll("/mosquitto/certs/", `${o.certsDir}/`);
    if (/^listener 1883\s*$/.test(line)) {
      section = "plain";
      line = `listener ${ports.plain} 127.0.0.1`;
    } else if (/^listener 8883\s*$/.test(line)) {
      section = "tls";
      line = `listener ${ports.tls} 127.0.0.1`;
      if (o.requireCertificate) line += "\nrequire_certificate true";
    } else if (/^\S/.test(line) && !/^(certfile|keyfile|cafile|#)/.test(line)) section = "global";
    if (line.startsWith("log_dest ")) line = `log_dest file ${dir}/mosquitto.log`;
    if (section === "plain" && o.plaintext === false) continue;
    if (section === "tls" && !o.certsDir) continue;
    out.push(line);
  }
  return out.join("\n");
}

export async function startDeployedBroker(o: DeployedBrokerOptions): Promise<DeployedBroker> {
  const bin = which("mosquitto") ?? which("/usr/sbin/mosquitto");
  if (!bin) throw new Error("mosquitto is not installed (apt-get install -y mosquitto)");
  const dir = mkdtempSync(join(tmpdir(), "syspark-deployed-broker-"));
  const ports = { plain: await freePort(), tls: await freePort() };
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, adaptedConf(o, dir, ports));
  if (o.user) {
    // Its log, persistence and configuration (read again on SIGHUP) are read as that user.
    const u = systemUser(o.user);
    if (!u) throw new Error(`no system user ${o.user}`);
    for (const f of [dir, conf]) chownSync(f, u.uid, u.gid);
  }
  const logFile = join(dir, "mosquitto.log");
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const child: ChildProcess = spawnOwned(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const listening = [...(o.plaintext !== false ? [ports.plain] : []), ...(o.certsDir ? [ports.tls] : [])];
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}) at start: ${stderr}${log()}`);
      for (const p of listening) if (!(await tcpReachable("127.0.0.1", p, 200))) return false;
      return true;
    }, 5000, "mosquitto's listeners");
  } catch (err) {
    await stop();
    throw err;
  }
  let reloads = 0;
  return {
    ...(o.plaintext !== false ? { url: `mqtt://127.0.0.1:${ports.plain}` } : {}),
    ...(o.certsDir ? { tlsUrl: `mqtts://127.0.0.1:${ports.tls}`, tlsPort: ports.tls } : {}),
    log,
    async reload() {
      reloads++;
      child.kill("SIGHUP");
      await waitFor(() => log().split("Reloading config.").length - 1 >= reloads, 5000, "mosquitto's reload");
    },
    stop,
  };
}

/** A throwaway certificate authority and what it signs, made with openssl in `dir`. */
export interface TestPki {
  dir: string;
  caFile: string;
  /** server.pem / server.key (subjectAltName IP:127.0.0.1, DNS:localhost) and ca.pem, as the deployed config names them. */
  certsDir: string;
  clientCert: string;
  clientKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A self-signed CA `name` in `dir`: returns its certificate and key files. */
export function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=SysPark test ${name}`], dir);
  return { cert, key };
}

function signed(dir: string, ca: { cert: string; key: string }, name: string, cn: string, ext?: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${cn}`], dir);
  const extArgs: string[] = [];
  if (ext) {
    writeFileSync(join(dir, `${name}.ext`), ext);
    extArgs.push("-extfile", join(dir, `${name}.ext`));
  }
  openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-out", cert, "-days", "2", ...extArgs], dir);
  return { cert, key };
}

/** A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, in a new temp dir. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "syspark-pki-"));
  const certsDir = join(dir, "certs");
  mkdirSync(certsDir);
  const ca = makeCa(certsDir, "ca");
  signed(certsDir, ca, "server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const client = signed(dir, ca, "client", "site-a", "extendedKeyUsage=clientAuth\n");
  return { dir, caFile: ca.cert, certsDir, clientCert: client.cert, clientKey: client.key };
}
