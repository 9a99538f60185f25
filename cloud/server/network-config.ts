/**
 * Where the cloud listens and how it reaches its broker (issue 19): HOST, TRUST_PROXY and the
 * broker's TLS files (MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE). Each problem names its
 * variable; config.ts collects them into its one refusal.
 *
 * | env            | absent →                                                                |
 * |----------------|-------------------------------------------------------------------------|
 * | HOST           | 0.0.0.0 in production (a platform's router must reach it), else 127.0.0.1 |
 * | TRUST_PROXY    | X-Forwarded-* ignored (Express "trust proxy" false)                      |
 * | MQTT_CA_FILE   | the system's CAs (mqtts://)                                             |
 * | MQTT_CERT_FILE, MQTT_KEY_FILE | no client certificate (both or neither)                   |
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { isTlsUrl } from "../../host/mqtt-tls-errors";
import type { MqttConnectOptions } from "../mqtt/client";
import type { ConfigProblem } from "./production";

/** Express's "trust proxy" setting: all/none, a hop count, or addresses and subnets to trust. */
export type TrustProxy = boolean | number | string[];

/** The TLS material the MQTT client takes (cloud/mqtt/client.ts). */
export type MqttTls = NonNullable<MqttConnectOptions["tls"]>;

export type MqttTlsFiles = { ca?: string; cert?: string; key?: string };

const PROXY_KEYWORDS = ["loopback", "linklocal", "uniquelocal"];
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** One TRUST_PROXY list entry: a keyword, an address, or address/prefix. */
function proxyEntryValid(entry: string): boolean {
  if (PROXY_KEYWORDS.includes(entry)) return true;
  const [addr, prefix, ...rest] = entry.split("/");
  const family = isIP(addr);
  if (!family || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY: `true`/`false`, a hop count (`1` = the one proxy in front, as on Render), or a
 * comma-separated list of `loopback` / `linklocal` / `uniquelocal` / addresses / CIDR subnets.
 * `true` trusts any client's X-Forwarded-* (only behind a proxy that overwrites them).
 */
export function parseTrustProxy(raw: string): TrustProxy | ConfigProblem {
  const v = raw.trim().toLowerCase();
  if (v === "true") return true;
  if (v === "false") return false;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n <= 32) return n;
  }
  const entries = v.split(",").map((e) => e.trim());
  const bad = entries.find((e) => !proxyEntryValid(e));
  if (bad === undefined && entries.length > 0) return entries;
  return {
    variable: "TRUST_PROXY",
    message: `TRUST_PROXY must be true, false, a hop count (0–32, e.g. 1 behind one proxy), or a comma-separated list of loopback, linklocal, uniquelocal, IP addresses and CIDR subnets; "${(bad ?? raw).slice(0, 60)}" is none of these`,
  };
}

/** How this machine reaches a listen address in a URL: a wildcard on loopback, an IPv6 address in brackets. */
export function localHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/** HOST: an IP address or a host name to listen on. */
export function hostProblem(host: string): ConfigProblem | undefined {
  if (isIP(host) || HOSTNAME.test(host)) return undefined;
  return { variable: "HOST", message: `HOST must be an IP address (0.0.0.0, ::, 127.0.0.1…) or a host name, got "${host.slice(0, 60)}"` };
}

function readPem(variable: string, file: string, problems: ConfigProblem[]): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    problems.push({ variable, message: `${variable}=${file} cannot be read (${e.code ?? e.message})` });
    return undefined;
  }
  if (!data.includes("-----BEGIN")) {
    problems.push({ variable, message: `${variable}=${file} is not a PEM file (no "-----BEGIN" line)` });
    return undefined;
  }
  return data;
}

/**
 * The broker's TLS files, read now (a missing file stops the start, never a connection that
 * silently goes without). They only make sense on a TLS URL: given with mqtt:// or without a
 * broker URL they would be ignored, so that is refused too.
 */
export function readMqttTls(env: NodeJS.ProcessEnv, mqttUrl: string | undefined, problems: ConfigProblem[]): { tls?: MqttTls; files?: MqttTlsFiles } {
  const files: MqttTlsFiles = {};
  const given: [keyof MqttTlsFiles, string][] = [
    ["ca", "MQTT_CA_FILE"],
    ["cert", "MQTT_CERT_FILE"],
    ["key", "MQTT_KEY_FILE"],
  ];
  for (const [k, name] of given) if (env[name]) files[k] = env[name];
  const names = given.filter(([k]) => files[k] !== undefined).map(([, n]) => n);
  if (names.length === 0) return {};
  const before = problems.length;
  let protocol: string | undefined;
  try {
    protocol = mqttUrl ? new URL(mqttUrl).protocol : undefined;
  } catch {
    protocol = undefined; // MQTT_URL's own validation says what is wrong with it
  }
  if (!mqttUrl) problems.push({ variable: names[0], message: `${names.join(", ")} set but MQTT_URL is not: the TLS files are for a broker reached over mqtts:// (the in-process broker has no TLS)` });
  else if (protocol !== undefined && !isTlsUrl(mqttUrl)) problems.push({ variable: names[0], message: `${names.join(", ")} set but MQTT_URL is ${protocol}// (no TLS): use mqtts://host:8883 — the files would be ignored and the connection would go in plain text` });
  if ((files.cert === undefined) !== (files.key === undefined)) problems.push({ variable: files.cert === undefined ? "MQTT_CERT_FILE" : "MQTT_KEY_FILE", message: "MQTT_CERT_FILE and MQTT_KEY_FILE go together (the client certificate and its private key): set both or neither" });
  const tls: MqttTls = {};
  for (const [k, name] of given) {
    const f = files[k];
    if (f === undefined) continue;
    const data = readPem(name, f, problems);
    if (data) tls[k] = data;
  }
  return problems.length > before ? { files } : { tls, files };
}
