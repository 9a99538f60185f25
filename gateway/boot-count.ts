/**
 * The gateway's boot count: the `boot` of the HELLO it sends each board, one more at every start
 * (docs/protocol.md). A board takes a HELLO with the boot number and sequence it already knows
 * for a repeat of the last one and skips its re-sync (presence, state, barrier), so a number
 * must never be announced twice. It lives in `<data_dir>/boot-count` (one decimal line) and the
 * new number is on disk — written to a temporary file, fsync'd, renamed over the old one, the
 * directory fsync'd — before the gateway announces it: a gateway killed at any point after
 * that starts next time with a higher number, one killed before it never announced the number.
 *
 * When the history is unknown — the file unreadable or not a count, or missing from a data
 * directory a gateway already used (an outbox, an access list) — no number is safe, so the
 * gateway refuses to start with a message saying which file and how to set it.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";

export const BOOT_COUNT_FILE = "boot-count";
/** The HELLO field is a uint32 (firmware/common/link/messages.ts). */
export const MAX_BOOT = 4294967295;
/** What a gateway leaves in its data directory: their presence means it has run there before. */
const EARLIER_RUN = ["outbox", "acl.json"];

export class BootCountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BootCountError";
  }
}

/** The boot number of this start: the persisted one plus one, durable before it is returned. */
export function nextBootCount(dataDir: string): number {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, BOOT_COUNT_FILE);
  const boot = readBootCount(dataDir) + 1;
  if (boot > MAX_BOOT) throw new BootCountError(`${path}: the boot count has reached ${MAX_BOOT}, the largest a HELLO carries; ${fixHint(path)}`);
  writeDurably(path, `${boot}\n`);
  return boot;
}

/** The last boot number announced from this data directory (0: none yet). Throws BootCountError when it cannot be known. */
export function readBootCount(dataDir: string): number {
  const path = join(dataDir, BOOT_COUNT_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== "ENOENT") throw new BootCountError(`${path}: cannot read the boot count (${e.code ?? e.message}); ${fixHint(path)}`);
    const earlier = EARLIER_RUN.filter((name) => existsSync(join(dataDir, name)));
    if (earlier.length > 0) {
      throw new BootCountError(`${path} is missing, but ${dataDir} holds a previous gateway's ${earlier.join(" and ")}: the boot numbers it announced are unknown and reusing one makes the boards skip their re-sync; ${fixHint(path)}`);
    }
    return 0;
  }
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (!(value <= MAX_BOOT)) {
    const trimmed = text.trim();
    const shown = trimmed.length > 24 ? `${trimmed.slice(0, 24)}…` : trimmed;
    throw new BootCountError(`${path} does not hold a boot count (a whole number 0..${MAX_BOOT}), it holds "${shown.replace(/[^\x20-\x7e]/g, "?")}"; ${fixHint(path)}`);
  }
  return value;
}

function fixHint(path: string): string {
  return `write a number above the last boot this gateway announced (its log shows "boot" at every start) into it, e.g. echo 1000 > ${path}`;
}

/** Temporary file, fsync, rename over the old one, fsync the directory: the old or the new count, never half of one. */
function writeDurably(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(join(path, ".."), "r");
  try { fsyncSync(dir); } finally { closeSync(dir); }
}
