/**
 * The firmware on XS for `syspark hil run --target xs`: both boards built for the Moddable Linux
 * simulator with the SDK the user installed (`$MODDABLE`; the project never ships or builds the
 * SDK), and run in `mcsim` under `xvfb-run`, one process per board.
 *
 * Build: `mcconfig -m -p lin -t build -o <dir> manifests/<board>.json lane=<lane> linDevices=<dir>`
 * — `-t build` only builds (the default target launches the simulator, and its makefile runs
 * `pkill mcsim`, which would kill other people's simulators); each board and lane gets its own
 * `-o` (both manifests live in manifests/, the builds would overwrite each other). Builds are
 * cached by content (firmware sources, manifest, SDK path, overrides): a second run starts at once.
 */
import { createHash } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { killProcessGroup, spawnOwned, which } from "../../host/tools";
import { InfrastructureError } from "../harness/errors";

export type XsBoardKind = "exit-controller" | "barrier-executor";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface ModdableTools {
  moddable: string;
  mcconfig: string;
  mcsim: string;
  xvfbRun: string;
}

/** What `--target xs` needs, or an error saying what to install. */
export function moddableTools(env: NodeJS.ProcessEnv = process.env): ModdableTools {
  const moddable = env.MODDABLE || undefined;
  const missing: string[] = [];
  if (!moddable) missing.push("$MODDABLE is not set: install the Moddable SDK and build its Linux tools (https://github.com/Moddable-OpenSource/moddable/blob/public/documentation/Moddable%20SDK%20-%20Getting%20Started.md#linux), then export MODDABLE=<sdk>");
  const bin = moddable ? join(moddable, "build/bin/lin/release") : "";
  const mcconfig = bin ? join(bin, "mcconfig") : "";
  const mcsim = bin ? join(bin, "mcsim") : "";
  if (moddable && !existsSync(mcconfig)) missing.push(`${mcconfig} does not exist: build the SDK's Linux tools (cd $MODDABLE/build/makefiles/lin && make, with $MODDABLE/build/bin/lin/release on PATH)`);
  if (moddable && !existsSync(mcsim)) missing.push(`${mcsim} does not exist: build the SDK's Linux tools (mcsim is one of them)`);
  if (!which("tsc")) missing.push("tsc is not on PATH: mcconfig compiles the firmware's .ts modules with it (npm install -g typescript, version 6 or later)");
  const xvfbRun = which("xvfb-run");
  if (!xvfbRun) missing.push("xvfb-run is not installed: mcsim needs a display (apt-get install -y xvfb xauth)");
  if (!which("stdbuf")) missing.push("stdbuf is not installed (coreutils)");
  if (!which("socat")) missing.push("socat is not installed: the boards' links and field channels are pty pairs (apt-get install -y socat)");
  if (missing.length) throw new InfrastructureError(`--target xs runs the firmware on XS and needs the Moddable SDK:\n  - ${missing.join("\n  - ")}`);
  return { moddable: moddable as string, mcconfig, mcsim, xvfbRun: xvfbRun as string };
}

/** Every source file mcconfig may read under `dir`, in a stable order. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /\.(ts|js|json|v)$/.test(f)).sort().map((f) => join(dir, f));
}

/** Content key of a build: what mcconfig reads from SysPark, the SDK it uses, the overrides. */
function buildKey(tools: ModdableTools, board: XsBoardKind, overrides: Record<string, string>): string {
  const h = createHash("sha256");
  h.update(`${tools.moddable}\n${board}\n${JSON.stringify(overrides)}\n`);
  for (const f of [...sourceFiles(join(ROOT, "firmware")), join(ROOT, "manifests", `${board}.json`)]) h.update(`${relative(ROOT, f)}\n`).update(readFileSync(f));
  return h.digest("hex").slice(0, 16);
}

export interface LinBuild {
  /** The simulator app (`<dir>/bin/lin/mc/release/manifests/mc.so`). */
  app: string;
  /** Warnings mcconfig and the compilers printed about SysPark's own files (not the SDK's). */
  ownWarnings: string[];
  cached: boolean;
}

