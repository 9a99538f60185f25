/**
 * Loading the site configuration: parse, validate, and refuse a bad file with the exact field
 * path and reason ("lanes[1].exit_controller.baud: expected one of 9600|19200|…, got 12").
 * Secrets are resolved from the environment separately (resolveSecrets) so that a missing
 * secret stops the gateway at start-up instead of falling back silently (ARCHITECTURE §7).
 */
import { readFileSync } from "node:fs";
import type { z } from "zod";
import { siteConfigSchema, type SiteConfig } from "./schema";

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid site configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** `["lanes", 1, "exit_controller", "baud"]` → `lanes[1].exit_controller.baud`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out || "(root)";
}

function show(v: unknown): string {
  if (v === undefined) return "nothing (field missing)";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}

/** One precise line per zod issue. */
export function formatIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "invalid_value":
      return `${where}: expected one of ${issue.values.map((v) => (typeof v === "string" ? JSON.stringify(v) : String(v))).join("|")}, got ${show(input)}`;
    case "invalid_type":
      return `${where}: expected ${issue.expected}, got ${show(input)}`;
    case "unrecognized_keys":
      return `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
    case "too_small":
    case "too_big":
      return `${where}: ${issue.message.replace(/^Too (small|big): /, "")}, got ${Array.isArray(input) ? `${input.length} items` : show(input)}`;
    case "custom":
      return `${where}: ${issue.message}`;
    default:
      return `${where}: ${issue.message}${input !== undefined && typeof input !== "object" ? `, got ${show(input)}` : ""}`;
  }
}

/** Validate an already-parsed object. Throws ConfigError listing every problem. */
export function parseSiteConfig(raw: unknown, source = "site config"): SiteConfig {
  const result = siteConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(source, result.error.issues.map(formatIssue));
  return result.data;
}

/** Read and validate a JSON site configuration file. */
export function loadSiteConfig(path: string): SiteConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseSiteConfig(raw, path);
}

/** Credentials the gateway needs, resolved from the environment. Never logged. */
export interface ResolvedSecrets {
  cloud: { username?: string; password?: string };
  /** username → password from the environment (users configured with password_env). */
  brokerPasswords: Map<string, string>;
}

/** Resolve every secret the config names; throws ConfigError naming each missing variable. */
export function resolveSecrets(config: SiteConfig, env: NodeJS.ProcessEnv = process.env): ResolvedSecrets {
  const problems: string[] = [];
  const need = (field: string, name: string): string | undefined => {
    const v = env[name];
    if (v === undefined || v === "") {
      problems.push(`${field}: environment variable ${name} is not set (secrets come from the environment, e.g. an EnvironmentFile)`);
      return undefined;
    }
    return v;
  };
  const cloud: ResolvedSecrets["cloud"] = {};
  if (!config.cloud.anonymous) {
    cloud.username = need("cloud.username_env", config.cloud.username_env);
    cloud.password = need("cloud.password_env", config.cloud.password_env);
  }
  const brokerPasswords = new Map<string, string>();
  config.site_broker.users.forEach((u, i) => {
    if (u.password_env === undefined) return;
    const v = need(`site_broker.users[${i}].password_env`, u.password_env);
    if (v !== undefined) brokerPasswords.set(u.username, v);
  });
  if (problems.length > 0) throw new ConfigError("environment", problems);
  return { cloud, brokerPasswords };
}
