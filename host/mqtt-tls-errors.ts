/**
 * What a TLS failure of an MQTT connection means, said in the words of the setting to change
 * (the gateway's `cloud.tls.ca_file`, the cloud's `MQTT_CA_FILE`…) instead of OpenSSL's code,
 * and a filter so that a client reconnecting every few seconds to a broker it can never trust
 * logs the reason once, not once per attempt.
 *
 * Node's TLS socket verifies the broker's certificate before the first MQTT byte is sent: a
 * refused certificate ends the connection, it never continues in plaintext.
 */

import type { Logger } from "./log";

export interface TlsSettingNames {
  /** The broker URL as it may be shown (no password). */
  url: string;
  /** The setting naming the CA file: `cloud.tls.ca_file`, `MQTT_CA_FILE`. */
  caSetting: string;
  /** The CA file in use, when known. */
  caFile?: string;
  /** A CA was given (else Node's bundled roots are trusted). */
  caGiven: boolean;
  /** The settings of the client certificate: `cloud.tls.cert_file / key_file`. */
  certSetting: string;
  certGiven: boolean;
  /** The setting that overrides the name checked against the certificate, if there is one. */
  servernameSetting?: string;
}

/** The broker's certificate does not chain to a trusted CA. */
const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_REJECTED",
  "INVALID_CA",
]);
const OUT_OF_DATE = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);
/** Alerts the broker sends when it wants a client certificate, or does not accept ours. */
const CLIENT_CERT_REFUSED = new Set([
  "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
  "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
  "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
  "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
  "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED",
]);
/** The port answered, but not with TLS (a plaintext MQTT listener). */
const NOT_TLS = new Set(["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_PACKET_LENGTH_TOO_LONG", "EPROTO"]);

/**
 * A sentence saying what went wrong and which setting fixes it, for a TLS failure; undefined
 * for any other error (refused connection, bad password…), which speaks for itself.
 */
export function explainTlsError(err: unknown, n: TlsSettingNames): string | undefined {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? "";
  const detail = `${code ? `${code}: ` : ""}${(e?.message ?? String(err)).trim()}`;
  if (UNTRUSTED.has(code) || e?.message === "TLS not authorized") {
    const why = n.caGiven
      ? `it does not chain to the CA ${n.caFile ? `in ${n.caFile} ` : ""}(${n.caSetting})`
      : `no certificate authority Node trusts signed it, and ${n.caSetting} is not set`;
    return `the broker's TLS certificate at ${n.url} is not trusted: ${why}. Set ${n.caSetting} to the CA that signed the broker's certificate. Not connected (never in plaintext). [${detail}]`;
  }
  if (OUT_OF_DATE.has(code)) return `the broker's TLS certificate at ${n.url} is outside its validity period: renew it on the broker (or check this machine's clock). Not connected. [${detail}]`;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const fix = n.servernameSetting ? `, or set ${n.servernameSetting} to one it names` : "";
    return `the broker's TLS certificate is not issued for the host of ${n.url}: connect by a name its subjectAltName lists${fix}. Not connected. [${detail}]`;
  }
  if (CLIENT_CERT_REFUSED.has(code)) {
    const what = n.certGiven ? `refused the client certificate of ${n.certSetting} (not signed by a CA it trusts?)` : `requires a client certificate and none is configured: set ${n.certSetting}`;
    return `the broker at ${n.url} ${what}. Not connected. [${detail}]`;
  }
  if (NOT_TLS.has(code) && /wrong version number|packet length too long/i.test(detail)) {
    return `${n.url} did not answer in TLS: is it the broker's plaintext port? Its TLS listener is usually 8883. Not connected. [${detail}]`;
  }
  return undefined;
}

/**
 * A reconnecting MQTT link's error log (the gateway's bridge and relay connections, the cloud's
 * clients): a TLS failure in the words of the setting that fixes it, and each distinct error
 * once until reset() (call it when the link comes up) — a reconnect loop against a broker that
 * keeps refusing would otherwise log the same line every attempt.
 */
export class LinkErrorLog {
  private readonly seen = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly names: TlsSettingNames,
    /** What the lines are about: `cloud link`, `mqtt client`. */
    private readonly what: string,
    /** Fields every line carries (the client id…). */
    private readonly fields: Record<string, unknown> = {},
  ) {}

  /** The error said in the words of the setting to change, when it is a TLS failure. */
  explain(err: Error): string | undefined {
    return explainTlsError(err, this.names);
  }

  /** Logs the error unless it was already logged since the last reset. */
  report(err: Error, tls: string | undefined = this.explain(err)): void {
    const key = tls ?? err.message;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (tls) this.log.error({ ...this.fields, err: err.message, code: (err as NodeJS.ErrnoException).code }, `${this.what}: ${tls}`);
    else this.log.warn({ ...this.fields, err: err.message }, `${this.what} error`);
  }

  reset(): void {
    this.seen.clear();
  }
}

/** mqtts://, wss:// (and mqtt.js's aliases ssl://, wxs://, alis://): a URL mqtt.js opens with TLS. */
export function isTlsUrl(url: string): boolean {
  return /^(mqtts|wss|ssl|wxs|alis):\/\//i.test(url);
}
