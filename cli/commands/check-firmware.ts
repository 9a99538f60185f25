import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("check-firmware")
    .description("type-check firmware/ against the Moddable typings, refuse Node/npm use under firmware/, check the manifests")
    .option("--root <dir>", "project root", process.cwd())
    .action(async (opts: { root: string }) => {
      const { checkManifest, scanFirmwareSources, typeCheck } = await import("../../host/firmware-check");
      const started = Date.now();
      const diagnostics = typeCheck(join(opts.root, "firmware", "tsconfig.json"));
      const findings = scanFirmwareSources(join(opts.root, "firmware"));
      const manifests = readdirSync(join(opts.root, "manifests")).filter((f) => f.endsWith(".json"));
      for (const m of manifests) findings.push(...checkManifest(join(opts.root, "manifests", m)));
      for (const d of diagnostics) console.error(`type error: ${d}`);
      for (const f of findings) console.error(`${f.file}:${f.line} ${f.message}`);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (diagnostics.length || findings.length) {
        console.error(`check-firmware: FAILED — ${diagnostics.length} type error(s), ${findings.length} finding(s) (${seconds} s)`);
        process.exitCode = 1;
        return;
      }
      console.log(`check-firmware: OK — firmware/ type-checks against @moddable/typings, no Node or npm use, ${manifests.length} manifest(s) consistent (${seconds} s)`);
    });
}
