/**
 * Render's Blueprint (render.yaml) as a zod schema: the fields Render documents
 * (https://render.com/docs/blueprint-spec) for web services, PostgreSQL databases and environment
 * groups, with the enums of its published JSON schema (https://render.com/schema/render.yaml.json),
 * every object strict, so that a misspelt or invented field is refused as Render refuses it. Only
 * the parts a SysPark Blueprint can use are written out (no static sites, crons, Key Value,
 * projects or previews): a field outside them is an error here, which is the point.
 *
 * Render's schema is not on npm and publishes no licence, so it is not copied into the repository;
 * `SYSPARK_RENDER_SCHEMA=<file>` (a downloaded copy) makes render-blueprint.test.ts validate
 * against it too. `blueprintProblems` adds the cross-references Render checks when it applies a
 * Blueprint (names that exist, one source per variable).
 */
import { z } from "zod";

export const RENDER_REGIONS = ["oregon", "ohio", "virginia", "frankfurt", "singapore"] as const;
const SERVER_PLANS = ["free", "starter", "standard", "pro", "pro plus", "pro max", "pro ultra"] as const;
const POSTGRES_PLANS = [
  "free", "basic-256mb", "basic-1gb", "basic-4gb",
  "pro-4gb", "pro-8gb", "pro-16gb", "pro-32gb", "pro-64gb", "pro-128gb", "pro-192gb", "pro-256gb", "pro-384gb", "pro-512gb",
  "accelerated-16gb", "accelerated-32gb", "accelerated-64gb", "accelerated-128gb", "accelerated-256gb", "accelerated-384gb", "accelerated-512gb", "accelerated-768gb", "accelerated-1024gb",
  "starter", "standard", "pro", "pro plus", // legacy instance types, still accepted
] as const;
const RUNTIMES = ["docker", "elixir", "go", "image", "node", "python", "ruby", "rust"] as const;
const DATABASE_PROPERTIES = ["connectionString", "connectionPoolString", "host", "port", "user", "password", "database"] as const;
const SERVICE_PROPERTIES = ["host", "port", "hostport", "slug", "connectionString"] as const;
const SERVICE_TYPES = ["web", "cron", "worker", "pserv", "workflow", "static", "dpg", "job", "redis", "keyvalue"] as const;

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$/, "a name of letters, digits, space, _ . -");
const envKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");

/** A literal value, a generated one, or one Render asks for in its dashboard (`sync: false`). */
const envVarFromKeyValue = z
  .strictObject({
    key: envKey,
    value: z.union([z.string(), z.number()]).optional(),
    generateValue: z.boolean().optional(),
    sync: z.boolean().optional(),
    previewValue: z.union([z.string(), z.number()]).optional(),
  })
  .refine((v) => !(v.value !== undefined && v.sync !== undefined), { message: "cannot specify both value and sync (Render refuses it)" })
  .refine((v) => !(v.value !== undefined && v.generateValue !== undefined), { message: "cannot specify both value and generateValue" });

const envVarFromDatabase = z.strictObject({
  key: envKey,
  fromDatabase: z.strictObject({ name, property: z.enum(DATABASE_PROPERTIES) }),
});

const envVarFromService = z.strictObject({
  key: envKey,
  fromService: z.strictObject({
    type: z.enum(SERVICE_TYPES),
    name,
    property: z.enum(SERVICE_PROPERTIES).optional(),
    envVarKey: envKey.optional(),
  }),
});

const envVarFromGroup = z.strictObject({ fromGroup: name });

/** Which form an entry takes is decided by its own fields (a union would report every branch). */
const envVar = z.custom<unknown>().superRefine((v, ctx) => {
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const schema = "fromDatabase" in o ? envVarFromDatabase : "fromService" in o ? envVarFromService : "fromGroup" in o ? envVarFromGroup : envVarFromKeyValue;
  const r = schema.safeParse(v);
  if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
});

const ipAllowList = z.array(z.strictObject({ source: z.string().min(1), description: z.string().optional() }));

