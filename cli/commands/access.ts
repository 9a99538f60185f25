/**
 * `syspark access add|list|revoke --site <id>`: the sites' access lists for offline exits
 * (trusted badges, exit PINs) and subscriber badges, on the cloud database as cli-support.ts
 * resolves it (named on stderr, never created), or through a cloud's API (--url, or the running
 * cloud that holds the PGlite directory: `/api/sites/:site/access`, with the cloud's own key).
 * On the database, a change is the same transaction as through the API (version, entry, signed
 * parking/acl/* in the outbox, audit `access.added|revoked` by `cli:<user>`); the cloud's relay
 * publishes it.
 * The PIN is read from standard input (--pin-stdin) or SYSPARK_ACCESS_PIN, never from a flag.
 */
import { hostname, userInfo } from "node:os";
import type { Command } from "commander";
import { loginPrompt } from "../prompt";
import { dbOptions, siteId, type DbOpts } from "../site-options";

const FLAG: Record<string, string> = { badge_uid: "--badge", pin: "the PIN", label: "--label", valid_from: "--valid-from", valid_until: "--valid-until", subscriber: "--subscriber", kind: "--badge / --pin-stdin" };

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

function aclKey(): string {
  const key = process.env.SYSPARK_ACL_HMAC_KEY;
  if (!key) throw new Error("SYSPARK_ACL_HMAC_KEY is not set: it signs the access list the site gateways receive (the same key as the cloud's and the gateways')");
  if (key.length < 16) throw new Error("SYSPARK_ACL_HMAC_KEY must be at least 16 characters");
  return key;
}

function actor(): { username: string; operatorId: null; role: null; via: "cli" } {
  let user = "unknown";
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { username: `cli:${user}`.slice(0, 64), operatorId: null, role: null, via: "cli" };
}

type CloudApi = import("../../cloud/server/cli-support").CloudApi;
type Db = import("../../cloud/db/index").Database;

/** Runs on the resolved cloud: `api` through its API, `db` on its database (with this host's `src`). */
async function onCloud<T>(opts: DbOpts, run: { api(api: CloudApi): Promise<T>; db(ctx: { db: Db; src: string }): Promise<T> }): Promise<T> {
  const { withCloud } = await import("../../cloud/server/cli-support");
  return withCloud(opts, { api: run.api, db: (db) => run.db({ db, src: `cli-${hostname()}`.replace(/[^A-Za-z0-9._:-]/g, "-").slice(0, 64) }) }, loginPrompt());
}

