/**
 * The gateway box's log files (host/log.ts openRotatingLogFile, pino-roll underneath; the
 * config's `log` section and `syspark gateway --log-file`, docs/gateway.md §7): rotation by size
 * keeping `keep` old files (those of earlier runs too), every line whole JSON with the secrets
 * redacted, the newest lines in the newest file, a place that cannot be written refused by the
 * setting's name, and the last line of a clean stop in the file.
 */
import { expect } from "chai";
import type { ChildProcess } from "node:child_process";
import { once, type EventEmitter } from "node:events";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { openGatewayLog } from "../../cli/commands/gateway";
import { ConfigError, parseSiteConfig } from "../../gateway/config/load";
import { createLogger, openRotatingLogFile } from "../../host/log";
import { freePort } from "../../host/ports";
import { spawnOwned } from "../../host/tools";
import { tempDir, waitFor } from "./helpers";

const ROOT = resolve(import.meta.dirname, "../..");
const SYSPARK = join(ROOT, "bin", "syspark.js");
const example = JSON.parse(readFileSync(join(ROOT, "gateway/config/examples/site.json"), "utf8")) as Record<string, unknown>;

/** The numbered files pino-roll wrote for base `<dir>/<stem>.log`, oldest first. */
function numbered(dir: string, stem = "gateway"): { name: string; n: number; lines: string[]; bytes: number }[] {
  return readdirSync(dir)
    .map((name) => ({ name, m: new RegExp(`^${stem}\\.(\\d+)\\.log$`).exec(name) }))
    .filter((f) => f.m !== null)
    .map((f) => {
      const text = readFileSync(join(dir, f.name), "utf8");
      return { name: f.name, n: Number(f.m![1]), lines: text.split("\n").filter((l) => l !== ""), bytes: statSync(join(dir, f.name)).size };
    })
    .sort((a, b) => a.n - b.n);
}

