/**
 * The site configuration file (`syspark gateway --config /etc/syspark/site.json`): one zod
 * schema, the TypeScript type inferred from it. Every object is strict, so a typo in a field
 * name is refused instead of silently ignored. Secrets are never in the file: it names the
 * environment variables that hold them (or, for site-broker users, an scrypt hash).
 * docs/gateway.md documents every field.
 */
import { z } from "zod";
import { cloudPrefix } from "../../contracts/mqtt-topics";
import { LOG_LEVELS } from "../../host/log";
import { isTlsUrl } from "../../host/mqtt-tls-errors";

export const BAUD_RATES = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;
/** Default listen port of the embedded site broker: deliberately not 1883 (ARCHITECTURE §7). */
export const DEFAULT_SITE_BROKER_PORT = 18830;
export const BROKER_ROLES = ["gateway", "lpr", "dashboard", "custom"] as const;

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, "must be an environment variable name such as SYSPARK_CLOUD_MQTT_PASSWORD");
const laneId = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 . _ : -");
const siteId = z.string().refine((s) => {
  try {
    cloudPrefix(s);
    return true;
  } catch {
    return false;
  }
}, "must be 1-32 of a-z 0-9 - starting with a letter or digit");
/** MQTT topic filter under parking/ ([MQTT-4.7.1]: `#` last and alone in its level, `+` alone in its level). */
const topicFilter = z.string().max(200).refine((f) => {
  const levels = f.split("/");
  if (levels[0] !== "parking" && f !== "#") return false;
  return levels.every((l, i) => (l === "#" ? i === levels.length - 1 : l === "+" || (l.length > 0 && !l.includes("+") && !l.includes("#"))));
}, "must be an MQTT topic filter under parking/ (e.g. parking/lane/+/state or parking/#)");

const serialPort = z.strictObject({
  port: z.string().min(1).max(200).describe("serial device path, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…"),
  baud: z.literal(BAUD_RATES).default(115200),
});

const lane = z.strictObject({
  id: laneId,
  kind: z.enum(["exit", "entry"]).default("exit"),
  exit_controller: serialPort,
  barrier_executor: serialPort,
});

const brokerUser = z
  .strictObject({
    username: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 . _ @ -"),
    role: z.enum(BROKER_ROLES),
    password_env: envName.optional(),
    password_scrypt: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, "must be scrypt$N$r$p$salt$hash (see `hashPassword` in gateway/broker/passwords.ts)").optional(),
    publish: z.array(topicFilter).max(64).optional(),
    subscribe: z.array(topicFilter).max(64).optional(),
  })
  .superRefine((u, ctx) => {
    if ((u.password_env === undefined) === (u.password_scrypt === undefined)) {
      ctx.addIssue({ code: "custom", path: ["password_env"], message: "give exactly one of password_env or password_scrypt" });
    }
    if (u.role === "custom" && u.publish === undefined && u.subscribe === undefined) {
      ctx.addIssue({ code: "custom", path: ["publish"], message: "role custom needs publish and/or subscribe topic filters" });
    }
  });

const siteBroker = z.strictObject({
  host: z.string().min(1).default("0.0.0.0"),
  port: z.number().int().min(0).max(65535).default(DEFAULT_SITE_BROKER_PORT),
  /** Development only: anonymous clients get the gateway role. */
  allow_anonymous: z.boolean().default(false),
  users: z.array(brokerUser).max(256).default([]),
});

const tls = z.strictObject({
  ca_file: z.string().min(1).optional(),
  cert_file: z.string().min(1).optional(),
  key_file: z.string().min(1).optional(),
  reject_unauthorized: z.boolean().default(true),
  servername: z.string().min(1).optional(),
});

const cloud = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s/]+/, "must be a broker URL such as mqtts://broker.example.com:8883"),
  /** Per-site credentials come from these environment variables (never from the file). */
  username_env: envName.default("SYSPARK_CLOUD_MQTT_USERNAME"),
  password_env: envName.default("SYSPARK_CLOUD_MQTT_PASSWORD"),
  /** Connect without credentials (development / CI broker only). */
  anonymous: z.boolean().default(false),
  tls: tls.optional(),
  client_id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 . _ : -").optional(),
  keepalive_s: z.number().int().min(5).max(600).default(30),
  reconnect_ms: z.number().int().min(100).max(60_000).default(2000),
  connect_timeout_ms: z.number().int().min(500).max(120_000).default(10_000),
  /** MQTT v5 session expiry: cloud → site messages published during a short outage are kept by the broker. */
  session_expiry_s: z.number().int().min(0).max(7 * 86_400).default(3600),
  /** 5, or 4 for an MQTT 3.1.1 cloud broker (the cloud's embedded aedes on a laptop). */
  protocol_version: z.union([z.literal(5), z.literal(4)]).default(5),
}).superRefine((c, ctx) => {
  // mqtt.js ignores TLS options on a plaintext URL: the link would run unencrypted with the CA unused.
  if (c.tls && !isTlsUrl(c.url)) ctx.addIssue({ code: "custom", path: ["tls"], message: `is set but cloud.url (${c.url.split("://")[0]}://) is not encrypted: use mqtts:// or wss://` });
  if (c.tls && (c.tls.cert_file === undefined) !== (c.tls.key_file === undefined)) ctx.addIssue({ code: "custom", path: ["tls", c.tls.cert_file ? "key_file" : "cert_file"], message: "a client certificate needs both cert_file and key_file" });
});

/**
 * Outbox entries in flight to the cloud broker by default. The relay drains at about window /
 * round trip, so over a WAN the window, not the CPU, sets how fast a backlog reaches the cloud;
 * the broker's MQTT v5 Receive Maximum caps it (Mosquitto's default is 20; SysPark's cloud
 * broker settings, deploy/cloud-broker/syspark-flow.conf, advertise 100).
 */