export function register(program: Command): void {
  const access = program.command("access").description("sites' access lists: trusted badges and exit PINs for offline exits, subscriber badges");

  dbOptions(
    access
      .command("add")
      .description("add a badge (--badge) or an exit PIN (--pin-stdin, or SYSPARK_ACCESS_PIN) to a site's access list; on the database it needs SYSPARK_ACL_HMAC_KEY (through the API the cloud signs)")
      .requiredOption("--site <id>", "site id", siteId)
      .requiredOption("--label <text>", "who or what the entry is for (1-64 characters)")
      .option("--badge <uid>", "badge UID, 4-32 hex digits (spaces, : and - ignored)")
      .option("--pin-stdin", "read the exit PIN (4-8 digits) from standard input")
      .option("--subscriber", "the badge holds a subscription at this site (exits priced with the tariff's subscriber discount)")
      .option("--valid-from <iso>", "badge only: valid from this ISO-8601 date or instant")
      .option("--valid-until <iso>", "valid until this ISO-8601 date or instant"),
  ).action(async (opts: DbOpts & { site: string; label: string; badge?: string; pinStdin?: boolean; subscriber?: boolean; validFrom?: string; validUntil?: string }) => {
    const pinEnv = process.env.SYSPARK_ACCESS_PIN;
    if (opts.badge !== undefined && (opts.pinStdin || pinEnv)) throw new Error("give either --badge or a PIN (--pin-stdin / SYSPARK_ACCESS_PIN), not both");
    if (opts.badge === undefined && !opts.pinStdin && !pinEnv) throw new Error("give --badge <uid>, or a PIN with --pin-stdin (or SYSPARK_ACCESS_PIN)");
    if (opts.badge === undefined && (opts.subscriber || opts.validFrom)) throw new Error("--subscriber and --valid-from are for badges only");
    const raw =
      opts.badge !== undefined
        ? { kind: "badge", badge_uid: opts.badge, label: opts.label, ...(opts.validFrom ? { valid_from: opts.validFrom } : {}), ...(opts.validUntil ? { valid_until: opts.validUntil } : {}), ...(opts.subscriber ? { subscriber: true } : {}) }
        : { kind: "pin", pin: opts.pinStdin ? await readStdin() : (pinEnv as string), label: opts.label, ...(opts.validUntil ? { valid_until: opts.validUntil } : {}) };
    const { AccessAddBody, addAccessEntry } = await import("../../cloud/flows/access");
    const parsed = AccessAddBody.safeParse(raw);
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${FLAG[String(i.path[0])] ?? String(i.path[0] ?? "input")}: ${i.message}`).join("; "));
    type Added = { version: number; replaced: boolean; entry: { kind: string; entry_id: string; label: string; subscriber?: boolean } };
    const r = await onCloud<Added>(opts, {
      api: (api) => api.json("POST", `/api/sites/${opts.site}/access`, `adding to the access list of ${opts.site}`, raw),
      db: ({ db, src }) => addAccessEntry({ db, src, auditMode: "inline", aclHmacKey: aclKey() }, opts.site, parsed.data, actor()),
    });
    const e = r.entry;
    console.log(`${r.replaced ? "replaced" : "added"} ${e.kind} ${e.entry_id} (${e.label})${e.subscriber ? " subscriber" : ""} at ${opts.site}: access list version ${r.version}`);
    console.log("the cloud's outbox relay publishes it to the site (parking/acl/add)");
  });

  dbOptions(
    access
      .command("list")
      .description("list a site's live access-list entries (never a PIN or its hash)")
      .requiredOption("--site <id>", "site id", siteId)
      .option("--json", "JSON output"),
  ).action(async (opts: DbOpts & { site: string; json?: boolean }) => {
    const { listAccessEntries } = await import("../../cloud/flows/access");
    type Listed = Awaited<ReturnType<typeof listAccessEntries>>;
    const l = await onCloud<Listed>(opts, {
      api: (api) => api.json("GET", `/api/sites/${opts.site}/access`, `listing the access list of ${opts.site}`),
      db: ({ db }) => listAccessEntries(db.sql, opts.site),
    });
    if (opts.json) {
      console.log(JSON.stringify(l, null, 2));
      return;
    }
    console.log(`site ${l.site_id}: access list version ${l.version}, ${l.entries.length} entr${l.entries.length === 1 ? "y" : "ies"}`);
    for (const e of l.entries) {
      console.log([e.entry_id, e.kind, e.label, e.subscriber ? "subscriber" : "", e.valid_from ? `from ${e.valid_from}` : "", e.valid_until ? `until ${e.valid_until}` : ""].filter(Boolean).join("\t"));
    }
  });

  dbOptions(
    access
      .command("revoke")
      .description("revoke an entry (badge UID or PIN entry id, as `access list` shows); on the database it needs SYSPARK_ACL_HMAC_KEY (through the API the cloud signs)")
      .requiredOption("--site <id>", "site id", siteId)
      .requiredOption("--entry <id>", "entry id (1-64 of A-Z a-z 0-9 . _ : -)", (v: string) => {
        if (!/^[A-Za-z0-9._:-]{1,64}$/.test(v)) throw new Error(`--entry must be 1-64 of A-Z a-z 0-9 . _ : -, got "${v}"`);
        return v;
      }),
  ).action(async (opts: DbOpts & { site: string; entry: string }) => {
    const { revokeAccessEntry } = await import("../../cloud/flows/access");
    type Revoked = { version: number; already_revoked?: boolean; alreadyRevoked?: boolean; entry: { kind: string } };
    const r = await onCloud<Revoked>(opts, {
      api: (api) => api.json("DELETE", `/api/sites/${opts.site}/access/${encodeURIComponent(opts.entry)}`, `revoking ${opts.entry} at ${opts.site}`),
      db: ({ db, src }) => revokeAccessEntry({ db, src, auditMode: "inline", aclHmacKey: aclKey() }, opts.site, opts.entry, actor()),
    });
    const already = r.alreadyRevoked ?? r.already_revoked ?? false;
    console.log(already ? `${opts.entry} was already revoked at ${opts.site} (version ${r.version})` : `revoked ${r.entry.kind} ${opts.entry} at ${opts.site}: access list version ${r.version}`);
  });
}
