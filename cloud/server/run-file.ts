/**
 * The "running" file of a cloud on embedded PGlite: `<dataDir>/syspark-cloud.run.json`, written
 * when the cloud is up (its HTTP API answers) and removed on a clean stop. PGlite is held by
 * one process, so a `syspark` command that finds this file with a live pid knows the database
 * is busy and where to reach the cloud that holds it (its API) instead of opening the files —
 * or, before this file existed, creating a database of its own elsewhere.
 *
 * It holds no secret: pid, URL, instance, start time. A file whose pid is gone (SIGKILL, power
 * loss) is stale and ignored; the next start overwrites it.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { pidAlive } from "../../host/pid";

export const RUN_FILE = "syspark-cloud.run.json";

const RunInfo = z.object({
  pid: z.number().int().positive(),
  url: z.string().url(),
  instance: z.string().max(64).optional(),
  started_at: z.string().optional(),
});
export type RunInfo = z.infer<typeof RunInfo>;

export function runFilePath(dataDir: string): string {
  return join(dataDir, RUN_FILE);
}

/** Writes the file (atomically: a reader sees all of it or none) and returns its remover. */
export function writeRunFile(dataDir: string, info: { url: string; instance?: string; pid?: number }): () => Promise<void> {
  const file = runFilePath(dataDir);
  const body: RunInfo = { pid: info.pid ?? process.pid, url: info.url, ...(info.instance ? { instance: info.instance } : {}), started_at: new Date().toISOString() };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(body) + "\n");
  renameSync(tmp, file);
  return async () => {
    // Only our own file: a cloud started after us on the same directory (after a kill) owns its own.
    if (readRunFile(dataDir)?.pid === body.pid) rmSync(file, { force: true });
  };
}

/** The file's content, or undefined when it is absent or unreadable (a half-written or foreign file is no proof of a running cloud). */
export function readRunFile(dataDir: string): RunInfo | undefined {
  let text: string;
  try {
    text = readFileSync(runFilePath(dataDir), "utf8");
  } catch {
    return undefined;
  }
  try {
    const r = RunInfo.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}


/** The cloud running on `dataDir`, if its run file names a live process. */
export function runningCloud(dataDir: string): RunInfo | undefined {
  const info = readRunFile(dataDir);
  return info && pidAlive(info.pid) ? info : undefined;
}