function logProblems(log: unknown): string[] {
  try {
    parseSiteConfig({ ...example, log });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config was accepted");
}

describe("gateway log files (rotation)", function () {
  this.timeout(60_000);
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => { tmp = tempDir("log-rotation"); });
  afterEach(() => tmp.cleanup());

  it("rotates at max_size into numbered files, keeps `keep` old ones, every line JSON with secrets redacted, the newest lines last", async () => {
    const dir = join(tmp.dir, "not-yet", "logs"); // created by the opener
    const out = await openRotatingLogFile({ file: join(dir, "gateway.log"), maxBytes: 1024, keep: 2, field: "log.file" });
    const log = createLogger("gateway", "info", out.stream);
    const total = 120;
    for (let seq = 0; seq < total; seq++) {
      log.info({ seq, password: "hunter2", cloud: { secret: "s3cret" } }, "a line of about one hundred and fifty bytes");
      // One line per write, as a gateway logs: pino-roll checks the size after each write.
      await once(out.stream as unknown as EventEmitter, "write");
    }
    await out.close();

    const files = numbered(dir);
    // 120 lines of ~190 bytes: about 22 files were written, only the newest 1 + keep remain.
    expect(files.map((f) => f.n), "the numbers left").to.have.length(3);
    expect(files[2].n - files[0].n).to.equal(2);
    expect(files[0].n).to.be.greaterThan(5);
    expect(readlinkSync(join(dir, "current.log"))).to.equal(files[2].name);
    for (const f of files.slice(0, -1)) expect(f.bytes, `${f.name} was started before it was full`).to.be.at.least(1024);
    const seqs: number[] = [];
    for (const f of files) {
      for (const line of f.lines) {
        const entry = JSON.parse(line) as { seq: number; password: string; cloud: { secret: string }; name: string };
        expect(entry.name).to.equal("gateway");
        expect(entry.password).to.equal("****");
        expect(entry.cloud.secret).to.equal("****");
        seqs.push(entry.seq);
      }
      expect(readFileSync(join(dir, f.name), "utf8")).not.to.match(/hunter2|s3cret/);
    }
    // Oldest file first: the lines kept are the last ones written, in order, the newest in the newest file.
    expect(seqs).to.deep.equal(Array.from({ length: seqs.length }, (_, i) => total - seqs.length + i));
    // The newest file holds the last line, unless that line filled the file: then the newest is
    // the empty one just started (pino-roll rotates as soon as a write reaches max_size).
    const newest = files[2].lines.length > 0 ? files[2] : files[1];
    if (newest !== files[2]) expect(files[1].bytes).to.be.at.least(1024);
    expect(JSON.parse(newest.lines.at(-1)!).seq).to.equal(total - 1);
  });

  it("a restart appends to the newest file and deletes the files of earlier runs past `keep`", async () => {
    const dir = join(tmp.dir, "logs");
    mkdirSync(dir);
    for (let n = 1; n <= 5; n++) writeFileSync(join(dir, `gateway.${n}.log`), `${JSON.stringify({ run: "before", n })}\n`);
    writeFileSync(join(dir, "notes.txt"), "not a log file\n");
    const out = await openRotatingLogFile({ file: join(dir, "gateway.log"), maxBytes: 1024 ** 2, keep: 1 });
    createLogger("gateway", "info", out.stream).info({ run: "after" }, "started again");
    await out.close();
    expect(numbered(dir).map((f) => f.n)).to.deep.equal([4, 5]);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).to.equal("not a log file\n");
    const last = numbered(dir)[1].lines.map((l) => JSON.parse(l) as { run: string });
    expect(last.map((l) => l.run)).to.deep.equal(["before", "after"]);
  });

  it("close() resolves only once every buffered line is in the file (a clean stop loses nothing)", async () => {
    const dir = join(tmp.dir, "logs");
    const out = await openRotatingLogFile({ file: join(dir, "gateway.log"), maxBytes: 1024 ** 3, keep: 1 });
    const log = createLogger("gateway", "info", out.stream);
    // Logged in one go: they pile up in the stream's buffer faster than the file takes them.
    for (let seq = 0; seq < 5000; seq++) log.info({ seq }, "burst");
    await out.close();
    const lines = numbered(dir).flatMap((f) => f.lines);
    expect(lines).to.have.length(5000);
    expect(JSON.parse(lines[4999]).seq).to.equal(4999);
  });

  it("refuses a place it cannot write, naming the setting (directory not creatable, file not openable)", async () => {
    writeFileSync(join(tmp.dir, "a-file"), "");
    let err = await openRotatingLogFile({ file: join(tmp.dir, "a-file", "logs", "gateway.log"), maxBytes: 1024, keep: 1, field: "log.file" }).then(() => undefined, (e: Error) => e);
    expect(err?.message).to.match(/^log\.file: cannot write log files at .*a-file\/logs\/gateway\.log: ENOTDIR/);
    // A directory where the file should be: even root cannot open it for writing.
    mkdirSync(join(tmp.dir, "logs", "gateway.1.log"), { recursive: true });
    err = await openRotatingLogFile({ file: join(tmp.dir, "logs", "gateway.log"), maxBytes: 1024, keep: 1, field: "--log-file" }).then(() => undefined, (e: Error) => e);
    expect(err?.message).to.match(/^--log-file: cannot write log files at .*: EISDIR/);
  });

  it("config: a log section is optional, sizes in k/m/g or bytes, defaults 10m and 5; bad max_size, keep, file and level refused by name", () => {
    expect(parseSiteConfig({ ...example, log: undefined }).log).to.equal(undefined);
    expect(parseSiteConfig({ ...example, log: { file: "/var/log/syspark/gateway.log" } }).log).to.deep.equal({ file: "/var/log/syspark/gateway.log", max_size: 10 * 1024 ** 2, keep: 5 });
    expect(parseSiteConfig({ ...example, log: { file: "/l/g.log", max_size: "512k", keep: 3, level: "debug" } }).log).to.deep.equal({ file: "/l/g.log", max_size: 512 * 1024, keep: 3, level: "debug" });
    expect(parseSiteConfig({ ...example, log: { file: "/l/g.log", max_size: 4096 } }).log?.max_size).to.equal(4096);
    expect(parseSiteConfig(example).log, "the example has a log section").to.deep.include({ file: "/var/log/syspark/gateway.log" });

    expect(logProblems({ file: "/l/g.log", max_size: "10" })).to.deep.equal(['log.max_size: must be a size such as "10m", "512k" or "1g" (k, m, g = KiB, MiB, GiB), or a whole number of bytes, got "10"']);
    expect(logProblems({ file: "/l/g.log", max_size: "ten megs" })[0]).to.match(/^log\.max_size: must be a size such as/);
    expect(logProblems({ file: "/l/g.log", max_size: 100 })).to.deep.equal(["log.max_size: must be between 1k (1024 bytes) and 1g, got 100"]);
    expect(logProblems({ file: "/l/g.log", max_size: "2g" })).to.deep.equal(['log.max_size: must be between 1k (1024 bytes) and 1g, got "2g"']);
    expect(logProblems({ file: "/l/g.log", keep: 0 })).to.deep.equal(["log.keep: expected number to be >=1, got 0"]);
    expect(logProblems({ file: "/l/g.log", keep: 2.5 })).to.deep.equal(["log.keep: expected int, got 2.5"]);
    expect(logProblems({ file: "/var/log/syspark/" })[0]).to.match(/^log\.file: must be a file path such as/);
    expect(logProblems({ file: "/l/g.log", level: "loud" })[0]).to.match(/^log\.level: expected one of "fatal"\|/);
    expect(logProblems({ max_size: "1m" })).to.deep.equal(["log.file: expected string, got nothing (field missing)"]);
  });

  it("openGatewayLog: the config's log section → files; --log-file wins; --log-level > LOG_LEVEL > log.level; bad values named", async () => {
    const config = parseSiteConfig({ ...example, log: { file: join(tmp.dir, "from-config", "gateway.log"), max_size: "1k", keep: 1, level: "warn" } });
    const said: string[] = [];
    const quiet = (line: string) => said.push(line);
    const fromConfig = await openGatewayLog(config, {}, { env: {}, say: quiet });
    expect(fromConfig.file).to.equal(join(tmp.dir, "from-config", "gateway.1.log"));
    expect(fromConfig.logger.level).to.equal("warn");
    fromConfig.logger.warn("into the configured file");
    await fromConfig.close();
    expect(readFileSync(fromConfig.file!, "utf8")).to.include("into the configured file");
    expect(said).to.deep.equal([`syspark gateway: log lines go to ${fromConfig.file} (JSON; a new file every 1k, 1 older kept; current.log beside them links to the newest)\n`]);

    const fromFlag = await openGatewayLog(config, { logFile: join(tmp.dir, "from-flag", "gw.log"), logLevel: "debug" }, { env: { LOG_LEVEL: "error" }, say: quiet });
    expect(fromFlag.file).to.equal(join(tmp.dir, "from-flag", "gw.1.log"));
    expect(fromFlag.logger.level).to.equal("debug");
    await fromFlag.close();
    const fromEnv = await openGatewayLog(config, {}, { env: { LOG_LEVEL: "error" }, say: quiet });
    expect(fromEnv.logger.level).to.equal("error");
    await fromEnv.close();

    const stdout = await openGatewayLog(parseSiteConfig({ ...example, log: undefined }), {}, { env: {}, say: quiet });
    expect(stdout.file, "no log section, no flag: stdout").to.equal(undefined);
    await openGatewayLog(config, { logLevel: "loud" }, { env: {} }).then(() => expect.fail("accepted"), (e: Error) => expect(e.message).to.equal('--log-level: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'));
    await openGatewayLog(config, {}, { env: { LOG_LEVEL: "loud" } }).then(() => expect.fail("accepted"), (e: Error) => expect(e.message).to.match(/^LOG_LEVEL: must be one of/));
    await openGatewayLog(config, { logFile: "/var/log/" }, { env: {} }).then(() => expect.fail("accepted"), (e: Error) => expect(e.message).to.match(/^--log-file: must be a file path such as .*, got "\/var\/log\/"$/));
  });

  it("syspark gateway --log-file: JSON lines in the file, not on stdout; says where on stderr; the last line of a SIGTERM stop is in the file", async () => {
    const config = join(tmp.dir, "site.json");
    const configured = join(tmp.dir, "configured", "gateway.log");
    writeFileSync(config, JSON.stringify({
      site_id: "log-rotation-site", data_dir: join(tmp.dir, "data"),
      // Boards that are not plugged in: the links keep retrying, the gateway runs.
      lanes: [{ id: "L1", exit_controller: { port: join(tmp.dir, "no-exit-board") }, barrier_executor: { port: join(tmp.dir, "no-barrier-board") } }],
      site_broker: { host: "127.0.0.1", port: 0, allow_anonymous: true },
      cloud: { url: `mqtt://127.0.0.1:${await freePort()}`, anonymous: true, reconnect_ms: 1000 },
      log: { file: configured, max_size: "1m", keep: 2 },
    }));
    const logDir = join(tmp.dir, "flag-logs");
    const env = { ...process.env, SYSPARK_ACL_HMAC_KEY: "k".repeat(32), LOG_LEVEL: "info" };
    const child: ChildProcess = spawnOwned(process.execPath, [SYSPARK, "gateway", "--config", config, "--log-file", join(logDir, "gateway.log")], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout!.on("data", (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    const exit = new Promise<number | null>((done) => child.once("close", (code) => done(code)));
    try {
      const current = () => (existsSync(join(logDir, "current.log")) ? readFileSync(join(logDir, "current.log"), "utf8") : "");
      await waitFor(() => /gateway running \(boot 1\)/.test(current()) || child.exitCode !== null, 30_000, "gateway running in the log file");
      expect(child.exitCode, stderr).to.equal(null);
      child.kill("SIGTERM");
      expect(await exit).to.equal(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    expect(stderr).to.include(`syspark gateway: log lines go to ${join(logDir, "gateway.1.log")} (JSON; a new file every 1m, 2 older kept;`);
    expect(stderr.match(/log lines go to/g), "said once").to.have.length(1);
    expect(stdout, "no log line on stdout").to.equal("");
    expect(existsSync(join(tmp.dir, "configured")), "--log-file overrides log.file").to.equal(false);
    const lines = numbered(logDir).flatMap((f) => f.lines).map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).to.include("gateway running (boot 1)");
    expect(lines.at(-1)!.msg, "the line written just before the exit").to.equal("stopped");
  });
});
