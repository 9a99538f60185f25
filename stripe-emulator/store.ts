/**
 * The emulator's state on disk, so that a restart forgets nothing — Stripe does not forget a
 * PaymentIntent because a cloud restarted. Without a state directory the emulator stays in
 * memory (tests, benches).
 *
 * Two files in the state directory:
 * - `state.json`, a full snapshot, only ever replaced whole: written to `state.json.tmp`,
 *   fsynced, renamed over, the directory fsynced — a SIGKILL at any moment leaves the old or the
 *   new snapshot, never a torn one;
 * - `state.journal`, append-only: one JSON line per object a request changed (its whole new
 *   copy), fdatasynced before the request is answered. Loading replays it over the snapshot (the
 *   newest copy of each object wins), so a line written twice (a crash between a compaction's
 *   rename and the journal's truncation) changes nothing. A last line cut short by a crash was
 *   never acknowledged: it is ignored.
 * A request therefore costs one small append, not a rewrite of everything; the journal is folded
 * into a new snapshot at start and whenever it outgrows the snapshot (amortized).
 *
 * Durable: an API request or a card page that changed the state answers only once its change is
 * on disk (`commit()`); concurrent changes share one write (group commit).
 *
 * A file that cannot be read as an emulator state is refused with its path (and line) and the
 * reason — never silently replaced by an empty state, which would strand every driver
 * mid-payment.
 */
import { closeSync, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pidAlive } from "../host/pid";
import type { SavedEntry } from "./idempotency";
import { COLLECTION_FIELDS, COLLECTION_KINDS, type JournalRecord, type StateSnapshot } from "./state";

export const STATE_FORMAT = "syspark-stripe-emulator-state";
export const STATE_VERSION = 1;
const JOURNAL_KINDS = new Set<string>([...COLLECTION_KINDS, "ev", "idem"]);
/** Fold the journal into a new snapshot once it is this large and larger than the snapshot. */
const COMPACT_MIN_BYTES = 4 * 1024 * 1024;

export interface StoredState {
  format: typeof STATE_FORMAT;
  version: typeof STATE_VERSION;
  savedAt: string;
  /** The webhook signing secret and API key in use, so a restart keeps them (test values only). */
  webhookSecret: string;
  apiKey: string | null;
  /** The port it listened on: reused when free, so a card page a driver has open still works. */
  port?: number;
  state: StateSnapshot;
  idempotency: [string, SavedEntry][];
}

export interface LoadedState {
  snapshot: StoredState;
  journal: JournalRecord[];
}

export class StateFileError extends Error {
  override readonly name = "StateFileError";
}


const refusal = (file: string, why: string) =>
  new StateFileError(`Stripe test emulator state file ${file} is not usable: ${why}. Nothing was reset: move the state directory's files away to start with an empty emulator (every PaymentIntent in them is then forgotten), or restore them from a backup.`);

/** Parses and checks a snapshot's text; throws StateFileError naming the file and what is wrong. */
export function parseStoredState(text: string, file: string): StoredState {
  const bad = (why: string) => refusal(file, why);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  const o = v as Partial<StoredState> | null;
  if (!o || typeof o !== "object" || Array.isArray(o)) throw bad("not a JSON object");
  if (o.format !== STATE_FORMAT) throw bad(`"format" is ${JSON.stringify(o.format)}, expected "${STATE_FORMAT}"`);
  if (o.version !== STATE_VERSION) throw bad(`"version" is ${JSON.stringify(o.version)}; this emulator reads version ${STATE_VERSION}`);
  if (typeof o.webhookSecret !== "string" || o.webhookSecret === "") throw bad('"webhookSecret" is missing');
  if (o.apiKey !== null && typeof o.apiKey !== "string") throw bad('"apiKey" must be a string or null');
  if (!Array.isArray(o.idempotency)) throw bad('"idempotency" must be an array');
  const s = o.state as Partial<StateSnapshot> | undefined;
  if (!s || typeof s !== "object") throw bad('"state" is missing');
  if (!Array.isArray(s.events)) throw bad('"state.events" must be an array');
  for (const k of [...COLLECTION_FIELDS, "events"]) {
    const list = s[k] as unknown;
    if (list === undefined) continue; // a collection newer than the file: empty
    if (!Array.isArray(list)) throw bad(`"state.${k}" must be an array`);
    for (const [i, item] of (list as unknown[]).entries()) {
      if (!item || typeof item !== "object") throw bad(`"state.${k}[${i}]" is not an object`);
    }
  }
  return o as StoredState;
}

/** Parses the journal; a bad line is refused with its number, except a torn last line (never acknowledged). */
export function parseJournal(text: string, file: string): JournalRecord[] {
  const lines = text.split("\n");
  const torn = lines.pop() ?? ""; // after the last "\n": empty, or a write a crash cut short
  const out: JournalRecord[] = [];
  const parse = (line: string, n: number): JournalRecord => {
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch (err) {
      throw refusal(file, `line ${n} is not valid JSON (${(err as Error).message})`);
    }
    const rec = r as { k?: unknown; v?: unknown } | null;
    if (!rec || typeof rec !== "object" || typeof rec.k !== "string" || !JOURNAL_KINDS.has(rec.k) || !rec.v || typeof rec.v !== "object") throw refusal(file, `line ${n} is not a journal record`);
    return rec as JournalRecord;
  };
  lines.forEach((line, i) => out.push(parse(line, i + 1)));
  if (torn !== "") {
    try {
      out.push(parse(torn, lines.length + 1));
    } catch {
      /* a torn tail: its request was never answered */
    }
  }
  return out;
}

