/**
 * The Compose file format (https://github.com/compose-spec/compose-spec, schema/compose-spec.json)
 * as a zod schema, for the part compose.yaml uses: services with image/build, command, environment,
 * env files, ports, volumes, depends_on with conditions, healthchecks, restart policies, logging
 * and hardening; named volumes. Every object is strict (a misspelt key is an error, as in the
 * specification, which also allows `x-` extension keys: `withoutExtensions` drops them first).
 * The specification's JSON schema can be given too (SYSPARK_COMPOSE_SCHEMA, container-files.test.ts):
 * a copy is not kept in the repository. `composeProblems` adds what `docker compose` checks
 * across services (references that exist, a healthcheck behind `service_healthy`).
 */
import { z } from "zod";

const duration = z.string().regex(/^(\d+(\.\d+)?(us|ms|s|m|h))+$/, "a duration such as 5s or 1m30s");
const stringOrList = z.union([z.string(), z.array(z.string())]);

const healthcheck = z.strictObject({
  test: z.union([z.string(), z.array(z.string()).min(1)]),
  interval: duration.optional(),
  timeout: duration.optional(),
  start_period: duration.optional(),
  start_interval: duration.optional(),
  retries: z.number().int().min(0).optional(),
  disable: z.boolean().optional(),
});

const dependsOn = z.union([
  z.array(z.string()),
  z.record(
    z.string(),
    z.strictObject({
      condition: z.enum(["service_started", "service_healthy", "service_completed_successfully"]),
      restart: z.boolean().optional(),
      required: z.boolean().optional(),
    }),
  ),
]);

const volumeMount = z.union([
  z.string().regex(/^[^:]+:\/[^:]*(:(ro|rw|z|Z|cached|delegated|consistent|nocopy)(,(ro|rw|z|Z|nocopy))*)?$/, "source:/target[:ro]"),
  z.strictObject({ type: z.enum(["bind", "volume", "tmpfs"]), source: z.string().optional(), target: z.string().startsWith("/"), read_only: z.boolean().optional() }),
]);

const port = z.union([
  z.string().regex(/^((\[[0-9a-fA-F:]+\]|[0-9.]+|\$\{[^}]+\}):)?([0-9]+(-[0-9]+)?|\$\{[^}]+\}):[0-9]+(-[0-9]+)?(\/(tcp|udp))?$|^[0-9]+(\/(tcp|udp))?$/, "[host_ip:]host_port:container_port"),
  z.number().int(),
  z.strictObject({ target: z.number().int(), published: z.union([z.string(), z.number()]).optional(), host_ip: z.string().optional(), protocol: z.enum(["tcp", "udp"]).optional(), mode: z.enum(["host", "ingress"]).optional() }),
]);

const envFile = z.union([
  z.string(),
  z.array(z.union([z.string(), z.strictObject({ path: z.string(), required: z.boolean().optional(), format: z.string().optional() })])),
]);

const service = z.strictObject({
  image: z.string().optional(),
  build: z.union([z.string(), z.strictObject({ context: z.string(), dockerfile: z.string().optional(), target: z.string().optional(), args: z.record(z.string(), z.string()).optional() })]).optional(),
  pull_policy: z.enum(["always", "never", "if_not_present", "build", "missing"]).optional(),
  command: stringOrList.optional(),
  entrypoint: stringOrList.optional(),
  environment: z.union([z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])), z.array(z.string())]).optional(),
  env_file: envFile.optional(),
  ports: z.array(port).optional(),
  expose: z.array(z.union([z.string(), z.number()])).optional(),
  volumes: z.array(volumeMount).optional(),
  depends_on: dependsOn.optional(),
  healthcheck: healthcheck.optional(),
  restart: z.string().regex(/^(no|always|unless-stopped|on-failure(:\d+)?)$/, "no, always, unless-stopped or on-failure[:n]").optional(),
  user: z.string().optional(),
  read_only: z.boolean().optional(),
  tmpfs: stringOrList.optional(),
  cap_add: z.array(z.string()).optional(),
  cap_drop: z.array(z.string()).optional(),
  security_opt: z.array(z.string()).optional(),
  logging: z.strictObject({ driver: z.string().optional(), options: z.record(z.string(), z.union([z.string(), z.number()])).optional() }).optional(),
  hostname: z.string().optional(),
  init: z.boolean().optional(),
  stop_grace_period: duration.optional(),
  stop_signal: z.string().optional(),
  container_name: z.string().optional(),
  labels: z.union([z.record(z.string(), z.string()), z.array(z.string())]).optional(),
  working_dir: z.string().optional(),
  networks: z.union([z.array(z.string()), z.record(z.string(), z.unknown())]).optional(),
});