/** Builds one board for lin (or finds the cached build); `progress` gets one line per step. */
export async function buildLinFirmware(tools: ModdableTools, board: XsBoardKind, overrides: { lane: string; linDevices: string }, progress: (line: string) => void = () => undefined): Promise<LinBuild> {
  const key = buildKey(tools, board, overrides);
  const dir = join(tmpdir(), "syspark-xs-build", `${board}-${overrides.lane}-${key}`);
  const app = join(dir, "bin/lin/mc/release/manifests/mc.so");
  const warningsFile = join(dir, "own-warnings.json");
  if (existsSync(app) && existsSync(warningsFile)) return { app, ownWarnings: JSON.parse(readFileSync(warningsFile, "utf8")) as string[], cached: true };
  mkdirSync(dir, { recursive: true });
  const args = ["-m", "-p", "lin", "-t", "build", "-o", dir, join(ROOT, "manifests", `${board}.json`), `lane=${overrides.lane}`, `linDevices=${overrides.linDevices}`];
  progress(`xs: building ${board} ${overrides.lane} for lin (mcconfig ${args.join(" ")}), ~30 s`);
  const logPath = join(dir, "build.log");
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(tools.mcconfig, args, { cwd: ROOT, env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    child.once("error", (err) => reject(new InfrastructureError(`mcconfig could not start: ${err.message}`)));
    child.once("exit", (code) => {
      writeFileSync(logPath, text);
      if (code === 0 && existsSync(app)) resolve(text);
      else reject(new InfrastructureError(`mcconfig failed for ${board} ${overrides.lane} (exit ${code}; log ${logPath}):\n${text.split("\n").slice(-15).join("\n")}`));
    });
  });
  const ownWarnings = output.split("\n").filter((l) => /warning/i.test(l) && (l.includes(join(ROOT, "firmware")) || l.includes("../firmware/") || /\bfirmware\//.test(l)));
  writeFileSync(warningsFile, JSON.stringify(ownWarnings));
  return { app, ownWarnings, cached: false };
}

/**
 * One board in `mcsim` under `xvfb-run`, its trace() output in a log file. A power cycle kills the
 * process group and starts it again: the firmware boots from scratch, its boot counter (kept in
 * the simulator's preferences) goes up.
 */
export class XsBoardProcess {
  private child: ChildProcess | undefined;
  starts = 0;

  constructor(private readonly tools: ModdableTools, private readonly app: string, private readonly logPath: string) {}

  /**
   * Starts the board and resolves once it traced its boot line (`… boot <n>`). Boards start one
   * after the other: two `xvfb-run -a` started together can pick the same display number (one
   * Xvfb fails and its mcsim segfaults), and two firmwares booting together both rewrite the
   * simulator's one preferences file (lin's Preference saves the whole file), losing a boot count.
   */
  start(timeoutMs = 20_000): Promise<void> {
    const log = createWriteStream(this.logPath, { flags: "a" });
    log.write(`# ${new Date().toISOString()} start ${++this.starts}: xvfb-run -a stdbuf -oL ${this.tools.mcsim} ${this.app}\n`);
    // Its own process group: a power cycle kills xvfb-run, Xvfb and mcsim together.
    const child = spawnOwned(this.tools.xvfbRun, ["-a", "stdbuf", "-oL", this.tools.mcsim, this.app], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.child = child;
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    return new Promise<void>((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => fail(`no boot line within ${timeoutMs} ms`), timeoutMs);
      const fail = (why: string) => { clearTimeout(timer); reject(new InfrastructureError(`mcsim ${this.app}: ${why} (log ${this.logPath})`)); };
      child.stdout?.on("data", (d: Buffer) => {
        seen = (seen + d.toString()).slice(-4096);
        if (/ boot \d+\n/.test(seen)) { clearTimeout(timer); resolve(); }
      });
      child.once("exit", (code, signal) => {
        log.end(`# exited (${code ?? signal})\n`);
        fail(`exited (${code ?? signal}) before its boot line`);
      });
    });
  }

  get alive(): boolean { return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null; }

  async powerCycle(offMs = 200): Promise<void> {
    await this.stop();
    await new Promise((r) => setTimeout(r, offMs));
    await this.start();
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (c) await killProcessGroup(c);
  }
}
