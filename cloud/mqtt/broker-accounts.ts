/**
 * MQTT accounts on the cloud's Mosquitto (deploy/cloud-broker/mosquitto.conf): one per site,
 * `site-<site-id>`, allowed only under its own prefix `syspark/<site-id>/#`, and one for the
 * cloud, `syspark-cloud`, allowed under `syspark/#` (every site).
 *
 * Why these grants are enough:
 * - the gateway's bridge lives entirely under its prefix: the cloud → site subscriptions, the
 *   relay's watch `syspark/<site>/#`, the outbox events, the statuses, `online` and the last
 *   will `offline` on `syspark/<site>/parking/gateway/status` (gateway/bridge/);
 * - the cloud publishes only `syspark/<site>/parking/…` (its outbox) and subscribes to
 *   `syspark/+/parking/…`, on MQTT 5 as shared subscriptions `$share/<group>/syspark/+/…`,
 *   which Mosquitto checks against the ACL without their `$share/<group>/` part
 *   (cloud/mqtt/consumers.ts, cloud/live/watch.ts).
 *
 * The password is random (256 bits), so the file's hash protects it by its entropy, not by
 * stretching: the PBKDF2 iteration count is mosquitto_passwd's own default, which keeps the
 * broker's work per CONNECT small when many gateways reconnect at once.
 */
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { toCloudTopic } from "../../contracts/mqtt-topics";

export type BrokerAccountKind = "site" | "cloud";

export interface BrokerAccount {
  username: string;
  /** Shown once to whoever configures the gateway (or the cloud); stored nowhere. */
  password: string;
  /** `username:$7$<iterations>$<salt>$<hash>`, a line of Mosquitto 2's password_file. */
  passwordFileLine: string;
  /** `user <username>` then its `topic readwrite …` grant: a block of Mosquitto's acl_file. */
  aclLines: string[];
}

export const CLOUD_BROKER_USERNAME = "syspark-cloud";
/** Site ids as the contract's cloud prefix and the operator routes take them (cloud/flows/site-admin.ts ADMIN_SITE_ID). */
export const BROKER_SITE_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** mosquitto_passwd's defaults for `$7$` (PBKDF2-HMAC-SHA512): 101 iterations, 12-byte salt, 64-byte hash. */
const PBKDF2_ITERATIONS = 101;
const SALT_BYTES = 12;
const HASH_BYTES = 64;

export function siteBrokerUsername(siteId: string): string {
  return `site-${siteId}`;
}

/**
 * A line of Mosquitto 2's password file, in mosquitto_passwd's own encoding: standard base64
 * (with padding) of the raw salt and of PBKDF2-HMAC-SHA512(password, salt).
 */
export function mosquittoPasswordLine(username: string, password: string, salt: Buffer = randomBytes(SALT_BYTES), iterations = PBKDF2_ITERATIONS): string {
  if (/[:\s]/.test(username)) throw new Error(`username "${username}" cannot go in a Mosquitto password file (no ":" or spaces)`);
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, "sha512");
  return `${username}:$7$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** New credentials for a site's gateway (`site`, with its id) or for the cloud (`cloud`). */
export function issueBrokerAccount(kind: BrokerAccountKind, siteId?: string): BrokerAccount {
  let username: string;
  let prefix: string;
  if (kind === "site") {
    if (siteId === undefined || !BROKER_SITE_ID.test(siteId)) {
      throw new Error(`site id "${siteId ?? ""}": 1–32 of a-z 0-9 -, starting with a letter or digit`);
    }
    username = siteBrokerUsername(siteId);
    prefix = toCloudTopic(siteId, "#");
  } else if (kind === "cloud") {
    if (siteId !== undefined) throw new Error("the cloud's account is for every site: give no site id");
    username = CLOUD_BROKER_USERNAME;
    prefix = "syspark/#";
  } else {
    throw new Error(`account kind must be "site" or "cloud", got "${String(kind)}"`);
  }
  // base64url: nothing a shell, an env file or a URL's userinfo would need quoted.
  const password = randomBytes(32).toString("base64url");
  return { username, password, passwordFileLine: mosquittoPasswordLine(username, password), aclLines: [`user ${username}`, `topic readwrite ${prefix}`] };
}

function readLines(file: string): string[] {
  if (!existsSync(file)) return [];
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    // Typically files handed to the broker's user (uid 1883 in eclipse-mosquitto): run with sudo.
    throw new Error(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): run as its owner or root`, { cause: err });
  }
  return text === "" ? [] : text.replace(/\n$/, "").split("\n");
}

/**
 * Replaces the file as a whole (write, then rename): Mosquitto reloading it never reads half a
 * file. Mosquitto reads it after dropping to its own user, and mode 0600 lets only the owner
 * read: so when root writes it, the file keeps its previous owner, or takes the directory's
 * (`chown 1883:1883 broker-auth` once, then every file written there is the broker's).
 */
function writeSecretFile(file: string, lines: string[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, lines.length ? `${lines.join("\n")}\n` : "", { mode: 0o600 });
  chmodSync(tmp, 0o600); // the umask may have narrowed it, never widened; be exact anyway
  if (process.getuid?.() === 0) {
    const owner = statSync(existsSync(file) ? file : dirname(file));
    chownSync(tmp, owner.uid, owner.gid);
  }
  renameSync(tmp, file);
}

/** The password file with `line` in place of `username`'s first line (appended if none), its other lines dropped. */
function withPasswordLine(lines: string[], username: string, line: string): { lines: string[]; had: boolean } {
  const mine = (l: string) => l.startsWith(`${username}:`);
  const at = lines.findIndex(mine);
  if (at < 0) return { lines: [...lines, line], had: false };
  return { lines: lines.flatMap((l, i) => (i === at ? [line] : mine(l) ? [] : [l])), had: true };
}

/**
 * The ACL file with `username`'s block(s) — its `user` line and the `topic` lines right after
 * it — replaced by `block` where the first one was (appended if none), other lines untouched.
 */
function withAclBlock(lines: string[], username: string, block: string[]): { lines: string[]; had: boolean } {
  const out: string[] = [];
  let at = -1;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== `user ${username}`) {
      out.push(lines[i]);
      continue;
    }
    if (at < 0) at = out.length;
    while (i + 1 < lines.length && /^\s*topic\s/.test(lines[i + 1])) i++;
  }
  if (at >= 0) return { lines: [...out.slice(0, at), ...block, ...out.slice(at)], had: true };
  const sep = out.length && out[out.length - 1].trim() !== "" ? [""] : [];
  return { lines: [...out, ...sep, ...block], had: false };
}

/**
 * Adds the account to DIR/passwd and DIR/acl (created with mode 0600, DIR with 0700 if new);
 * an account issued again for the same user replaces its lines, never adds a second set.
 * Mosquitto reads both files again on SIGHUP.
 */
export function writeBrokerAccount(dir: string, account: BrokerAccount): { passwdFile: string; aclFile: string; replaced: boolean } {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passwdFile = join(dir, "passwd");
  const aclFile = join(dir, "acl");
  const pw = withPasswordLine(readLines(passwdFile), account.username, account.passwordFileLine);
  const acl = withAclBlock(readLines(aclFile), account.username, account.aclLines);
  writeSecretFile(passwdFile, pw.lines);
  writeSecretFile(aclFile, acl.lines);
  return { passwdFile, aclFile, replaced: pw.had || acl.had };
}
