import type { Command } from "commander";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** Reads a line from the terminal without echoing it. */
async function promptHidden(question: string): Promise<string> {
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

export function register(program: Command): void {
  const op = program.command("operator").description("cloud operators (dashboard / API users)");
  op.command("add")
    .description("create an operator. Password: prompted (hidden), or from --password-stdin, or from SYSPARK_OPERATOR_PASSWORD — never a command-line value")
    .requiredOption("--username <name>", "2–64 of a-z 0-9 . _ -")
    .option("--role <role>", "admin, operator or viewer", (v: string) => {
      if (v !== "admin" && v !== "operator" && v !== "viewer") throw new Error(`--role must be admin, operator or viewer, got "${v}"`);
      return v;
    }, "operator")
    .option("--password-stdin", "read the password from standard input")
    .option("--data-dir <dir>", "embedded PGlite data directory when DATABASE_URL is not set (the cloud must be stopped)")
    .option("--schema <name>", "PostgreSQL schema (with DATABASE_URL)")
    .action(async (opts: { username: string; role: "admin" | "operator" | "viewer"; passwordStdin?: boolean; dataDir?: string; schema?: string }) => {
      const { UsernameSchema, createOperator, hashSecret } = await import("../../cloud/db/index");
      const u = UsernameSchema.safeParse(opts.username);
      if (!u.success) throw new Error(`--username: ${u.error.issues[0].message}`);
      let password: string;
      if (opts.passwordStdin) password = await readStdin();
      else if (process.env.SYSPARK_OPERATOR_PASSWORD) password = process.env.SYSPARK_OPERATOR_PASSWORD;
      else {
        password = await promptHidden(`password for ${u.data}: `);
        if ((await promptHidden("again: ")) !== password) throw new Error("the two passwords differ");
      }
      if (password.length < 12) throw new Error("the password must be at least 12 characters");
      if (password.length > 1024) throw new Error("the password must be at most 1024 characters");
      const { openCloudDatabase } = await import("../../cloud/server/cli-support");
      const db = await openCloudDatabase(opts);
      try {
        const row = await createOperator(db.sql, { username: u.data, passwordHash: await hashSecret(password), role: opts.role });
        console.log(`operator ${row.username} (${row.role}) created`);
      } finally {
        await db.close();
      }
    });
  op.command("list")
    .description("list operators")
    .option("--data-dir <dir>", "embedded PGlite data directory when DATABASE_URL is not set")
    .option("--schema <name>", "PostgreSQL schema (with DATABASE_URL)")
    .action(async (opts: { dataDir?: string; schema?: string }) => {
      const { listOperators } = await import("../../cloud/db/index");
      const { openCloudDatabase } = await import("../../cloud/server/cli-support");
      const db = await openCloudDatabase(opts);
      try {
        for (const o of await listOperators(db.sql)) console.log(`${o.username}\t${o.role}${o.disabled ? "\tdisabled" : ""}`);
      } finally {
        await db.close();
      }
    });
}
