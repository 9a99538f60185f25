/**
 * The emulator's state on disk (`<stateDir>/state.json`), so that a restart forgets nothing —
 * Stripe does not forget a PaymentIntent because a cloud restarted. Without a state directory
 * the emulator stays in memory (tests, benches).
 *
 * Crash-safe: every save writes the whole state to `state.json.tmp`, fsyncs it, renames it over
 * `state.json` and fsyncs the directory, so a SIGKILL at any moment leaves either the previous
 * or the new file, never a torn one. Durable: an API request or a card page that changed the
 * state answers only once its change is on disk (`commit()`); concurrent changes share one write
 * (group commit), so the latency is one write, not a queue of them.
 *
 * A file that cannot be read as an emulator state is refused with its path and the reason —
 * never silently replaced by an empty state, which would strand every driver mid-payment.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { SavedEntry } from "./idempotency";
import type { StateSnapshot } from "./state";

export const STATE_FORMAT = "syspark-stripe-emulator-state";
export const STATE_VERSION = 1;

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

export class StateFileError extends Error {
  override readonly name = "StateFileError";
}

const ARRAYS: (keyof StateSnapshot)[] = ["paymentIntents", "charges", "refunds", "paymentMethods", "sessions", "events"];

/** Parses and checks a state file's text; throws StateFileError naming the file and what is wrong. */
export function parseStoredState(text: string, file: string): StoredState {
  const bad = (why: string) => new StateFileError(`Stripe test emulator state file ${file} is not usable: ${why}. Nothing was reset: move the file away to start with an empty emulator (every PaymentIntent in it is then forgotten), or restore it from a backup.`);
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
  for (const k of ARRAYS) {
    const list = s[k] as unknown;
    if (!Array.isArray(list)) throw bad(`"state.${k}" must be an array`);
    for (const [i, item] of (list as unknown[]).entries()) {
      if (!item || typeof item !== "object") throw bad(`"state.${k}[${i}]" is not an object`);
    }
  }
  return o as StoredState;
}

export class StateStore {
  readonly file: string;
  private readonly tmp: string;
  /** The write in progress, if any. */
  private current: Promise<void> | null = null;
  /** A write queued behind it: every commit() made meanwhile shares it. */
  private next: Promise<void> | null = null;
  private scheduled: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly dir: string,
    private readonly render: () => StoredState,
    private readonly onError: (err: Error) => void,
  ) {
    this.file = join(dir, "state.json");
    this.tmp = join(dir, "state.json.tmp");
  }

  /** The stored state, or undefined when there is none yet. Throws StateFileError on a bad file. */
  static load(dir: string): StoredState | undefined {
    const file = join(dir, "state.json");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    rmSync(join(dir, "state.json.tmp"), { force: true }); // a write a crash interrupted: the rename never happened
    if (!existsSync(file)) return undefined;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new StateFileError(`Stripe test emulator state file ${file} cannot be read: ${(err as Error).message}`);
    }
    return parseStoredState(text, file);
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
      await this.commit().catch((err: Error) => this.onError(err));
    }
    await (this.next ?? this.current)?.catch(() => undefined);
    this.closed = true;
  }

  private start(): Promise<void> {
    this.next = null;
    // The state is rendered now, synchronously: everything changed before this call is in it.
    const text = JSON.stringify(this.render());
    const p = new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        try {
          this.writeNow(text);
          resolve();
        } catch (err) {
          reject(new Error(`cannot save the Stripe test emulator state to ${this.file}: ${(err as Error).message}`));
        }
      });
    }).finally(() => {
      if (this.current === p) this.current = null;
    });
    this.current = p;
    return p;
  }

  private writeNow(text: string): void {
    const fd = openSync(this.tmp, "w", 0o600);
    try {
      writeSync(fd, text);
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
      writeSync(fd, String(process.pid));
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
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new StateFileError(`the Stripe test emulator state directory ${dir} is in use by process ${pid} (${lock}); stop that emulator first, or use another state directory`);
      }
      if (pid === process.pid) throw new StateFileError(`the Stripe test emulator state directory ${dir} is already open in this process`);
      rmSync(lock, { force: true }); // its owner is gone
    }
  }
  throw new StateFileError(`cannot lock the Stripe test emulator state directory ${dir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
