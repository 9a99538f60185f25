/**
 * The production gateway (`node bin/syspark.js gateway --config <site.json>`) as a child process
 * the gateway crash campaign can kill with SIGKILL and start again on the same configuration and
 * data directory (its durable outbox). It runs in a process group of its own, so that a kill
 * reaches it and nothing else, and so that it is killed with the campaign's process however
 * that one ends.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { killProcessGroup, spawnOwned } from "../../host/tools";

const SYSPARK = fileURLToPath(new URL("../../bin/syspark.js", import.meta.url));
/** Last log lines kept for a failure's message. */
const TAIL = 40;

export class GatewayProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly tail: string[] = [];
  starts = 0;

  constructor(
    private readonly configPath: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The gateway's last log lines (pino JSON), oldest first. */
  get lastLines(): string[] {
    return [...this.tail];
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it and resolves once it logged "gateway running" (site broker listening, links opening). */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.running) throw new Error("the gateway is already running");
    this.starts++;
    // Owned (setpriv --pdeathsig): the gateway dies with the campaign however the campaign ends.
    const child = spawnOwned(process.execPath, [SYSPARK, "gateway", "--config", this.configPath, "--log-level", "info"], {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    let ready: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (ready = resolve));
    let buffered = "";
    const onData = (d: Buffer) => {
      buffered += d.toString();
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.tail.push(line);
        if (this.tail.length > TAIL) this.tail.shift();
        if (line.includes('"msg":"gateway running')) ready();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        running,
        this.exited.then(() => { throw new Error(`the gateway exited at start (${child.exitCode ?? child.signalCode}):\n  ${this.tail.join("\n  ")}`); }),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the gateway did not say "gateway running" within ${timeoutMs} ms:\n  ${this.tail.join("\n  ")}`)), timeoutMs); }),
      ]);
    } catch (err) {
      await this.kill();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to its process group (no shutdown of any kind), resolved once it is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.killGroup();
    await this.exited;
  }

  private killGroup(): void {
    if (this.child) void killProcessGroup(this.child);
  }
}
