/**
 * `syspark stripe-emulator` as a child process of a test: the emulator outlives what the test
 * kills (the cloud), as Stripe does; the test kills it (process group) when it is done.
 */
import type { ChildProcess } from "node:child_process";
import { killProcessGroup, spawnOwned } from "../../../host/tools";

export { freePort } from "../../../host/ports";

export function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn" };
  for (const n of names) delete env[n];
  return env;
}

export type EmulatorProcess = Awaited<ReturnType<typeof spawnEmulator>>;

/** `syspark stripe-emulator` as a child process (its own process group); resolves once it listens. */
export async function spawnEmulator(args: string[]): Promise<{ child: ChildProcess; url: string; output: () => string; stop(): Promise<void> }> {
  const child = spawnOwned(process.execPath, ["bin/syspark.js", "stripe-emulator", ...args], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: envWithout("STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY") });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  const stop = () => killProcessGroup(child);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr?.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /API:\s+(http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once("exit", (code) => reject(new Error(`stripe-emulator exited (${code}) before listening: ${out}`)));
    });
    return { child, url, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