export interface StoreParts {
  /** The whole state, for a snapshot. */
  full(): StoredState;
  /** What changed since the last call (and forget it). */
  changes(): JournalRecord[];
  /** A snapshot was just taken of everything: forget the changes. */
  discard(): void;
}

export class StateStore {
  readonly file: string;
  readonly journalFile: string;
  private readonly tmp: string;
  private journalFd: number | null = null;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** The first write is a full snapshot (it folds in the journal a previous run left). */
  private compactNext = true;
  /** The write in progress, if any. */
  private current: Promise<void> | null = null;
  /** A write queued behind it: every commit() made meanwhile shares it. */
  private next: Promise<void> | null = null;
  private scheduled: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly parts: StoreParts,
    private readonly onError: (err: Error) => void,
  ) {
    this.file = join(dir, "state.json");
    this.tmp = join(dir, "state.json.tmp");
    this.journalFile = join(dir, "state.journal");
  }

  /** The stored state, or undefined when there is none yet. Throws StateFileError on a bad file. */
  static load(dir: string): LoadedState | undefined {
    const file = join(dir, "state.json");
    const journalFile = join(dir, "state.journal");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    rmSync(join(dir, "state.json.tmp"), { force: true }); // a snapshot a crash interrupted: the rename never happened
    const read = (f: string) => {
      try {
        return readFileSync(f, "utf8");
      } catch (err) {
        throw new StateFileError(`Stripe test emulator state file ${f} cannot be read: ${(err as Error).message}`);
      }
    };
    if (!existsSync(file)) {
      if (existsSync(journalFile) && read(journalFile).trim() !== "") throw refusal(journalFile, `it has changes but ${file} (the snapshot they apply to) is missing`);
      return undefined;
    }
    const snapshot = parseStoredState(read(file), file);
    const journal = existsSync(journalFile) ? parseJournal(read(journalFile), journalFile) : [];
    return { snapshot, journal };
  }

  /** Resolves once the state as it is now is on disk. */
  commit(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.next) return this.next;
    if (!this.current) return this.start();
    const next = this.current.catch(() => undefined).then(() => this.start());
    this.next = next;
    return next;
  }

  /** A save soon, nobody waiting for it (changes made by timers and webhook deliveries). */
  schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = null;
      this.commit().catch((err: Error) => this.onError(err));
    }, 20);
  }

  /** Writes what is left to write; later changes are not saved. */
  async close(): Promise<void> {
    if (this.scheduled) {
      clearTimeout(this.scheduled);
      this.scheduled = null;
    }
    await this.commit().catch((err: Error) => this.onError(err));
    await (this.next ?? this.current)?.catch(() => undefined);
    this.closed = true;
    if (this.journalFd !== null) closeSync(this.journalFd);
    this.journalFd = null;
  }

  private start(): Promise<void> {
    this.next = null;
    // What to write is taken now, synchronously: everything changed before this call is in it.
    const full = this.compactNext || (this.journalBytes > COMPACT_MIN_BYTES && this.journalBytes > this.snapshotBytes);
    let text: string;
    if (full) {
      text = JSON.stringify(this.parts.full());
      this.parts.discard();
    } else {
      const recs = this.parts.changes();
      if (recs.length === 0) return Promise.resolve();
      text = recs.map((r) => JSON.stringify(r)).join("\n") + "\n";
    }
    const p = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        try {
          if (full) this.writeSnapshot(text);
          else this.append(text);
          resolve();
        } catch (err) {
          // Not written: the next write must be a whole snapshot again (the changes were taken).
          this.compactNext = true;
          reject(new Error(`cannot save the Stripe test emulator state to ${this.dir}: ${(err as Error).message}`));
        }
      });
    }).finally(() => {
      if (this.current === p) this.current = null;
    });
    this.current = p;
    return p;
  }

  private append(text: string): void {
    this.journalFd ??= openSync(this.journalFile, "a", 0o600);
    writeFileSync(this.journalFd, text); // all of it: writeFileSync loops over short writes
    fdatasyncSync(this.journalFd);
    this.journalBytes += Buffer.byteLength(text);
  }

  private writeSnapshot(text: string): void {
    const fd = openSync(this.tmp, "w", 0o600);
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(this.tmp, this.file);
    const dirFd = openSync(this.dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    // The snapshot holds everything now: the journal starts again (replaying it twice would be harmless).
    this.journalFd ??= openSync(this.journalFile, "a", 0o600);
    ftruncateSync(this.journalFd, 0);
    fsyncSync(this.journalFd);
    this.journalBytes = 0;
    this.snapshotBytes = Buffer.byteLength(text);
    this.compactNext = false;
  }
}

/**
 * One emulator per state directory (two would overwrite each other's file): `<dir>/state.lock`
 * holds the owner's pid; a lock whose process is gone (SIGKILL) is taken over. Returns release().
 */
export function lockStateDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = join(dir, "state.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, "wx", 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(lock, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new StateFileError(`cannot lock the Stripe test emulator state directory ${dir}: ${(err as Error).message}`);
      const pid = Number(readFileSync(lock, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new StateFileError(`the Stripe test emulator state directory ${dir} is in use by process ${pid} (${lock}); stop that emulator first, or use another state directory`);
      }
      if (pid === process.pid) throw new StateFileError(`the Stripe test emulator state directory ${dir} is already open in this process`);
      rmSync(lock, { force: true }); // its owner is gone
    }
  }
  throw new StateFileError(`cannot lock the Stripe test emulator state directory ${dir}`);
}

