/**
 * The `syspark` CLI. Every subcommand lives in its own file under cli/commands/ and exports
 * `register(program)`; they are discovered here so that adding a part of the system never
 * touches a shared file. Command modules import their heavy dependencies inside the action,
 * so `syspark --help` stays fast.
 */
import { readdirSync } from "node:fs";
import { Command, CommanderError } from "commander";

export interface CommandModule {
  register(program: Command): void;
}

export async function buildProgram(): Promise<Command> {
  const program = new Command("syspark")
    .description("SysPark: the exit lanes of a car park — boards, gateway, cloud, HIL harness.")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ sortSubcommands: true });
  const dir = new URL("./commands/", import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).sort();
  for (const file of files) {
    const mod = (await import(new URL(file, dir).href)) as Partial<CommandModule>;
    if (typeof mod.register !== "function") throw new Error(`cli/commands/${file} does not export register(program)`);
    mod.register(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    console.error(`syspark: ${message}`);
    if (process.env.SYSPARK_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}

/** Parse a CLI option as an integer in a range, with a precise message (commander argParser). */
export function intOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    if (!/^-?\d+$/.test(value)) throw new Error(`${name} must be a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) throw new Error(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}
