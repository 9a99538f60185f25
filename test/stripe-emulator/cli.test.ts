/** `syspark stripe-emulator` option checking (the running command is exercised by hand: see docs). */
import { expect } from "chai";
import { Command } from "commander";
import { register } from "../../cli/commands/stripe-emulator";

async function parse(args: string[]): Promise<Error> {
  const program = new Command("syspark").exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  register(program);
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  try {
    await program.parseAsync(["node", "syspark", "stripe-emulator", ...args]);
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the command line to be refused");
}

describe("syspark stripe-emulator (CLI)", () => {
  it("refuses a port out of range, a malformed webhook URL and a live API key, with precise messages", async () => {
    expect((await parse(["--port", "80000"])).message).to.contain("--port must be between 0 and 65535");
    expect((await parse(["--webhook-url", "cloud:8080"])).message).to.contain("--webhook-url must be");
    expect((await parse(["--api-key", "sk_live_abc"])).message).to.contain("must be a test key");
    expect((await parse(["--webhook-secret", "abc"])).message).to.contain("--webhook-secret must look like whsec_");
  });

  it("refuses an empty STRIPE_WEBHOOK_SECRET instead of silently generating one", async () => {
    const before = process.env.STRIPE_WEBHOOK_SECRET;
    process.env.STRIPE_WEBHOOK_SECRET = " ";
    try {
      expect((await parse(["--port", "0"])).message).to.contain("STRIPE_WEBHOOK_SECRET is set but empty");
    } finally {
      if (before === undefined) delete process.env.STRIPE_WEBHOOK_SECRET;
      else process.env.STRIPE_WEBHOOK_SECRET = before;
    }
  });
});
