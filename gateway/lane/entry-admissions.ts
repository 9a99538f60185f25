/**
 * The entry lanes' admissions in hand, kept in `<data_dir>/entry-admissions.json` (written
 * atomically): an entry lane admits a car, the gateway is killed while the boom is up, and the
 * terminal's ENTERED reaches a new process with no flow for it. Without this file that car would
 * be inside and never reported (never counted, its ticket unknown to the cloud); with it the new
 * process reports the entry as the old one would have. Bounded: the newest MAX_KEPT admissions, none
 * older than MAX_AGE_MS (a car takes seconds to drive in).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Payload } from "../../contracts/mqtt-topics";
import { writeFileAtomic } from "./atomic-file";

export type EntryReport = Omit<Payload<"entry">, "ts" | "src" | "event_id">;
export interface Admission { session: string; at: number; report: EntryReport }

export interface AdmissionStore {
  /** Keeps what parking/entry will say for `session`, stamped with the store's clock. */
  save(session: string, report: EntryReport): void;
  /** The admission of `session` (removed), if this gateway or its previous process made it. */
  take(session: string): Admission | undefined;
  /** The admission of `session`, left in place. */
  peek(session: string): Admission | undefined;
}

const MAX_KEPT = 64;
const MAX_AGE_MS = 15 * 60_000;
const FileSchema = z.array(z.object({ session: z.string(), at: z.number(), report: z.record(z.string(), z.unknown()) }));

export class FileAdmissionStore implements AdmissionStore {
  private readonly file: string;
  private items: Admission[] = [];

  constructor(dataDir: string, private readonly now: () => number, warn: (message: string) => void = () => {}) {
    this.file = join(dataDir, "entry-admissions.json");
    if (!existsSync(this.file)) return;
    try {
      this.items = FileSchema.parse(JSON.parse(readFileSync(this.file, "utf8"))) as unknown as Admission[];
    } catch (err) {
      warn(`${this.file} is unreadable (${(err as Error).message}): admissions in hand before the restart are lost`);
    }
  }

  save(session: string, report: EntryReport): void {
    this.items = [...this.items.filter((x) => x.session !== session), { session, at: this.now(), report }].slice(-MAX_KEPT);
    this.write();
  }

  take(session: string): Admission | undefined {
    const fresh = this.items.filter((x) => this.now() - x.at <= MAX_AGE_MS);
    const found = fresh.find((x) => x.session === session);
    this.items = fresh.filter((x) => x.session !== session);
    this.write();
    return found;
  }

  peek(session: string): Admission | undefined {
    return this.items.find((x) => x.session === session && this.now() - x.at <= MAX_AGE_MS);
  }

  private write(): void {
    writeFileAtomic(this.file, JSON.stringify(this.items));
  }
}
