/** The cloud bench's flags (bench/cloud.ts), read and refused with a message naming the flag. */
import { intArg } from "./_args";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Most `syspark cloud` processes one run puts behind the balancer. */
export const MAX_INSTANCES = 8;

export interface BenchFlags {
  load: { kind: "closed"; concurrency: number } | { kind: "open"; rate: number };
  exits: number;
  seconds: number | null;
  sites: number;
  lanes: number;
  /** MQTT consumer connections of each instance. */
  consumers: number;
  /** One run per entry, in that order, each with a fresh set of parts. */
  instances: number[];
  logLevel: string;
  profile: boolean;
}

/** `--instances 1,2,3`: whole numbers from 1 to MAX_INSTANCES, comma-separated; default [1]. */
export function instancesArg(args: string[]): number[] {
  const i = args.indexOf("--instances");
  if (i === -1) return [1];
  const raw = args[i + 1] ?? "";
  const counts = raw.split(",").map((x) => x.trim());
  const bad = counts.find((x) => !/^\d+$/.test(x) || Number(x) < 1 || Number(x) > MAX_INSTANCES);
  if (raw === "" || bad !== undefined) throw new Error(`--instances must be a comma-separated list of whole numbers from 1 to ${MAX_INSTANCES} (e.g. 1,2,3), got "${raw}"${bad !== undefined && raw !== "" ? ` ("${bad}" is not one)` : ""}`);
  return counts.map(Number);
}

export function flags(args: string[]): BenchFlags {
  const open = args.includes("--rate");
  if (open && (args.includes("--concurrency") || args.includes("--n"))) throw new Error("--rate (open loop, with --seconds) and --concurrency / --n (closed loop) do not go together: choose one");
  if (!open && args.includes("--seconds")) throw new Error("--seconds goes with --rate (the open loop)");
  const li = args.indexOf("--log-level");
  const logLevel = li === -1 ? "info" : (args[li + 1] ?? "");
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  const instances = instancesArg(args);
  const profile = args.includes("--profile");
  if (profile && instances.some((n) => n !== 1)) throw new Error("--profile records one cloud instance's profile: use it with --instances 1");
  const common = { sites: intArg(args, "--sites", 20), lanes: intArg(args, "--lanes", 4), consumers: intArg(args, "--consumers", 4), instances, logLevel, profile };
  if (common.consumers > 32) throw new Error(`--consumers must be at most 32 (syspark cloud --mqtt-consumers; per instance), got ${common.consumers}`);
  if (open) {
    const rate = intArg(args, "--rate", 100);
    const seconds = intArg(args, "--seconds", 15);
    return { load: { kind: "open", rate }, exits: rate * seconds, seconds, ...common };
  }
  return { load: { kind: "closed", concurrency: intArg(args, "--concurrency", 64) }, exits: intArg(args, "--n", 2000), seconds: null, ...common };
}
