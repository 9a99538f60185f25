/**
 * The gateway's boot count: the `boot` of the HELLO it sends each board, one more at every start
 * (docs/protocol.md). A board takes a HELLO with the boot number and sequence it already knows
 * for a repeat of the last one and skips its re-sync (presence, state, barrier), so a number
 * must never be announced twice.
 *
 * It is kept twice in the data directory, `boot-count` then `boot-count.bak` (one decimal line
 * each), each written durably — temporary file, fsync, rename over the old one, directory
 * fsync — before the gateway announces the number. A gateway killed at any point after the
 * first write starts next time with a higher number; one killed before it never announced it.
 * - both copies readable: the larger one + 1 (a kill between the two writes leaves them one apart);
 * - one copy missing or damaged: the other + 2 (the lost one may have held one more), and a warning;
 * - both missing in a fresh directory: 1. Both missing where a gateway already ran (an outbox,
 *   an access list): that gateway predates the count and announced 1 at every start: 2, and a warning;
 * - otherwise (neither copy usable) the last number is unknown: the gateway refuses to start,
 *   saying which files and how to set them.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const BOOT_COUNT_FILE = "boot-count";
export const BOOT_COUNT_BACKUP = "boot-count.bak";
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

export interface BootCount {
  boot: number;
  /** Why the number was not simply the last one + 1 (for the log), if so. */
  warning?: string;
}

type Copy = { ok: true; value: number } | { ok: false; missing: boolean; why: string };

/** The boot number of this start, durable in both copies before it is returned. */
export function nextBootCount(dataDir: string): BootCount {
  mkdirSync(dataDir, { recursive: true });
  const mainPath = join(dataDir, BOOT_COUNT_FILE), backupPath = join(dataDir, BOOT_COUNT_BACKUP);
  const main = readCopy(mainPath), backup = readCopy(backupPath);
  let boot: number, warning: string | undefined;
  if (main.ok && backup.ok) {
    boot = Math.max(main.value, backup.value) + 1;
  } else if (main.ok || backup.ok) {
    const good = main.ok ? main : (backup as { value: number });
    const lost = (main.ok ? backup : main) as { why: string };
    boot = good.value + 2;
    warning = `${lost.why}; counting on from the other copy, skipping one number in case the lost copy held it`;
  } else if (!main.ok && !backup.ok && main.missing && backup.missing) {
    const earlier = EARLIER_RUN.filter((name) => existsSync(join(dataDir, name)));
    boot = earlier.length ? 2 : 1;
    if (earlier.length) warning = `no boot count in ${dataDir}, which holds a previous gateway's ${earlier.join(" and ")}: a gateway from before the count announced boot 1 at every start; starting at 2`;
  } else {
    throw new BootCountError(`${[main, backup].map((c) => (c as { why: string }).why).join("; ")}: the last boot number announced is unknown, and reusing one makes the boards skip their re-sync; write a number above the last boot this gateway announced (its log shows "boot" at every start) into ${mainPath}, e.g. echo 1000 > ${mainPath}`);
  }
  if (boot > MAX_BOOT) throw new BootCountError(`${mainPath}: the boot count has reached ${MAX_BOOT}, the largest a HELLO carries; write 0 into ${mainPath} and ${backupPath} once the boards have been power-cycled`);
  writeDurably(mainPath, `${boot}\n`);
  writeDurably(backupPath, `${boot}\n`);
  return warning ? { boot, warning } : { boot };
}

function readCopy(path: string): Copy {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === "ENOENT" ? { ok: false, missing: true, why: `${path} is missing` } : { ok: false, missing: false, why: `${path} cannot be read (${e.code ?? e.message})` };
  }
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (value <= MAX_BOOT) return { ok: true, value };
  const trimmed = text.trim();
  const shown = (trimmed.length > 24 ? `${trimmed.slice(0, 24)}…` : trimmed).replace(/[^\x20-\x7e…]/g, "?");
  return { ok: false, missing: false, why: `${path} does not hold a boot count (a whole number 0..${MAX_BOOT}), it holds "${shown}"` };
}

/** Temporary file, fsync, rename over the old one, fsync the directory: the old or the new count, never half of one. */
function writeDurably(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeFileSync(fd, text); // all of it: writeFileSync loops over short writes
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(join(path, ".."), "r");
  try { fsyncSync(dir); } finally { closeSync(dir); }
}
