#!/usr/bin/env node
// `npm run bench -- <name>` runs bench/<name>.ts. Each benchmark prints a human summary and,
// as its last line, one JSON object with its figures.
import { readdirSync } from "node:fs";
import { register } from "tsx/esm/api";

const here = new URL("../bench/", import.meta.url);
const available = readdirSync(here).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).map((f) => f.slice(0, -3));
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>   (one of: ${available.join(", ") || "none yet"})`);
  process.exit(2);
}
register();
const mod = await import(new URL(`${name}.ts`, here).href);
await mod.run(process.argv.slice(3));
