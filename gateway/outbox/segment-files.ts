/**
 * The outbox directory's files, below the Outbox's bookkeeping: names, the lock, whole writes
 * and directory syncs, and the recovery scan that reads what a crash left (the watermark in
 * done.log, the segments, a torn last record). Layout and guarantees: outbox.ts.
 */
import { open, readdir, readFile, stat, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../host/log";
import { pidAlive } from "../../host/pid";
import type { Segment } from "./cursor";
import { decodeRecord } from "./record";

const SEG_RE = /^seg-(\d{16})\.log$/;
export const DONE_FILE = "done.log";
const LOCK_FILE = "LOCK";
/** Outbox files hold identities (plates, badges): owner-only. */
export const FILE_MODE = 0o600;

export function segName(start: number): string {
  return `seg-${String(start).padStart(16, "0")}.log`;
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    off += bytesWritten;
  }
}

async function bootId(): Promise<string> {
  return (await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => "unknown")).trim();
}

/**
 * One process per outbox directory: two writers would interleave sequence numbers. A lock left
 * by a process that died (kill -9, power loss: other boot id) is taken over.
 */
export async function takeLock(dir: string): Promise<string> {
  const path = join(dir, LOCK_FILE);
  const me = `${process.pid} ${await bootId()}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, me, { flag: "wx", mode: FILE_MODE });
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const [pidText, boot] = (await readFile(path, "utf8").catch(() => "")).trim().split(" ");
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && boot === (await bootId()) && pidAlive(pid)) {
      throw new Error(`outbox ${dir} is in use by process ${pid}${pid === process.pid ? " (this process: close the other Outbox first)" : ""}`);
    }
    await unlink(path).catch(() => undefined); // stale
  }
  throw new Error(`could not lock outbox ${dir}`);
}

/** The delivery watermark recorded in done.log: its largest complete number (0 when absent). */
export async function readWatermark(donePath: string): Promise<number> {
  let done = 0;
  try {
    const text = await readFile(donePath, "utf8");
    // The last line may be torn (no newline yet): only complete ones count.
    for (const line of text.split("\n").slice(0, -1)) {
      if (/^\d{1,16}$/.test(line)) done = Math.max(done, Number(line));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return done;
}

/** The segments in `dir` in seq order; the last one with its torn tail already cut off (see cutTornTail). */
export async function scanSegments(dir: string, log: Logger): Promise<{ segments: Segment[]; lastSeq: number | undefined; lastSize: number }> {
  const names = (await readdir(dir)).filter((n) => SEG_RE.test(n)).sort();
  const segments: Segment[] = [];
  for (const n of names) {
    const path = join(dir, n);
    segments.push({ start: Number(SEG_RE.exec(n)![1]), path, size: (await stat(path)).size });
  }
  if (segments.length === 0) return { segments, lastSeq: undefined, lastSize: 0 };
  const last = segments[segments.length - 1];
  const { seq, size } = await cutTornTail(last, log);
  last.size = size;
  return { segments, lastSeq: seq, lastSize: size };
}

/**
 * Read the last segment up to its last valid record and truncate whatever follows (kill -9 or
 * power loss mid-write). What is cut was never acknowledged: append() resolves after the fsync.
 * Returns the last valid seq (start - 1 when none) and the valid size.
 */
async function cutTornTail(last: Segment, log: Logger): Promise<{ seq: number; size: number }> {
  const buf = await readFile(last.path);
  let pos = 0;
  let seq = last.start - 1;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const rec = decodeRecord(buf.toString("utf8", pos, nl));
    if (!rec) break;
    seq = rec.seq;
    pos = nl + 1;
  }
  if (pos < buf.length) {
    log.warn({ segment: last.path, dropped_bytes: buf.length - pos }, "cut a torn record off the end of the outbox (it was never acknowledged)");
    const fh = await open(last.path, "r+");
    try {
      await fh.truncate(pos);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  return { seq, size: pos };
}
