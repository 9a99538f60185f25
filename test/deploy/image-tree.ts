/**
 * The cloud image's files without a container engine: what the Dockerfile's `COPY . .` takes
 * (the repository less .dockerignore, matched as Docker matches it) and the node_modules its
 * `npm ci --omit=dev` installs (package-lock.json's packages that are not dev-only, linked from
 * this checkout's node_modules). A command that runs in this tree runs in the image — short of
 * the operating system, which is Debian and Node 20 here as in node:20-bookworm-slim.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";

/** The patterns of a .dockerignore, in order (comments and blank lines dropped). */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** A pattern as Docker reads it for a top-level name: `*` and `?` within one path segment. */
function patternRegExp(pattern: string): RegExp {
  const body = pattern.replace(/^\.\//, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
  return new RegExp(`^${body}$`);
}

/**
 * Whether Docker leaves the top-level entry `name` out of the build context. Only one-segment
 * patterns without `!` are supported (the test refuses others): each excludes the entries of the
 * context's root whose name it matches, with everything under them.
 */
export function excludedByDockerignore(patterns: string[], name: string): boolean {
  return patterns.some((p) => patternRegExp(p).test(name));
}

/** Packages `npm ci --omit=dev` installs at the top of node_modules (package-lock.json v2/v3). */
export function productionPackages(lockText: string): string[] {
  const lock = JSON.parse(lockText) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, p]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && p.dev !== true && p.link !== true)
    .map(([path]) => path.slice("node_modules/".length));
}

/** What `docker build` would put in /app, laid out in `dest`; the entries copied are returned. */
export function layImageTree(root: string, dest: string, patterns: string[]): string[] {
  const copied: string[] = [];
  for (const name of readdirSync(root)) {
    if (excludedByDockerignore(patterns, name) || name === "node_modules") continue;
    cpSync(join(root, name), join(dest, name), { recursive: true });
    copied.push(name);
  }
  for (const pkg of productionPackages(readFileSync(join(root, "package-lock.json"), "utf8"))) {
    const target = join(root, "node_modules", pkg);
    if (!existsSync(target)) continue; // an optional package for another platform (npm skips it too)
    const link = join(dest, "node_modules", pkg);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(target, link, "dir");
  }
  return copied;
}