export const DEFAULT_RELAY_INFLIGHT = 100;

const bridge = z.strictObject({
  /** Outbox entries published and not yet acknowledged by the cloud broker. */
  inflight: z.number().int().min(1).max(1000).default(DEFAULT_RELAY_INFLIGHT),
  /** Period of the gateway's own parking/sensor_gate/heartbeat (0 = off). */
  heartbeat_s: z.number().int().min(0).max(3600).default(30),
  /** Larger payloads are dropped and counted at the bridge. */
  max_payload_bytes: z.number().int().min(256).max(1_048_576).default(65_536),
});

const outbox = z.strictObject({
  segment_bytes: z.number().int().min(4096).max(1 << 30).default(4 * 1024 * 1024),
  /** fdatasync before an append resolves. Only turn off for throw-away test sites. */
  fsync: z.boolean().default(true),
});

const offlinePolicy = z.strictObject({
  trusted_badges: z.boolean().default(true),
  exit_pins: z.boolean().default(true),
  operator_override: z.boolean().default(true),
  /** Key that authenticates parking/acl/* messages (HMAC); from the environment. */
  acl_hmac_key_env: envName.default("SYSPARK_ACL_HMAC_KEY"),
  /** After this long without the cloud link the site counts as offline (policy applies). */
  offline_after_s: z.number().int().min(1).max(3600).default(15),
});

/** Bounds of log.max_size: below 1 KiB every few lines would start a file; 1 GiB is plenty per file. */
export const LOG_MAX_SIZE_BOUNDS = { min: 1024, max: 1024 ** 3 } as const;
const SIZE_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "10m" / "512k" / "1g" (KiB, MiB, GiB as pino-roll counts them) or a whole number of bytes → bytes. */
export function parseByteSize(v: number | string): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) ? v : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg])i?b?$/i.exec(v.trim());
  return m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]) : undefined;
}

const SIZE_FORMAT = 'must be a size such as "10m", "512k" or "1g" (k, m, g = KiB, MiB, GiB), or a whole number of bytes';
const byteSize = z.union([z.number(), z.string()], { error: SIZE_FORMAT }).transform((v, ctx) => {
  const bytes = parseByteSize(v);
  const { min, max } = LOG_MAX_SIZE_BOUNDS;
  if (bytes === undefined) ctx.addIssue({ code: "custom", input: v, message: `${SIZE_FORMAT}, got ${JSON.stringify(v)}` });
  else if (bytes < min || bytes > max) ctx.addIssue({ code: "custom", input: v, message: `must be between 1k (${min} bytes) and 1g, got ${JSON.stringify(v)}` });
  else return bytes;
  return z.NEVER;
});

/** 10 MiB files, 5 old ones kept: at most 60 MiB of logs on the box's storage. */
export const LOG_DEFAULTS = { max_size: 10 * 1024 ** 2, keep: 5 } as const;

/**
 * The gateway box's own log files (docs/gateway.md §7). Without this section (and without
 * `--log-file`) the JSON lines go to stdout, i.e. the journal under systemd.
 */
const log = z.strictObject({
  /** Base path: gateway.log → gateway.1.log, gateway.2.log, … (pino-roll's numbering) in a directory of its own. */
  file: z.string().min(1).max(1000).regex(/^[^<>:"|?*\0]*[^<>:"|?*\0/.]$/, 'must be a file path such as /var/log/syspark/gateway.log (not ending in / or ., none of < > : " | ? *)'),
  max_size: byteSize.default(LOG_DEFAULTS.max_size),
  keep: z.number().int().min(1).max(1000).default(LOG_DEFAULTS.keep),
  level: z.enum(LOG_LEVELS).optional(),
});

export const siteConfigSchema = z
  .strictObject({
    site_id: siteId,
    name: z.string().max(120).optional(),
    data_dir: z.string().min(1).default("/var/lib/syspark"),
    lanes: z.array(lane).min(1).max(64),
    site_broker: siteBroker.prefault({}),
    cloud,
    bridge: bridge.prefault({}),
    outbox: outbox.prefault({}),
    offline_policy: offlinePolicy.prefault({}),
    log: log.optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, string>();
    c.lanes.forEach((l, i) => {
      const prev = seen.get(`lane:${l.id}`);
      if (prev) ctx.addIssue({ code: "custom", path: ["lanes", i, "id"], message: `duplicate lane id "${l.id}" (also ${prev})` });
      seen.set(`lane:${l.id}`, `lanes[${i}].id`);
      for (const board of ["exit_controller", "barrier_executor"] as const) {
        const port = l[board].port;
        const other = seen.get(`port:${port}`);
        if (other) ctx.addIssue({ code: "custom", path: ["lanes", i, board, "port"], message: `serial port ${port} is already used by ${other}` });
        seen.set(`port:${port}`, `lanes[${i}].${board}`);
      }
    });
    c.site_broker.users.forEach((u, i) => {
      const prev = seen.get(`user:${u.username}`);
      if (prev) ctx.addIssue({ code: "custom", path: ["site_broker", "users", i, "username"], message: `duplicate username "${u.username}" (also ${prev})` });
      seen.set(`user:${u.username}`, `site_broker.users[${i}]`);
    });
  });

export type SiteConfig = z.output<typeof siteConfigSchema>;
export type SiteConfigInput = z.input<typeof siteConfigSchema>;
export type LaneConfig = SiteConfig["lanes"][number];
export type BrokerUserConfig = SiteConfig["site_broker"]["users"][number];
export type BrokerRole = (typeof BROKER_ROLES)[number];
/** log.file alone, for the `--log-file` flag (same rule as in the file). */
export const logFilePath = log.shape.file;
