/**
 * `syspark check-firmware`: everything under firmware/ must build for Moddable XS.
 * 1. It type-checks against the Moddable typings only (firmware/tsconfig.json: no Node types),
 *    the way mcconfig's tsc sees it.
 * 2. No Node built-in, npm package, `process`, `Buffer` or `require` anywhere under firmware/
 *    (imports are parsed with the TypeScript compiler, not grepped).
 * 3. Every module a manifest names exists.
 * 4. Each platform block's pin and UART map can be opened on that hardware (pin-map-check.ts).
 */
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { checkPinMap } from "./pin-map-check";

/** Module specifiers XS provides (host modules, ECMA-419 I/O, Moddable runtime modules). */
const XS_MODULE = /^(firmware\/|embedded:|mc\/|timer$|preference$|time$|instrumentation$|text\/(decoder|encoder)$|crc$|base64$|hex$|flash$|debug\/|pins\/)/;
const FORBIDDEN_GLOBALS = /\b(process\.|Buffer\b|require\()/;

export interface Finding {
  file: string;
  line: number;
  message: string;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts")).map((f) => join(dir, f));
}

/** Import and global-use findings for every .ts file under `firmwareDir`. */
export function scanFirmwareSources(firmwareDir: string): Finding[] {
  const findings: Finding[] = [];
  for (const file of walk(firmwareDir)) {
    const text = readFileSync(file, "utf8");
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const rel = relative(process.cwd(), file);
    const visit = (node: ts.Node) => {
      let specifier: string | undefined;
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        specifier = node.moduleSpecifier.text;
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        specifier = node.arguments[0].text;
      }
      if (specifier !== undefined) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        if (specifier.startsWith("node:")) findings.push({ file: rel, line, message: `Node built-in "${specifier}" cannot run on XS` });
        else if (specifier.startsWith(".")) {
          const target = resolve(dirname(file), specifier);
          if (!existsSync(target + ".ts") && !existsSync(join(target, "index.ts"))) findings.push({ file: rel, line, message: `"${specifier}" does not resolve to a .ts module` });
          else if (!resolve(target).startsWith(resolve(firmwareDir))) findings.push({ file: rel, line, message: `"${specifier}" reaches outside firmware/` });
        } else if (!XS_MODULE.test(specifier)) findings.push({ file: rel, line, message: `"${specifier}" is an npm or Node module; firmware may import only relative modules and XS modules` });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    text.split("\n").forEach((lineText, i) => {
      const code = lineText.replace(/\/\/.*$/, "");
      if (FORBIDDEN_GLOBALS.test(code) && !/^\s*\*/.test(code)) findings.push({ file: rel, line: i + 1, message: `uses ${FORBIDDEN_GLOBALS.exec(code)![1]} (not available on XS)` });
    });
  }
  return findings;
}

/** Type-check with a tsconfig; returns formatted diagnostics. */
export function typeCheck(tsconfigPath: string): string[] {
  const config = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
  if (config.error) return [ts.flattenDiagnosticMessageText(config.error.messageText, "\n")];
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, dirname(tsconfigPath));
  const program = ts.createProgram(parsed.fileNames, parsed.options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.map((d) => {
    if (!d.file || d.start === undefined) return ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${relative(process.cwd(), d.file.fileName)}:${line + 1}:${character + 1} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}

/** Every module path named by a manifest (outside $(MODDABLE)) must exist, and every platform's pin map must be valid. */
export function checkManifest(manifestPath: string): Finding[] {
  const findings: Finding[] = [];
  const rel = relative(process.cwd(), manifestPath);
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch (err) {
    return [{ file: rel, line: 1, message: `not valid JSON: ${(err as Error).message}` }];
  }
  const modulesBlocks: Record<string, unknown>[] = [];
  if (manifest.modules) modulesBlocks.push(manifest.modules as Record<string, unknown>);
  for (const block of Object.values((manifest.platforms ?? {}) as Record<string, Record<string, unknown>>)) {
    if (block.modules) modulesBlocks.push(block.modules as Record<string, unknown>);
  }
  for (const modules of modulesBlocks) {
    for (const [name, value] of Object.entries(modules)) {
      for (const path of Array.isArray(value) ? value : [value]) {
        if (typeof path !== "string" || path.includes("$(")) continue;
        const full = resolve(dirname(manifestPath), path);
        const ok = path.endsWith("*") ? existsSync(dirname(full)) : existsSync(full + ".ts") || existsSync(full + ".js");
        if (!ok) findings.push({ file: rel, line: 1, message: `module "${name}" → ${path} does not exist` });
      }
    }
  }
  const platforms = Object.keys((manifest.platforms ?? {}) as object);
  for (const required of ["esp32", "pico", "lin"]) {
    if (!platforms.includes(required)) findings.push({ file: rel, line: 1, message: `no "${required}" platform block` });
  }
  for (const message of checkPinMap(manifest, rel)) findings.push({ file: rel, line: 1, message });
  return findings;
}
