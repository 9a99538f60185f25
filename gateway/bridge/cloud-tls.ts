/**
 * TLS of the bridge's two connections to the cloud broker (config `cloud.tls`): the files read
 * once at start, each failure naming its setting; a `cloud.tls` with a plaintext `cloud.url`
 * refused rather than ignored (mqtt.js would quietly connect unencrypted); and the names its
 * TLS failures are explained with (host/mqtt-tls-errors.ts LinkErrorLog logs them).
 */
import { readFileSync } from "node:fs";
import type { IClientOptions } from "mqtt";
import { isTlsUrl, type TlsSettingNames } from "../../host/mqtt-tls-errors";

/** `cloud.tls` of the site config, as the bridge takes it. */
export interface CloudTlsSettings {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
}

type TlsClientOptions = Pick<IClientOptions, "ca" | "cert" | "key" | "rejectUnauthorized" | "servername">;

function readSetting(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** mqtt.js options for `cloud.tls` (none without it: an mqtts:// URL then trusts Node's bundled CAs). */
export function cloudTlsOptions(url: string, tls: CloudTlsSettings | undefined): TlsClientOptions {
  if (!tls) return {};
  if (!isTlsUrl(url)) throw new Error(`cloud.tls is set but cloud.url ${url} is not mqtts:// or wss://: the link would not be encrypted (use mqtts://<host>:8883)`);
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) throw new Error("cloud.tls: give both cert_file and key_file (the client certificate and its key), or neither");
  return {
    ...(tls.caFile ? { ca: readSetting("cloud.tls.ca_file", tls.caFile) } : {}),
    ...(tls.certFile ? { cert: readSetting("cloud.tls.cert_file", tls.certFile) } : {}),
    ...(tls.keyFile ? { key: readSetting("cloud.tls.key_file", tls.keyFile) } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

/** How TLS failures of the cloud link are explained; `caFile` when known (the relay's thread has only the options). */
export function cloudTlsNames(url: string, given: { caFile?: string; ca?: unknown; cert?: unknown }): TlsSettingNames {
  return {
    url: url.replace(/\/\/[^@/]*@/, "//"), // never a password in a log line
    caSetting: "cloud.tls.ca_file",
    ...(given.caFile ? { caFile: given.caFile } : {}),
    caGiven: Boolean(given.caFile ?? given.ca),
    certSetting: "cloud.tls.cert_file / key_file",
    certGiven: Boolean(given.cert),
    servernameSetting: "cloud.tls.servername",
  };
}
