/**
 * The Node versions SysPark promises are ones its dependencies run on: the README's line, the
 * `engines` of package.json, and the `engines` of every dependency installed (npm ci would warn
 * EBADENGINE where a dependency refuses the running Node, and the dependency may well break).
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import semver from "semver";

const root = new URL("../", import.meta.url);
const json = (path: string) => JSON.parse(readFileSync(new URL(path, root), "utf8"));
const pkg = json("package.json") as { engines: { node: string }; dependencies: Record<string, string>; devDependencies: Record<string, string> };
const engines = pkg.engines.node;

/** "Node 20.19+, 22.13+ or 24+" in the README: each line from its version on, the last one open-ended. */
function readmePromise(): string {
  const m = /SysPark needs Node ((?:\d+(?:\.\d+)?\+(?:, | or )?)+)/.exec(readFileSync(new URL("README.md", root), "utf8"));
  if (!m) throw new Error('README.md has no "SysPark needs Node <versions>" line');
  const lines = m[1].split(/, | or /).map((v) => semver.coerce(v.replace("+", ""))!);
  return lines.map((v, i) => (i === lines.length - 1 ? `>=${v.version}` : `^${v.version}`)).join(" || ");
}

/** What npm says a package needs of Node: it must take every version SysPark promises. */
function refusal(name: string, version: string, range: string | undefined): string | undefined {
  if (!range || semver.subset(engines, range)) return undefined;
  return `${name}@${version} needs Node "${range}", but package.json engines promise "${engines}"`;
}

describe("dependencies run on the Node versions SysPark promises", () => {
  it("the README and package.json engines promise the same Node versions, the running one among them", () => {
    const promise = readmePromise();
    expect(semver.subset(promise, engines) && semver.subset(engines, promise), `README: ${promise}; engines: ${engines}`).to.equal(true);
    expect(semver.satisfies(process.version, engines), `this Node ${process.version} is outside engines ${engines}`).to.equal(true);
  });

  it("every direct dependency, as installed, accepts every Node version engines promise", () => {
    const refused = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).flatMap((name) => {
      const dep = json(`node_modules/${name}/package.json`) as { version: string; engines?: { node?: string } };
      return refusal(name, dep.version, dep.engines?.node) ?? [];
    });
    expect(refused).to.deep.equal([]);
  });

  it("so does every package npm ci installs from package-lock.json (dependencies of dependencies too)", () => {
    const lock = json("package-lock.json") as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
    const refused = Object.entries(lock.packages).flatMap(([path, p]) => {
      const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
      return path === "" ? [] : refusal(path.replace(/^.*node_modules\//, ""), p.version ?? "?", range) ?? [];
    });
    expect(refused).to.deep.equal([]);
  });
});
