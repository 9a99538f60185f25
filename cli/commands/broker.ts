/**
 * `syspark broker site-account <site-id>` and `syspark broker cloud-account`: MQTT credentials
 * on the cloud's Mosquitto (deploy/cloud-broker/mosquitto.conf, docs/gateway.md §4). Prints the
 * password-file line and the ACL lines, or writes them into DIR/passwd and DIR/acl with
 * --dir (the directory compose.yaml mounts at /mosquitto/auth); either way the password is
 * shown once, with the environment variables to put it in, and stored nowhere else.
 */
import type { Command } from "commander";
import type { BrokerAccount } from "../../cloud/mqtt/broker-accounts";

interface AccountOptions {
  dir?: string;
}

/** Where the password goes, per kind of account. */
const ENV_NAMES = {
  site: { user: "SYSPARK_CLOUD_MQTT_USERNAME", password: "SYSPARK_CLOUD_MQTT_PASSWORD", where: "on the site's gateway box (its environment file, e.g. /etc/syspark/gateway.env; cloud.username_env / password_env of the site config)" },
  cloud: { user: "MQTT_USERNAME", password: "MQTT_PASSWORD", where: "in the cloud's environment (Render's env group, or compose's .env)" },
} as const;

const RELOAD_HINT = "Then make Mosquitto read them again: `docker compose kill -s HUP broker` (compose), `systemctl reload mosquitto`, or `kill -HUP <mosquitto pid>`. An account issued again replaces the old password at the reload, which also closes the connections made with the old one.";

function dirOption(value: string): string {
  if (value.trim() === "") throw new Error("--dir must be a directory path, got an empty value");
  return value;
}

/** Issues the account and shows it: the lines written to DIR (or printed), then the password once. `syspark site add` uses it too. */
export async function issueAndShow(kind: "site" | "cloud", siteId: string | undefined, opts: AccountOptions): Promise<void> {
  const { issueBrokerAccount, writeBrokerAccount } = await import("../../cloud/mqtt/broker-accounts");
  const account: BrokerAccount = issueBrokerAccount(kind, siteId); // a bad site id: its message names it
  const env = ENV_NAMES[kind];
  if (opts.dir !== undefined) {
    let written: ReturnType<typeof writeBrokerAccount>;
    try {
      written = writeBrokerAccount(opts.dir, account);
    } catch (err) {
      throw new Error(`--dir ${opts.dir}: ${(err as Error).message}`, { cause: err });
    }
    console.log(`${written.replaced ? "replaced" : "added"} ${account.username} in ${written.passwdFile} and ${written.aclFile} (mode 0600)`);
  } else {
    console.log(`# Mosquitto password_file line (append to the broker's passwd, e.g. broker-auth/passwd):`);
    console.log(account.passwordFileLine);
    console.log(`# ACL lines (append to the broker's acl, e.g. broker-auth/acl):`);
    for (const line of account.aclLines) console.log(line);
  }
  console.log("");
  console.log(`Password of ${account.username}, shown this once and stored nowhere: set it ${env.where}:`);
  console.log(`  ${env.user}=${account.username}`);
  console.log(`  ${env.password}=${account.password}`);
  console.log("");
  console.log(RELOAD_HINT);
}

export function register(program: Command): void {
  const broker = program.command("broker").description("accounts on the cloud's MQTT broker (Mosquitto password file and ACL)");
  broker
    .command("site-account")
    .description("credentials for a site's gateway: user site-<site-id>, allowed only under syspark/<site-id>/#")
    .argument("<site-id>", "the site id (1–32 of a-z 0-9 -)")
    .option("--dir <dir>", "write into DIR/passwd and DIR/acl (created with mode 0600; the directory mounted at /mosquitto/auth) instead of printing the lines", dirOption)
    .action((siteId: string, opts: AccountOptions) => issueAndShow("site", siteId, opts));
  broker
    .command("cloud-account")
    .description(`credentials for the cloud: user syspark-cloud, allowed under syspark/# (every site)`)
    .option("--dir <dir>", "write into DIR/passwd and DIR/acl (created with mode 0600) instead of printing the lines", dirOption)
    .action((opts: AccountOptions) => issueAndShow("cloud", undefined, opts));
}
