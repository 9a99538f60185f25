/**
 * Structured logs (pino) for every Node-side part. Secrets never reach a log: the redact list
 * covers the usual places a key or PIN could sit. By default the lines go to stdout (what
 * systemd's journal, Render and containers collect); a box that keeps its own files (the site
 * gateway, docs/gateway.md §7) passes a rotating file from openRotatingLogFile instead.
 */
import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger };

/** pino's levels, and `silent`. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? "info", destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    redact: {
      paths: ["pin", "*.pin", "password", "*.password", "secret", "*.secret", "authorization", "*.authorization", "headers.authorization", "stripeSecretKey", "webhookSecret"],
      censor: "****",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that writes nothing, for tests and benchmarks. */
export const silentLogger: Logger = pino({ level: "silent" });

export interface RotatingFileOptions {
  /**
   * Base path. pino-roll numbers the files it writes: `/var/log/syspark/gateway.log` gives
   * gateway.1.log, gateway.2.log, … in that directory (created if missing), and `current.log`
   * there links to the one being written. A restart appends to the highest number.
   */
  file: string;
  /** A file is closed and the next one started once it reaches this size. */
  maxBytes: number;
  /** Rotated files kept besides the one being written; older ones are deleted. */
  keep: number;
  /** Where the path came from, for error messages (`log.file`, `--log-file`). */
  field?: string;
}

export interface RotatingLogFile {
  stream: DestinationStream;
  /** The file being written now. */
  current(): string;
  /** Writes what is still buffered, then closes the file (a clean stop loses no line). */
  close(): Promise<void>;
}

/** The part of pino-roll's stream (a SonicBoom) used here; pino-roll ships no types. */
interface RollingStream extends DestinationStream, NodeJS.EventEmitter {
  file: string;
  destroyed: boolean;
  end(): void;
}
type PinoRoll = (options: Record<string, unknown>) => Promise<RollingStream>;

/** Opens the rotating file; throws an Error naming `field` when it cannot be written. */
export async function openRotatingLogFile(options: RotatingFileOptions): Promise<RotatingLogFile> {
  const field = options.field ?? "log file";
  const file = resolve(options.file);
  const refuse = (err: unknown) => new Error(`${field}: cannot write log files at ${file}: ${err instanceof Error ? err.message : String(err)}`);
  try {
    // Made here, not by pino-roll's `mkdir`, so that a path that cannot be created fails now with
    // the setting's name (and before pino-roll places its current.log link in the directory).
    mkdirSync(dirname(file), { recursive: true });
  } catch (err) {
    throw refuse(err);
  }
  const pinoRoll = createRequire(import.meta.url)("pino-roll") as PinoRoll;
  let stream: RollingStream;
  try {
    // pino-roll counts sizes in MB when given a plain number; the division by 2^20 is exact.
    stream = await pinoRoll({ file, size: options.maxBytes / 1024 ** 2, symlink: true });
  } catch (err) {
    throw refuse(err);
  }
  // The file opens asynchronously: wait for it, so that a read-only place is refused at start.
  await new Promise<void>((ready, fail) => {
    stream.once("ready", () => { stream.off("error", onError); ready(); });
    const onError = (err: unknown) => fail(refuse(err));
    stream.once("error", onError);
  });
  // Every file pino-roll opens (the first, then one per rotation) emits `ready`.
  const prune = () => deleteOldFiles(stream.file, options.keep);
  prune();
  stream.on("ready", prune);
  // A write error later (disk full) must not stop the gateway: said once per reason on stderr,
  // which the journal keeps apart from the file.
  const said = new Set<string>();
  stream.on("error", (err: Error) => {
    if (said.has(err.message)) return;
    said.add(err.message);
    process.stderr.write(`syspark: ${field} ${stream.file}: ${err.message} (log lines are being lost)\n`);
  });
  return {
    stream,
    current: () => stream.file,
    close: () => new Promise<void>((done) => {
      if (stream.destroyed) return done();
      stream.once("close", () => done());
      stream.once("error", () => done());
      stream.end();
    }),
  };
}

/**
 * Keeps the file being written and the `keep` numbered before it; deletes older ones, those of
 * earlier runs included. pino-roll's own `limit.count` either forgets the files of earlier runs
 * (so a gateway that restarts grows its directory forever) or, with removeOtherLogFiles, counts
 * whatever its directory listing caught while the next file was still opening.
 */
function deleteOldFiles(current: string, keep: number): void {
  const name = /^(.*)\.(\d+)(\.[^.]*)?$/.exec(basename(current));
  if (!name) return;
  const [, stem, number, extension = ""] = name;
  const oldest = Number(number) - keep;
  const dir = dirname(current);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return; // the directory went away: nothing to prune, and no reason to stop the process
  }
  for (const entry of entries) {
    if (!entry.startsWith(`${stem}.`) || !entry.endsWith(extension)) continue;
    const n = entry.slice(stem.length + 1, entry.length - extension.length);
    if (/^\d+$/.test(n) && Number(n) < oldest) {
      try {
        unlinkSync(join(dir, entry));
      } catch {
        // Already gone, or not ours to delete: the next rotation tries again.
      }
    }
  }
}
