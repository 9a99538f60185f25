/**
 * The cars standing on an exit loop, kept under the site's data directory. A restart of
 * `syspark up` (Ctrl-C, a crash) restarts the software, not the car park: a driver who was
 * paying on their phone is still on the loop afterwards, and the simulated lane must show that.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FILE = "vehicles-at-loop.json";

/** lane id → plate of the car on its exit loop. A file that cannot be read is named in the error. */
export function loadParkedVehicles(dataDir: string): Record<string, string> {
  const file = join(dataDir, FILE);
  if (!existsSync(file)) return {};
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v) || !Object.values(v).every((p) => typeof p === "string")) throw new Error("not an object of lane → plate");
    return v as Record<string, string>;
  } catch (err) {
    throw new Error(`${file} is not usable (${(err as Error).message}): move it away to start with empty lanes`, { cause: err });
  }
}

/** Replaces the record (temp file + rename: a crash leaves the old or the new one). */
export function saveParkedVehicles(dataDir: string, byLane: Record<string, string>): void {
  const file = join(dataDir, FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(byLane));
  renameSync(`${file}.tmp`, file);
}
