/**
 * docs/deploy.md stays true to the code it tells people to run: every `syspark …` command line
 * it shows is a command of the CLI, with options that command has; and the webhook endpoint it
 * tells operators to create in Stripe's dashboard listens to every event the cloud handles (an
 * event missing there is one Stripe never sends: a refund or a permit renewal nobody records).
 */
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { buildProgram } from "../../cli/main";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOC = readFileSync(join(ROOT, "docs/deploy.md"), "utf8");

/**
 * The command lines the page shows, in ```sh blocks (comments dropped) and in inline code: a
 * `node bin/syspark.js …` anywhere, or a `syspark …` that starts the line (after `sudo` and
 * VAR=value assignments) — not the word syspark as a user or database name.
 */
function commandLines(md: string): string[] {
  const out: string[] = [];
  const take = (s: string) => {
    const m = /node bin\/syspark\.js\s+([^#]+)/.exec(s) ?? /^\s*(?:sudo\s+)?(?:[A-Z_]+=\S*\s+)*(?:npx\s+)?syspark\s+([^#]+)/.exec(s);
    if (m) out.push(m[1].replace(/\s+/g, " ").trim());
  };
  const fenced = /^\s*```([a-z]*)\n([\s\S]*?)^\s*```/gm;
  for (const m of md.matchAll(fenced)) if (m[1] === "sh") for (const line of m[2].split("\n")) take(line.replace(/\s#\s.*$/, ""));
  for (const m of md.replace(fenced, "").matchAll(/`([^`]+)`/g)) take(m[1]);
  return out.filter((l) => !/^\S+:/.test(l)); // `syspark migrate: …` is a line of output, not a command
}

/** The command a line names (longest match of subcommand names) and the options it uses. */
function resolve(program: Command, line: string): { command: Command; path: string[]; options: string[] } {
  const tokens = line.split(" ");
  let command = program;
  const path: string[] = [];
  for (const t of tokens) {
    const sub = command.commands.find((c) => c.name() === t);
    if (!sub) break;
    command = sub;
    path.push(t);
  }
  const options = tokens.filter((t) => t.startsWith("--")).map((t) => t.replace(/=.*$/, ""));
  return { command, path, options };
}

/** Every Stripe event type the cloud's webhook dispatch names (cloud/flows). */
function handledStripeEvents(): string[] {
  const dir = join(ROOT, "cloud/flows");
  const events = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
    const src = readFileSync(join(dir, file), "utf8");
    for (const m of src.matchAll(/(?:case |type === )"([a-z_]+(?:\.[a-z_]+)+)"/g)) events.add(m[1]);
    for (const set of src.matchAll(/EVENT_TYPES = new Set\(\[([^\]]*)\]/g)) for (const m of set[1].matchAll(/"([a-z_.]+)"/g)) events.add(m[1]);
  }
  return [...events].sort();
}

describe("docs/deploy.md", () => {
  it("shows only `syspark` commands that exist, with options those commands have", async () => {
    const program = await buildProgram();
    const lines = commandLines(DOC);
    expect(lines.length, "command lines found").to.be.greaterThan(20);
    const wrong: string[] = [];
    for (const line of lines) {
      const { command, path, options } = resolve(program, line);
      if (path.length === 0 || command.commands.length > 0) {
        wrong.push(`"syspark ${line}": not a command`);
        continue;
      }
      const known = new Set([...command.options.map((o) => o.long), "--help"]);
      for (const o of options) if (!known.has(o)) wrong.push(`"syspark ${line}": ${path.join(" ")} has no option ${o}`);
    }
    expect(wrong).to.deep.equal([]);
  });

  it("finds a wrong command or option (the check above can fail)", async () => {
    const program = await buildProgram();
    expect(resolve(program, "site add x --colour red").options).to.deep.equal(["--colour"]);
    expect(resolve(program, "site add x --colour red").command.options.map((o) => o.long)).to.not.include("--colour");
    expect(resolve(program, "sites add x").path).to.deep.equal([]);
    expect(commandLines("run `syspark seed --file a.yaml` then\n```sh\nsyspark migrate   # once\n```\n")).to.deep.equal(["migrate", "seed --file a.yaml"]);
  });

  it("lists every Stripe event the cloud handles for the webhook endpoint", () => {
    const events = handledStripeEvents();
    expect(events).to.include.members(["payment_intent.succeeded", "charge.refunded", "invoice.paid", "setup_intent.succeeded"]);
    const missing = events.filter((e) => !DOC.includes(`\`${e}\``));
    expect(missing, "handled by the cloud, not listed in docs/deploy.md").to.deep.equal([]);
  });
});