export const composeSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "a project name: lowercase letters, digits, _ and -").optional(),
  services: z.record(z.string().regex(/^[a-zA-Z0-9._-]+$/), service),
  volumes: z.record(z.string(), z.union([z.null(), z.strictObject({ driver: z.string().optional(), driver_opts: z.record(z.string(), z.string()).optional(), external: z.boolean().optional(), name: z.string().optional() })])).optional(),
  networks: z.record(z.string(), z.unknown()).optional(),
});

export type Compose = z.infer<typeof composeSchema>;
export type ComposeService = Compose["services"][string];

/** The document without its `x-` extension keys (at the top and in services), as Compose reads it. */
export function withoutExtensions(doc: unknown): unknown {
  const strip = (o: unknown) => (o && typeof o === "object" && !Array.isArray(o) ? Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith("x-"))) : o);
  const top = strip(doc) as Record<string, unknown>;
  if (top && typeof top.services === "object" && top.services) {
    top.services = Object.fromEntries(Object.entries(top.services).map(([k, v]) => [k, strip(v)]));
  }
  return top;
}

/**
 * Compose's interpolation of `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `${VAR:?message}`
 * in every string of the document, from `env`; a missing `:?` variable is an error, as in Compose.
 */
export function interpolate(doc: unknown, env: Record<string, string>): unknown {
  if (typeof doc === "string") {
    return doc.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*)|(:?)\?([^}]*))?\}/g, (_m, name: string, colonDash?: string, dflt?: string, colonQ?: string, msg?: string) => {
      const v = env[name];
      if (dflt !== undefined) return v === undefined || (colonDash === ":" && v === "") ? dflt : v;
      if (msg !== undefined && (v === undefined || (colonQ === ":" && v === ""))) throw new Error(`required variable ${name} is missing a value: ${msg}`);
      return v ?? "";
    });
  }
  if (Array.isArray(doc)) return doc.map((d) => interpolate(d, env));
  if (doc && typeof doc === "object") return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, interpolate(v, env)]));
  return doc;
}

/** A short-syntax volume as source, target and read-only flag (long syntax passed through). */
export function mountOf(v: z.infer<typeof volumeMount>): { source: string; target: string; readOnly: boolean } {
  if (typeof v !== "string") return { source: v.source ?? "", target: v.target, readOnly: v.read_only === true };
  const [source, target, mode] = v.split(":");
  return { source, target, readOnly: (mode ?? "").split(",").includes("ro") };
}

/** A mount source that names a volume (not a path on the host). */
export const isNamedVolume = (source: string) => /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source);

/** Cross-service checks `docker compose` makes; one line per problem. */
export function composeProblems(c: Compose): string[] {
  const out: string[] = [];
  const declaredVolumes = new Set(Object.keys(c.volumes ?? {}));
  for (const [name, s] of Object.entries(c.services)) {
    if (!s.image && !s.build) out.push(`services.${name}: neither image nor build`);
    const deps = s.depends_on === undefined ? {} : Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, { condition: "service_started" as const }])) : s.depends_on;
    for (const [dep, { condition }] of Object.entries(deps)) {
      const target = c.services[dep];
      if (!target) {
        out.push(`services.${name}.depends_on: no service "${dep}"`);
        continue;
      }
      if (condition === "service_healthy" && !target.healthcheck && !target.build) out.push(`services.${name}.depends_on.${dep}: service_healthy, but ${dep} has no healthcheck`);
      if (condition === "service_completed_successfully" && (target.restart ?? "no") !== "no") out.push(`services.${name}.depends_on.${dep}: waits for ${dep} to complete, but ${dep} restarts (${target.restart})`);
    }
    for (const v of s.volumes ?? []) {
      const { source } = mountOf(v);
      if (source && isNamedVolume(source) && !declaredVolumes.has(source)) out.push(`services.${name}.volumes: volume "${source}" is not declared under volumes`);
    }
  }
  return out;
}
