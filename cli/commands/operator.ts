/**
 * `syspark operator add|list`: on the cloud's database as cli-support.ts resolves it (and says
 * on stderr), or through the running cloud's API (`POST|GET /api/operators`, admin) when the
 * cloud holds its PGlite database — never on a database nobody asked for.
 */
import type { Command } from "commander";
import { canPrompt, loginPrompt, promptHidden } from "../prompt";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

interface Where {
  url?: string;
  dataDir?: string;
  schema?: string;
}

function where(cmd: Command): Command {
  return cmd
    .option("--url <url>", "go through a running cloud's API (env SYSPARK_CLOUD_URL; log in as an admin: SYSPARK_OPERATOR_TOKEN, SYSPARK_OPERATOR_USERNAME/_PASSWORD, or the terminal)")
    .option("--data-dir <dir>", "the site folder of `syspark up` (e.g. .data/site) or a cloud PGlite data directory; default: .data/site here, else ~/.syspark/cloud")
    .option("--schema <name>", "PostgreSQL schema (with DATABASE_URL)");
}

/** The new operator's password: --password-stdin, SYSPARK_OPERATOR_PASSWORD (unless it is the login's), or the terminal. */
async function newPassword(username: string, passwordStdin: boolean | undefined, envIsLogin: boolean): Promise<string> {
  let password: string;
  if (passwordStdin) password = await readStdin();
  else if (process.env.SYSPARK_OPERATOR_PASSWORD && !envIsLogin) password = process.env.SYSPARK_OPERATOR_PASSWORD;
  else {
    if (!canPrompt()) {
      throw new Error(
        envIsLogin
          ? "SYSPARK_OPERATOR_PASSWORD is the login's password here (with SYSPARK_OPERATOR_USERNAME): give the new operator's password with --password-stdin"
          : "give the new operator's password with --password-stdin or SYSPARK_OPERATOR_PASSWORD (no terminal to ask on)",
      );
    }
    password = await promptHidden(`password for ${username}: `);
    if ((await promptHidden("again: ")) !== password) throw new Error("the two passwords differ");
  }
  if (password.length < 12) throw new Error("the password must be at least 12 characters");
  if (password.length > 1024) throw new Error("the password must be at most 1024 characters");
  return password;
}

export function register(program: Command): void {
  const op = program.command("operator").description("cloud operators (dashboard / API users)");
  where(
    op
      .command("add")
      .description("create an operator. Password: prompted (hidden), or from --password-stdin, or from SYSPARK_OPERATOR_PASSWORD — never a command-line value")
      .requiredOption("--username <name>", "2–64 of a-z 0-9 . _ -")
      .option("--role <role>", "admin, operator or viewer", (v: string) => {
        if (v !== "admin" && v !== "operator" && v !== "viewer") throw new Error(`--role must be admin, operator or viewer, got "${v}"`);
        return v;
      }, "operator")
      .option("--password-stdin", "read the password from standard input"),
  ).action(async (opts: Where & { username: string; role: "admin" | "operator" | "viewer"; passwordStdin?: boolean }) => {
    const { UsernameSchema, hashSecret } = await import("../../cloud/db/index");
    const { addOperator } = await import("../../cloud/flows/operators");
    const { withCloud } = await import("../../cloud/server/cli-support");
    const u = UsernameSchema.safeParse(opts.username);
    if (!u.success) throw new Error(`--username: ${u.error.issues[0].message}`);
    const username = u.data;
    const created = await withCloud(
      opts,
      {
        api: async (api) => {
          const loginByEnv = Boolean(!process.env.SYSPARK_OPERATOR_TOKEN && process.env.SYSPARK_OPERATOR_USERNAME && process.env.SYSPARK_OPERATOR_PASSWORD);
          const password = await newPassword(username, opts.passwordStdin, loginByEnv);
          return api.json<{ username: string; role: string }>("POST", "/api/operators", `creating operator ${username}`, { username, password, role: opts.role });
        },
        db: async (db) => {
          const password = await newPassword(username, opts.passwordStdin, false);
          const passwordHash = await hashSecret(password);
          const { userInfo } = await import("node:os");
          return db.tx((tx) => addOperator(tx, "inline", { username, passwordHash, role: opts.role }, { operator: `cli:${userInfo().username}`, operator_id: null, request_id: null }));
        },
      },
      loginPrompt(),
    );
    console.log(`operator ${created.username} (${created.role}) created`);
  });

  where(op.command("list").description("list operators")).action(async (opts: Where) => {
    const { listOperators } = await import("../../cloud/db/index");
    const { withCloud } = await import("../../cloud/server/cli-support");
    const rows = await withCloud<{ username: string; role: string; disabled: boolean }[]>(
      opts,
      {
        api: (api) => api.json("GET", "/api/operators", "listing operators"),
        db: (db) => listOperators(db.sql),
      },
      loginPrompt(),
    );
    for (const o of rows) console.log(`${o.username}\t${o.role}${o.disabled ? "\tdisabled" : ""}`);
  });
}
