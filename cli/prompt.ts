/**
 * Terminal prompts for the `syspark` commands (not a command: cli/main.ts loads only
 * cli/commands/). Secrets are read without echo and never from a flag.
 */
import { createInterface } from "node:readline/promises";

/** True when there is a person at a terminal to ask. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Reads a visible line from the terminal. */
export async function promptLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

/** Reads a line from the terminal without echoing it. */
export async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) throw new Error("no terminal to prompt on: pipe the password with --password-stdin, or set SYSPARK_OPERATOR_PASSWORD");
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let value = "";
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            process.stderr.write("\n");
            resolve(value);
            return;
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            reject(new Error("interrupted"));
            return;
          }
          if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

/** An operator's login for the cloud's API, asked on the terminal; undefined when there is none. */
export function loginPrompt(): (() => Promise<{ username: string; password: string }>) | undefined {
  if (!canPrompt()) return undefined;
  return async () => {
    const username = await promptLine("log in to the cloud as (operator username): ");
    const password = await promptHidden(`password for ${username}: `);
    return { username, password };
  };
}
