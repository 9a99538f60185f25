/**
 * Reads a board's configuration from its Moddable manifest, the one source of truth for
 * tunables: the top-level `config` merged with a platform block's `config`, the way mcconfig
 * merges them. The Node simulator uses the `lin` block (the simulator platform).
 */
import { readFileSync } from "node:fs";

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function mergeConfig(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? mergeConfig(out[k] as Json, v) : v;
  return out;
}

export function manifestPath(board: string): URL {
  return new URL(`../../manifests/${board}.json`, import.meta.url);
}

export function loadManifestConfig(board: string, platform = "lin", overrides: Json = {}): Json {
  const manifest = JSON.parse(readFileSync(manifestPath(board), "utf8")) as Json;
  const base = isObject(manifest.config) ? manifest.config : {};
  const platforms = isObject(manifest.platforms) ? manifest.platforms : {};
  const block = isObject(platforms[platform]) ? (platforms[platform] as Json) : {};
  const platformConfig = isObject(block.config) ? block.config : {};
  return mergeConfig(mergeConfig(base, platformConfig), overrides);
}
