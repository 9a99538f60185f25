/**
 * Shared by the production-mode tests (issue 19): a complete production environment (fake
 * values: nothing here is a real secret), a fresh PostgreSQL DATABASE created and dropped by the
 * test, and `node bin/syspark.js …` as a child process with exactly the environment given.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import postgres from "postgres";

export const PG_ADMIN_URL = process.env.SYSPARK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Everything production requires, each value distinctive so that a test can prove it is never printed. */
export const PRODUCTION_ENV: Record<string, string> = {
  SYSPARK_ENV: "production",
  DATABASE_URL: "postgres://syspark:DBPASSWORD-d41d8cd9@db.internal:5432/syspark",
  STRIPE_SECRET_KEY: "sk_live_SECRETKEY-8f14e45f",
  STRIPE_WEBHOOK_SECRET: "whsec_WEBHOOKSECRET-c9f0f895",
  SYSPARK_AUTH_SECRET: "AUTHSECRET-45c48cce2e2d7fbdea1afc51c7c6ad26",
  SYSPARK_ACL_HMAC_KEY: "ACLKEY-6512bd43d9caa6e02c990b0a",
  MQTT_URL: "mqtts://broker.example.com:8883",
  MQTT_USERNAME: "syspark-cloud",
  MQTT_PASSWORD: "MQTTPASSWORD-c20ad4d76fe97759",
  PUBLIC_BASE_URL: "https://pay.example.com",
  PORT: "10000",
};

/** The secret values of PRODUCTION_ENV (what must never appear in any output). */
export const PRODUCTION_SECRETS = ["DBPASSWORD-d41d8cd9", "SECRETKEY-8f14e45f", "WEBHOOKSECRET-c9f0f895", "AUTHSECRET-45c48cce", "ACLKEY-6512bd43", "MQTTPASSWORD-c20ad4d7"];

export interface FreshDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server (skips the test when the server is unreachable, unless SYSPARK_REQUIRE_POSTGRES=1). */
export async function freshDatabase(ctx: Mocha.Context, prefix: string): Promise<FreshDatabase> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } catch (err) {
    await admin.end({ timeout: 1 }).catch(() => undefined);
    if (process.env.SYSPARK_REQUIRE_POSTGRES !== "1") {
      console.warn(`      skipped: PostgreSQL not usable at ${PG_ADMIN_URL}: ${(err as Error).message}`);
      ctx.skip();
    }
    throw err;
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Variables of this machine's environment a child must not inherit (they would change what it resolves). */
const CLOUD_VARIABLES = /^(SYSPARK_|NODE_ENV$|DATABASE_URL$|MQTT_|STRIPE_|PUBLIC_BASE_URL$|PORT$|HOST$|TRUST_PROXY$|BILLING_ENABLED$|LOG_LEVEL$|ALERT_|TELEGRAM_|WEATHER_)/;

/** The environment for a child `syspark`: this one without any cloud variable, plus `env`. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!CLOUD_VARIABLES.test(k)) out[k] = v;
  return { ...out, ...env };
}

/** `node bin/syspark.js …` with `env` (see childEnv), until it exits. */
export function syspark(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [resolve("bin/syspark.js"), ...args], { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** `node bin/syspark.js …` left running (the caller stops it). */
export function sysparkRunning(args: string[], env: Record<string, string>): { child: ChildProcess; out: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [resolve("bin/syspark.js"), ...args], { env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout?.on("data", (d: Buffer) => (out.stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out.stderr += d.toString()));
  return { child, out };
}
