/**
 * The container files of the self-hosted cloud (issue 19): Dockerfile, .dockerignore, compose.yaml.
 * This machine has a docker client but no engine, so the image is not built here unless `docker
 * info` answers (then it is, and the test says so either way). Instead: the Dockerfile passes the
 * VS Code Docker linter (dockerfile-utils) with every rule an error, and hadolint when installed
 * (Debian 12 does not package it); its structure is checked (stages, user, health check, no
 * secret); and the image's own files — the repository less .dockerignore, on production
 * dependencies only — run its commands for real: `syspark migrate`, then `syspark cloud` in
 * production mode against PostgreSQL and a private Mosquitto, until its HEALTHCHECK passes.
 * compose.yaml has the Compose format's shape and is wired as docs/deploy.md says.
 */
import { expect } from "chai";
import { type ChildProcess, execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { validate, ValidationSeverity } from "dockerfile-utils";
import postgres from "postgres";
import { parse } from "yaml";
import { CLOUD_BROKER_FLOW_CONF, startMosquitto, type PrivateMosquitto } from "../../host/mosquitto";
import { freePort } from "../../host/ports";
import { requireToolOrSkip, spawnOwned, which } from "../../host/tools";
import { productionProblems } from "../../cloud/server/production";
import { PG_TEST_URL } from "../setup/pg-schema";
import { composeProblems, composeSchema, interpolate, isNamedVolume, mountOf, withoutExtensions, type Compose } from "./compose-schema";
import { execForm, healthcheck, parseDockerfile, type Stage } from "./dockerfile";
import { dockerignorePatterns, excludedByDockerignore, layImageTree } from "./image-tree";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const text = (path: string) => readFileSync(join(ROOT, path), "utf8");
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|_KEY\b|HMAC/;
/** Every rule dockerfile-utils can be told about, as an error. */
const STRICT = Object.fromEntries(
  ["deprecatedMaintainer", "directiveCasing", "emptyContinuationLine", "instructionCasing", "instructionCmdMultiple", "instructionEntrypointMultiple", "instructionHealthcheckMultiple", "instructionJSONInSingleQuotes", "instructionWorkdirRelative"].map((k) => [k, ValidationSeverity.ERROR]),
);

const lint = (dockerfile: string) => validate(dockerfile, STRICT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
const finalStage = (): Stage => parseDockerfile(text("Dockerfile")).at(-1)!;
const args = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

/** The variables production mode refuses to start without (cloud/server/production.ts). */
function requiredInProduction(): string[] {
  const named = [
    ...productionProblems({ stripe: {} }),
    ...productionProblems({ stripe: {}, mqttUrl: "mqtts://broker.example:8883", mqttPassword: "x" }),
    ...productionProblems({ stripe: {}, mqttUrl: "mqtts://broker.example:8883", mqttUsername: "x" }),
  ].map((p) => p.variable);
  return [...new Set(named)];
}

describe("container files (Dockerfile, .dockerignore, compose.yaml)", function () {
  this.timeout(60_000);

  describe("Dockerfile", () => {
    it("passes the Docker linter (dockerfile-utils, every rule an error), which does catch mistakes", () => {
      expect(lint(text("Dockerfile"))).to.deep.equal([]);
      const broken = "FROM node:20-bookworm-slim AS x\nworkdir app\nHEALTHCHECK --interval=3 CMD true\nCMD ['node']\n";
      expect(lint(broken)).to.have.length.of.at.least(3);
    });

    it("is multi-stage: production dependencies installed in their own stage, copied into a slim Node 20 runtime", () => {
      const stages = parseDockerfile(text("Dockerfile"));
      expect(stages.length).to.be.at.least(2);
      const runtime = stages.at(-1)!;
      expect(runtime.from).to.match(/^node:20-bookworm-slim$/);
      const deps = stages.find((s) => args(s, "RUN").some((r) => /\bnpm ci\b/.test(r)));
      expect(deps, "a stage that runs npm ci").to.not.equal(undefined);
      expect(deps).to.not.equal(runtime);
      for (const run of stages.flatMap((s) => args(s, "RUN")).filter((r) => /\bnpm (ci|install|i)\b/.test(r))) {
        expect(run, "every npm install omits devDependencies").to.match(/npm ci --omit=dev\b/);
      }
      expect(args(runtime, "COPY").some((c) => c.startsWith(`--from=${deps!.name} `) && /node_modules/.test(c)), "node_modules copied from the deps stage").to.equal(true);
      expect(args(runtime, "RUN"), "nothing is installed in the runtime stage").to.deep.equal([]);
    });

    it("runs the cloud as a non-root user, in production mode, on the port it EXPOSEs", () => {
      const runtime = finalStage();
      const users = args(runtime, "USER");
      expect(users.at(-1), "the last USER").to.match(/^[a-z][a-z0-9_-]*$/).and.not.match(/^(root|0)(:|$)/);
      const userAt = runtime.instructions.findLastIndex((i) => i.keyword === "USER");
      const cmdAt = runtime.instructions.findLastIndex((i) => i.keyword === "CMD");
      expect(userAt).to.be.lessThan(cmdAt);
      const env = args(runtime, "ENV").join(" ");
      expect(env).to.match(/\bSYSPARK_ENV=production\b/);
      const port = /\bPORT=(\d+)\b/.exec(env)?.[1];
      expect(args(runtime, "EXPOSE")).to.deep.equal([port]);
      expect(execForm(args(runtime, "CMD").at(-1)!)).to.deep.equal(["node", "bin/syspark.js", "cloud"]);
    });

    it("has a HEALTHCHECK on /health with Node (the slim image has no curl), bounded by its timeout", () => {
      const checks = args(finalStage(), "HEALTHCHECK");
      expect(checks).to.have.length(1);
      const { options, command } = healthcheck(checks[0]);
      expect(command?.[0], "exec form, run by node").to.equal("node");
      expect(command!.join(" ")).to.match(/\/health/).and.match(/process\.env\.PORT/);
      expect(options).to.include.keys("interval", "timeout", "start-period", "retries");
      const fetchMs = Number(/AbortSignal\.timeout\((\d+)\)/.exec(command!.join(" "))?.[1]);
      expect(fetchMs, "the probe gives up before the check's timeout").to.be.lessThan(parseInt(options.timeout, 10) * 1000);
    });

    it("bakes no secret into the image: no secret in ENV or ARG, no env file copied", () => {
      for (const stage of parseDockerfile(text("Dockerfile"))) {
        for (const a of [...args(stage, "ENV"), ...args(stage, "ARG")]) expect(a).to.not.match(SECRET_NAME);
        for (const c of [...args(stage, "COPY"), ...args(stage, "ADD")]) expect(c).to.not.match(/\.env\b|broker-auth|broker-certs/);
      }
    });

    it("passes hadolint, when it is installed", function () {
      const bin = which("hadolint");
      if (!bin) {
        // Not required under SYSPARK_REQUIRE_TOOLS: Debian 12 has no hadolint package to install.
        console.warn("      skipped: hadolint is not installed (Debian 12 does not package it); the Dockerfile was linted by dockerfile-utils above");
        this.skip();
      }
      const r = spawnSync(bin as string, ["--no-color", "Dockerfile"], { cwd: ROOT, encoding: "utf8" });
      expect(r.status, r.stdout + r.stderr).to.equal(0);
    });

    it("builds, when this machine has a container engine (docker info answers)", function () {
      this.timeout(20 * 60_000);
      const engine = which("docker") && spawnSync("docker", ["info"], { stdio: "ignore", timeout: 20_000 }).status === 0;
      if (!engine) {
        console.warn("      skipped: no container engine (`docker info` fails): the image is linted and its files run below, but it is NOT built");
        this.skip();
      }
      const tag = `syspark-cloud-test:${randomBytes(4).toString("hex")}`;
      try {
        execFileSync("docker", ["build", "--tag", tag, "."], { cwd: ROOT, stdio: "inherit" });
        const inspect = JSON.parse(execFileSync("docker", ["image", "inspect", tag], { encoding: "utf8" })) as { Config: { User: string; Healthcheck?: unknown; Cmd: string[] } }[];
        expect(inspect[0].Config.User).to.equal("node");
        expect(inspect[0].Config.Healthcheck).to.not.equal(undefined);
        const help = execFileSync("docker", ["run", "--rm", tag, "node", "bin/syspark.js", "migrate", "--help"], { encoding: "utf8" });
        expect(help).to.match(/^Usage: syspark migrate/);
      } finally {
        spawnSync("docker", ["image", "rm", "--force", tag], { stdio: "ignore" });
      }
    });
  });

  describe(".dockerignore", () => {
    const patterns = () => dockerignorePatterns(text(".dockerignore"));

    it("uses only patterns of one path segment, without exceptions (what these tests can read exactly)", () => {
      for (const p of patterns()) expect(p, p).to.match(/^[^/!]+$/);
    });

    it("keeps dependencies, version control, local data, secrets and tests out of the image", () => {
      for (const name of ["node_modules", ".git", ".data", ".env", "stack.env", "broker-auth", "broker-certs", "test", "bench", "build", ".ci-out"]) {
        expect(excludedByDockerignore(patterns(), name), name).to.equal(true);
      }
    });

    it("keeps what the cloud runs: bin/, the source folders, package.json and its lock", () => {
      for (const name of ["bin", "cli", "cloud", "contracts", "host", "stripe-emulator", "gateway", "firmware", "sim", "package.json", "package-lock.json", "tsconfig.json"]) {
        expect(excludedByDockerignore(patterns(), name), name).to.equal(false);
      }
    });
  });

  describe("the image's files, run without an engine", function () {
    this.timeout(180_000);
    let tree: string | undefined;
    let broker: PrivateMosquitto | undefined;
    let database: string | undefined;
    let cloud: ChildProcess | undefined;

    afterEach(async () => {
      if (cloud && cloud.exitCode === null && cloud.signalCode === null) {
        const gone = new Promise((r) => cloud!.once("exit", r));
        cloud.kill("SIGKILL");
        await gone;
      }
      await broker?.stop();
      if (database) {
        const admin = postgres(PG_TEST_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
        try {
          await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
        } finally {
          await admin.end({ timeout: 5 });
        }
      }
      if (tree) rmSync(tree, { recursive: true, force: true });
      cloud = broker = database = tree = undefined;
    });

    it("`syspark migrate` (twice), `operator add`, `seed`, then `syspark cloud` in production mode, on production dependencies only, until the image's HEALTHCHECK passes", async function () {
      if (!requireToolOrSkip(this, "mosquitto")) return;
      const admin = postgres(PG_TEST_URL, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
      const name = `syspark_image_${randomBytes(5).toString("hex")}`;
      try {
        await admin.unsafe(`CREATE DATABASE "${name}"`);
        database = name;
      } catch (err) {
        if (process.env.SYSPARK_REQUIRE_POSTGRES === "1") throw err;
        console.warn(`      skipped: PostgreSQL not reachable at ${PG_TEST_URL}: ${(err as Error).message}`);
        this.skip();
      } finally {
        await admin.end({ timeout: 5 });
      }
      const databaseUrl = Object.assign(new URL(PG_TEST_URL), { pathname: `/${name}` }).href;
      broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]);
      tree = mkdtempSync(join(tmpdir(), "syspark-image-"));
      const copied = layImageTree(ROOT, tree, dockerignorePatterns(text(".dockerignore")));
      expect(copied).to.not.include.members(["test", "docs", ".git"]);
      expect(existsSync(join(tree, "node_modules", "mocha")), "a devDependency in the image tree").to.equal(false);
      expect(existsSync(join(tree, "node_modules", "tsx")), "tsx, which runs the sources").to.equal(true);

      // The image's environment (Dockerfile ENV) plus what compose.yaml / Render give it. HOST:
      // production listens on 0.0.0.0; a test keeps to loopback.
      const port = await freePort();
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        SYSPARK_ENV: "production",
        PORT: String(port),
        HOST: "127.0.0.1",
        DATABASE_URL: databaseUrl,
        MQTT_URL: broker.url,
        MQTT_USERNAME: "syspark-cloud",
        MQTT_PASSWORD: randomBytes(12).toString("hex"),
        PUBLIC_BASE_URL: "https://parking.example.test",
        SYSPARK_AUTH_SECRET: randomBytes(32).toString("hex"),
        SYSPARK_ACL_HMAC_KEY: randomBytes(32).toString("hex"),
        SYSPARK_INSTANCE_ID: `image-test-${randomBytes(3).toString("hex")}`,
        BILLING_ENABLED: "false",
        LOG_LEVEL: "warn",
      };

      const migrate = spawnSync(process.execPath, ["bin/syspark.js", "migrate"], { cwd: tree, env, encoding: "utf8", timeout: 90_000 });
      expect(migrate.status, migrate.stdout + migrate.stderr).to.equal(0);
      expect(migrate.stdout).to.match(/applied \d+ migrations?/);
      const again = spawnSync(process.execPath, ["bin/syspark.js", "migrate"], { cwd: tree, env, encoding: "utf8", timeout: 90_000 });
      expect(again.status, again.stdout + again.stderr).to.equal(0);
      expect(again.stdout, "the pre-deploy command runs on every deploy: the second is a no-op").to.match(/nothing applied/);
      // docs/deploy.md's first steps in a Render Shell / `docker compose exec cloud`: the first
      // operator and a whole site, on the production database, from the image's files.
      const operator = spawnSync(process.execPath, ["bin/syspark.js", "operator", "add", "--username", "admin", "--role", "admin"], { cwd: tree, env: { ...env, SYSPARK_OPERATOR_PASSWORD: randomBytes(12).toString("hex") }, encoding: "utf8", timeout: 90_000 });
      expect(operator.status, operator.stdout + operator.stderr).to.equal(0);
      const seed = spawnSync(process.execPath, ["bin/syspark.js", "seed", "--file", "deploy/sites/example-site.yaml"], { cwd: tree, env, encoding: "utf8", timeout: 90_000 });
      expect(seed.status, seed.stdout + seed.stderr).to.equal(0);

      let output = "";
      cloud = spawnOwned(process.execPath, ["bin/syspark.js", "cloud"], { cwd: tree, env, stdio: ["ignore", "pipe", "pipe"] });
      cloud.stdout!.on("data", (b: Buffer) => (output += b.toString()));
      cloud.stderr!.on("data", (b: Buffer) => (output += b.toString()));
      const exited = new Promise<never>((_, reject) => cloud!.once("exit", (code) => reject(new Error(`the cloud exited (${code}) before it was healthy:\n${output}`))));
      exited.catch(() => undefined);
      const healthy = async () => {
        for (let i = 0; i < 360; i++) {
          const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
          if (r?.status === 200) return;
          await new Promise((res) => setTimeout(res, 250));
        }
        throw new Error(`no 200 from /health after 90 s:\n${output}`);
      };
      await Promise.race([healthy(), exited]);

      // The HEALTHCHECK exactly as the Dockerfile writes it, with the container's PORT.
      const probe = healthcheck(args(finalStage(), "HEALTHCHECK")[0]).command!;
      const runProbe = () => spawnSync(probe[0] === "node" ? process.execPath : probe[0], probe.slice(1), { env: { PORT: String(port) }, encoding: "utf8", timeout: 15_000 });
      const ok = runProbe();
      expect(ok.status, ok.stderr).to.equal(0);

      // docker stop: SIGTERM, a graceful exit; then the probe fails (it can).
      const exitCode = new Promise<number | null>((r) => cloud!.once("exit", (code) => r(code)));
      cloud.kill("SIGTERM");
      expect(await exitCode, output).to.equal(0);
      expect(runProbe().status).to.equal(1);
    });
  });

  describe("compose.yaml", () => {
    const ENV = { POSTGRES_PASSWORD: "compose-test-password" };
    const raw = () => parse(text("compose.yaml"), { merge: true }) as unknown;
    const compose = () => composeSchema.parse(withoutExtensions(interpolate(raw(), ENV))) as Compose;
    const environment = (svc: string) => (compose().services[svc].environment ?? {}) as Record<string, string>;

    it("has the Compose format's shape (strict) and passes its cross-service checks", () => {
      const r = composeSchema.safeParse(withoutExtensions(interpolate(raw(), ENV)));
      expect(r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).to.deep.equal([]);
      expect(composeProblems(compose())).to.deep.equal([]);
      // The schema and the checks can fail.
      expect(composeSchema.safeParse({ services: { cloud: { image: "x", restart: "sometimes" } } }).success).to.equal(false);
      expect(composeSchema.safeParse({ services: { cloud: { image: "x", enviroment: {} } } }).success).to.equal(false);
      expect(composeProblems({ services: { cloud: { image: "x", depends_on: { db: { condition: "service_healthy" } } } } })).to.have.length(1);
      expect(() => interpolate(raw(), {}), "POSTGRES_PASSWORD is required").to.throw(/POSTGRES_PASSWORD/);
    });

    it("validates against the Compose Specification's JSON schema (a copy named by SYSPARK_COMPOSE_SCHEMA)", async function () {
      const file = process.env.SYSPARK_COMPOSE_SCHEMA;
      if (!file) {
        console.warn("      skipped: SYSPARK_COMPOSE_SCHEMA is not set (compose-spec's schema/compose-spec.json; none is kept in the repository)");
        this.skip();
      }
      const { default: Ajv } = await import("ajv");
      const schema = JSON.parse(readFileSync(file as string, "utf8")) as Record<string, unknown>;
      delete schema.$schema; // draft-07, Ajv's default, under a URL spelling Ajv does not know
      const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
      const validateCompose = ajv.compile(schema);
      expect(validateCompose(interpolate(raw(), ENV)), ajv.errorsText(validateCompose.errors, { separator: "\n" })).to.equal(true);
    });

    it("runs the cloud after its migrations and a healthy PostgreSQL, in production mode, wired to both by service name", () => {
      const c = compose();
      expect(Object.keys(c.services)).to.include.members(["cloud", "postgres", "broker", "migrate"]);
      const cloudSvc = c.services.cloud;
      expect(cloudSvc.build).to.deep.equal({ context: ".", dockerfile: "Dockerfile" });
      expect(c.services.migrate.image).to.equal(cloudSvc.image);
      const render = parse(text("render.yaml")) as { services: { preDeployCommand: string }[] };
      expect((c.services.migrate.command as string[]).join(" "), "the same pre-deploy command as Render's").to.equal(render.services[0].preDeployCommand);
      expect(cloudSvc.depends_on).to.deep.include({ migrate: { condition: "service_completed_successfully" }, postgres: { condition: "service_healthy" } });
      expect(c.services.postgres.healthcheck?.test.toString()).to.match(/pg_isready/);
      const env = environment("cloud");
      expect(env.SYSPARK_ENV).to.equal("production");
      const pg = environment("postgres");
      const db = new URL(env.DATABASE_URL);
      expect([db.hostname, db.username, db.password, db.pathname]).to.deep.equal(["postgres", pg.POSTGRES_USER, ENV.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
      expect(environment("migrate").DATABASE_URL).to.equal(env.DATABASE_URL);
      const mqttUrl = new URL(env.MQTT_URL);
      expect([mqttUrl.protocol, mqttUrl.hostname, mqttUrl.port]).to.deep.equal(["mqtt:", "broker", "1883"]);
      expect(c.services.postgres.volumes?.map(mountOf).map((m) => m.target)).to.include("/var/lib/postgresql/data");
    });

    it("mounts SysPark's broker settings where deploy/cloud-broker/mosquitto.conf reads them", () => {
      const b = compose().services.broker;
      expect(b.image).to.match(/^eclipse-mosquitto:2(\.|$)/);
      const mounts = (b.volumes ?? []).map(mountOf);
      const at = (target: string) => mounts.find((m) => m.target === target);
      expect(at("/mosquitto/config"), "deploy/cloud-broker read-only").to.deep.equal({ source: "./deploy/cloud-broker", target: "/mosquitto/config", readOnly: true });
      expect(at("/mosquitto/auth")).to.deep.equal({ source: "./broker-auth", target: "/mosquitto/auth", readOnly: true });
      expect(interpolate(raw(), { ...ENV, SYSPARK_BROKER_AUTH_DIR: "/srv/auth" })).to.have.nested.property("services.broker.volumes").that.includes("/srv/auth:/mosquitto/auth:ro");
      expect(at("/mosquitto/certs")?.readOnly).to.equal(true);
      expect(isNamedVolume(at("/mosquitto/data")?.source ?? "")).to.equal(true);
      // Every file the broker's configuration names lies under one of those mounts.
      const conf = text("deploy/cloud-broker/mosquitto.conf");
      const paths = [...conf.matchAll(/^\s*(password_file|acl_file|certfile|keyfile|cafile|persistence_location)\s+(\S+)/gm)].map((m) => m[2]);
      expect(paths).to.include.members(["/mosquitto/auth/passwd", "/mosquitto/auth/acl"]);
      for (const p of paths) expect(mounts.some((m) => p.startsWith(`${m.target}/`)), p).to.equal(true);
      // Its listeners: 1883 for the cloud inside the network, 8883 (TLS) published for the sites.
      const listeners = [...conf.matchAll(/^\s*listener\s+(\d+)/gm)].map((m) => m[1]);
      expect(listeners).to.include.members(["1883", "8883"]);
      expect(b.ports).to.deep.equal(["8883:8883"]);
      expect(existsSync(join(ROOT, "deploy/cloud-broker/mosquitto.conf"))).to.equal(true);
    });

    it("publishes only the broker's TLS port and the cloud on the host's loopback", () => {
      const c = compose();
      expect(c.services.cloud.ports).to.deep.equal(["127.0.0.1:18090:18090"]);
      expect(environment("cloud").PORT).to.equal("18090");
      expect(c.services.postgres.ports, "PostgreSQL is not published").to.equal(undefined);
      expect(c.services.migrate.ports).to.equal(undefined);
    });

    it("writes no secret: each one is interpolated from the environment or read from an env file", () => {
      const doc = parse(text("compose.yaml"), { merge: true }) as { services: Record<string, { environment?: Record<string, string> }> };
      for (const [svc, s] of Object.entries(doc.services)) {
        for (const [k, v] of Object.entries(s.environment ?? {})) {
          if (SECRET_NAME.test(k)) expect(String(v), `${svc}.${k}`).to.match(/^\$\{[A-Z_]+(:\?[^}]*)?\}$/);
          if (k === "DATABASE_URL") expect(String(v), `${svc}.${k}`).to.match(/:\$\{POSTGRES_PASSWORD(:\?[^}]*)?\}@/);
        }
      }
      expect(compose().services.cloud.env_file).to.deep.equal([{ path: ".env", required: false }, { path: "stack.env", required: false }]);
    });

    it("gives each variable production requires a value: wired by compose.yaml or a line of deploy/cloud.env.example", () => {
      const wired = new Set(Object.keys(environment("cloud")));
      const example = text("deploy/cloud.env.example");
      const listed = new Set([...example.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
      const missing = requiredInProduction().filter((v) => !wired.has(v) && !listed.has(v));
      expect(missing).to.deep.equal([]);
      // The example holds no value for a secret.
      for (const m of example.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)) if (SECRET_NAME.test(m[1])) expect(m[2], m[1]).to.equal("");
    });
  });
});