const webService = z.strictObject({
  type: z.enum(["web", "worker", "pserv"]),
  name,
  runtime: z.enum(RUNTIMES),
  region: z.enum(RENDER_REGIONS).optional(),
  plan: z.enum(SERVER_PLANS).optional(),
  repo: z.string().optional(),
  branch: z.string().optional(),
  rootDir: z.string().optional(),
  buildCommand: z.string().min(1).optional(),
  preDeployCommand: z.string().min(1).optional(),
  startCommand: z.string().min(1).optional(),
  dockerfilePath: z.string().optional(),
  dockerContext: z.string().optional(),
  dockerCommand: z.string().optional(),
  healthCheckPath: z.string().startsWith("/").optional(),
  numInstances: z.number().int().min(1).optional(),
  scaling: z
    .strictObject({
      minInstances: z.number().int().min(1).optional(),
      maxInstances: z.number().int().min(1).optional(),
      targetMemoryPercent: z.number().int().min(1).max(90).optional(),
      targetCPUPercent: z.number().int().min(1).max(90).optional(),
    })
    .optional(),
  envVars: z.array(envVar).optional(),
  autoDeploy: z.boolean().optional(),
  autoDeployTrigger: z.enum(["off", "commit", "checksPass"]).optional(),
  buildFilter: z.strictObject({ paths: z.array(z.string()).optional(), ignoredPaths: z.array(z.string()).optional() }).optional(),
  domains: z.array(z.string()).optional(),
  maxShutdownDelaySeconds: z.number().int().min(1).max(300).optional(),
  disk: z.strictObject({ name, mountPath: z.string().startsWith("/"), sizeGB: z.number().int().min(1).optional() }).optional(),
  ipAllowList: ipAllowList.optional(),
});

const database = z.strictObject({
  name,
  databaseName: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(),
  user: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(),
  region: z.enum(RENDER_REGIONS).optional(),
  plan: z.enum(POSTGRES_PLANS).optional(),
  diskSizeGB: z.number().int().min(1).optional(),
  postgresMajorVersion: z.enum(["11", "12", "13", "14", "15", "16", "17", "18"]).optional(),
  highAvailability: z.strictObject({ enabled: z.boolean() }).optional(),
  ipAllowList: ipAllowList.optional(),
  readReplicas: z.array(z.strictObject({ name })).optional(),
});

const envVarGroup = z.strictObject({ name, envVars: z.array(envVarFromKeyValue) });

export const blueprintSchema = z.strictObject({
  version: z.literal("1").optional(),
  services: z.array(webService).optional(),
  databases: z.array(database).optional(),
  envVarGroups: z.array(envVarGroup).optional(),
});

export type Blueprint = z.infer<typeof blueprintSchema>;
export type Service = NonNullable<Blueprint["services"]>[number];
export type EnvVarEntry = Record<string, unknown> & { key?: string };

/** What Render checks beyond the shape when it applies a Blueprint; one line per problem. */
export function blueprintProblems(bp: Blueprint): string[] {
  const out: string[] = [];
  const databases = new Set((bp.databases ?? []).map((d) => d.name));
  const groups = new Set((bp.envVarGroups ?? []).map((g) => g.name));
  const all = [...(bp.services ?? []).map((s) => s.name), ...databases, ...groups];
  for (const n of new Set(all.filter((n, i) => all.indexOf(n) !== i))) out.push(`name "${n}" is used twice`);
  for (const g of bp.envVarGroups ?? []) {
    const keys = g.envVars.map((e) => e.key);
    for (const k of new Set(keys.filter((k, i) => keys.indexOf(k) !== i))) out.push(`envVarGroups.${g.name}: ${k} is declared twice`);
  }
  for (const s of bp.services ?? []) {
    const keys: string[] = [];
    for (const e of (s.envVars ?? []) as EnvVarEntry[]) {
      if (typeof e.key === "string") keys.push(e.key);
      const db = e.fromDatabase as { name?: string } | undefined;
      if (db?.name !== undefined && !databases.has(db.name)) out.push(`services.${s.name}: ${e.key} refers to database "${db.name}", which the Blueprint does not declare`);
      if (typeof e.fromGroup === "string" && !groups.has(e.fromGroup)) out.push(`services.${s.name}: fromGroup "${e.fromGroup}" is not declared in envVarGroups`);
    }
    for (const k of new Set(keys.filter((k, i) => keys.indexOf(k) !== i))) out.push(`services.${s.name}: ${k} is declared twice`);
    if (s.preDeployCommand && s.plan === "free") out.push(`services.${s.name}: a preDeployCommand needs a paid instance type, not plan free`);
  }
  return out;
}
