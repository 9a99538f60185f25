/**
 * The site's cached access list for offline exits (trusted badges, exit PINs), synced from the
 * cloud over parking/acl/add|del|full. Every message is authenticated (HMAC-SHA256 over its
 * canonical JSON without `sig`, key from the environment) and versioned: a replay or an older
 * version changes nothing. PINs only ever exist here as scrypt hashes. The list is persisted
 * atomically (temp file + fsync + rename) so a power cut never leaves half a list.
 */
import { timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { signAcl } from "../../contracts/acl-signature";
import { schemas } from "../../contracts/mqtt-topics";
import { verifyScrypt } from "../broker/passwords";
import { writeFileAtomic } from "./atomic-file";

export { canonicalJson, signAcl } from "../../contracts/acl-signature";

type AclAdd = z.infer<typeof schemas.aclAdd>;
type AclDel = z.infer<typeof schemas.aclDel>;
type AclFull = z.infer<typeof schemas.aclFull>;
export type AclEntry = AclFull["entries"][number];

export type AclResult = "applied" | "duplicate" | "stale" | "bad_signature";

const persisted = z.strictObject({ version: z.number().int().nonnegative(), entries: z.array(schemas.aclFull.shape.entries.element) });

export class AccessList {
  private entries = new Map<string, AclEntry>();
  private currentVersion = 0;

  constructor(private readonly file: string, private readonly hmacKey: string | undefined) {
    if (existsSync(file)) {
      const parsed = persisted.safeParse(JSON.parse(readFileSync(file, "utf8")));
      if (!parsed.success) throw new Error(`access list ${file} is corrupt: ${parsed.error.issues[0]?.message}; delete it to resync from the cloud`);
      this.currentVersion = parsed.data.version;
      for (const e of parsed.data.entries) this.entries.set(e.id, e);
    }
  }

  get version(): number { return this.currentVersion; }
  get size(): number { return this.entries.size; }

  apply(kind: "add" | "del" | "full", payload: AclAdd | AclDel | AclFull): AclResult {
    if (!this.hmacKey || !this.verify(payload as unknown as Record<string, unknown>)) return "bad_signature";
    if (payload.version === this.currentVersion) return "duplicate";
    if (payload.version < this.currentVersion && kind !== "full") return "stale";
    if (kind === "full" && payload.version < this.currentVersion) return "stale";
    if (kind === "full") {
      this.entries = new Map((payload as AclFull).entries.map((e) => [e.id, e]));
    } else if (kind === "add") {
      for (const e of (payload as AclAdd).entries) this.entries.set(e.id, e);
    } else {
      for (const id of (payload as AclDel).ids) this.entries.delete(id);
    }
    this.currentVersion = payload.version;
    this.save();
    return "applied";
  }

  /** A badge the site trusts for an exit while the cloud is unreachable. */
  trustedBadge(uid: string, now: number): AclEntry | undefined {
    const e = this.entries.get(uid);
    return e && e.kind === "badge" && (e.valid_until === undefined || e.valid_until > now) ? e : undefined;
  }

  /** The exit-PIN entry this PIN opens, checked against the scrypt hashes. */
  matchPin(pin: string, now: number): AclEntry | undefined {
    for (const e of this.entries.values()) {
      if (e.kind !== "pin" || !e.pin_hash) continue;
      if (e.valid_until !== undefined && e.valid_until <= now) continue;
      if (verifyScrypt(pin, e.pin_hash)) return e;
    }
    return undefined;
  }

  private verify(payload: Record<string, unknown>): boolean {
    const expected = Buffer.from(signAcl(payload, this.hmacKey!), "hex");
    const given = Buffer.from(String(payload.sig ?? ""), "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify({ version: this.currentVersion, entries: [...this.entries.values()] }));
  }
}
