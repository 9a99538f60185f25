/**
 * The site file of `syspark seed --file site.yaml` and `PUT /api/admin/seed` (issue 19): one
 * YAML or JSON document describing a whole car park — the site, its lanes, its tariff (inline,
 * or a file beside it) and its permit plans — read and checked WHOLE before anything is written.
 * Every problem is listed with its path in the file (`lanes[1].kind`) and, for a YAML/JSON file,
 * its line; the tariff is checked by the tariff engine against the site's zone and currency, the
 * plans by the permits flow's own schema. Format: docs/cloud.md "Sites, lanes and tariffs without SQL".
 *
 * Operators and merchants are not part of it on purpose: an operator needs a password and a
 * merchant's page link is a secret shown once, and neither belongs in a file kept in Git
 * (`syspark operator add` asks for the password; merchants are added on the console).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { SiteLegalSchema, type NewSite } from "../db/site-admin";
import { formatPath } from "../tariffs/validate";
import { timeZoneProblem } from "../tariffs/tz";
import { PlanBody, type PlanBodyInput } from "./permits";
import { ADMIN_SITE_ID, prepareTariff } from "./site-admin";
import { dbLaneId } from "./site-registry";
import { INSTANT_MESSAGE, parseInstant } from "./tariff-publish";

export interface FileIssue {
  /** Where in the file: `site.time_zone`, `lanes[1].kind`, `tariff.document.elements[0]…`, or `(file)`. */
  path: string;
  message: string;
  /** The line in the YAML/JSON text, when known. */
  line?: number;
}

const CURRENCIES = new Set(Intl.supportedValuesOf("currency"));
const MAX_SPOTS = 1_000_000;
const spots = z.number().int("a whole number").min(0, "from 0").max(MAX_SPOTS, `at most ${MAX_SPOTS}`);

/** The fields of a site a file or an API body gives (the id is named by its caller: `id` in a file, `site_id` in a body). */
export const SiteFieldsSchema = z.strictObject({
  name: z.string().trim().min(1, "required").max(100, "at most 100 characters"),
  time_zone: z.string().superRefine((s, ctx) => {
    const p = timeZoneProblem(s);
    if (p) ctx.addIssue({ code: "custom", message: p });
  }),
  currency: z.string().refine((c) => /^[A-Z]{3}$/.test(c) && CURRENCIES.has(c), "an ISO 4217 currency code in capitals, such as EUR"),
  /** null: no capacity (the occupancy is not bounded). */
  capacity: spots.nullable().optional(),
  permit_spots: spots.optional(),
  reservation_spots: spots.optional(),
  latitude: z.number().min(-90, "from -90 to 90").max(90, "from -90 to 90").nullable().optional(),
  longitude: z.number().min(-180, "from -180 to 180").max(180, "from -180 to 180").nullable().optional(),
  legal: SiteLegalSchema.optional(),
});
export type SiteFields = z.infer<typeof SiteFieldsSchema>;

export const SiteIdField = z.string().regex(ADMIN_SITE_ID, "1–32 of a-z 0-9 -, starting with a letter or digit");
export const LaneWireId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/, "1–63 of A-Z a-z 0-9 . _ : -, starting with a letter or digit (the id the site's gateway uses)");
export const LaneKind = z.enum(["entry", "exit"], "entry or exit");

const LaneSchema = z.strictObject({ id: LaneWireId, kind: LaneKind });

/** A new site as `POST /api/admin/sites` and `syspark site add` take it. */
export const SiteBodySchema = SiteFieldsSchema.extend({ site_id: SiteIdField });
export type SiteBody = z.infer<typeof SiteBodySchema>;

/** The row addSite creates for a body (what it leaves out: no capacity, nothing held back, no coordinates). */
export function newSiteOf(b: SiteBody): NewSite {
  return { siteId: b.site_id, name: b.name, timeZone: b.time_zone, currency: b.currency, capacity: b.capacity ?? null, permitSpots: b.permit_spots ?? 0, reservationSpots: b.reservation_spots ?? 0, latitude: b.latitude ?? null, longitude: b.longitude ?? null, legal: b.legal ?? {} };
}

const TariffRef = z
  .strictObject({
    /** A JSON or YAML file, relative to the site file (the CLI reads it; the API takes `document` only). */
    file: z.string().min(1, "a path").max(4096).optional(),
    document: z.record(z.string(), z.unknown()).optional(),
    /** Absent: the version takes effect when it is published. */
    effective_from: z.string().refine((s) => parseInstant(s) !== undefined, INSTANT_MESSAGE).optional(),
  })
  .refine((t) => (t.file === undefined) !== (t.document === undefined), { message: "give either file (a path relative to the site file) or document (the tariff inline), not both" });

/** The file's shape (the tariff document and the plans are checked afterwards, by their own rules). */
export const SiteFileSchema = z.strictObject({
  site: SiteFieldsSchema.extend({ id: SiteIdField }),
  lanes: z.array(LaneSchema).max(64, "at most 64 lanes").default([]),
  tariff: TariffRef.optional(),
  // Checked one by one with the permits flow's PlanBody (the currency defaults to the site's).
  permit_plans: z.array(z.record(z.string(), z.unknown(), "a permit plan (an object)")).max(50, "at most 50 plans").default([]),
});

export interface SiteFile {
  site: SiteFields & { id: string };
  lanes: { id: string; kind: "entry" | "exit" }[];
  tariff?: { document: Record<string, unknown>; effectiveFrom?: Date };
  plans: PlanBodyInput[];
}

export type SiteFileResult = { ok: true; file: SiteFile; body: Record<string, unknown> } | { ok: false; issues: FileIssue[] };

/** Where a path of the parsed value is in the text: its line (or its nearest parent's). */
type LineOf = (path: readonly PropertyKey[]) => number | undefined;

/** YAML or JSON text → a value, and a way back from a path to its line; syntax errors with their lines. */
export function parseText(text: string, prefix = ""): { ok: true; value: unknown; lineOf: LineOf } | { ok: false; issues: FileIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false, issues: doc.errors.map((e) => ({ path: prefix || "(file)", message: e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, ""), ...(e.linePos ? { line: e.linePos[0].line } : {}) })) };
  const lineOf: LineOf = (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === "object" && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) as unknown, lineOf };
}

/** A formatted path back to its keys: `elements[0].label` → ["elements", 0, "label"]. */
export function pathOf(p: string): PropertyKey[] {
  return [...p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]));
}

const join = (prefix: string, path: readonly PropertyKey[]) => {
  const p = formatPath(path);
  if (p === "(tariff)") return prefix || "(file)";
  return prefix ? (p.startsWith("[") ? `${prefix}${p}` : `${prefix}.${p}`) : p;
};

function issuesOf(err: z.ZodError, lineOf?: LineOf, prefix = ""): FileIssue[] {
  return err.issues.map((i) => {
    const path = join(prefix, i.path);
    const message = i.code === "unrecognized_keys" ? `unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}` : i.message;
    const line = lineOf?.(i.code === "unrecognized_keys" ? [...i.path, i.keys[0]] : i.path);
    return { path, message, ...(line !== undefined ? { line } : {}) };
  });
}

/** Two entries with the same id (lane ids compared as the database stores them). */
function duplicates<T>(items: readonly T[], key: (t: T) => string, what: string, at: (i: number) => string, lineOf: (i: number) => number | undefined): FileIssue[] {
  const seen = new Map<string, number>();
  const out: FileIssue[] = [];
  items.forEach((t, i) => {
    const k = key(t);
    const first = seen.get(k);
    const line = lineOf(i);
    if (first !== undefined) out.push({ path: at(i), message: `the same ${what} as ${at(first)}`, ...(line !== undefined ? { line } : {}) });
    else seen.set(k, i);
  });
  return out;
}

/**
 * A parsed site file checked whole. `readTariff` resolves `tariff.file` (the CLI reads it next to
 * the site file; the API refuses it). `lineOf` gives lines to the messages.
 */
export function checkSiteFile(value: unknown, o: { lineOf?: LineOf; readTariff?: (path: string) => TariffFileResult } = {}): SiteFileResult {
  const r = SiteFileSchema.safeParse(value);
  if (!r.success) return { ok: false, issues: issuesOf(r.error, o.lineOf) };
  const f = r.data;
  const line = (path: PropertyKey[]) => o.lineOf?.(path);
  const issues: FileIssue[] = [
    ...duplicates(f.lanes, (l) => dbLaneId(l.id), "lane id", (i) => `lanes[${i}].id`, (i) => line(["lanes", i, "id"])),
    ...duplicates(f.permit_plans, (p) => String(p.plan_id), "plan_id", (i) => `permit_plans[${i}].plan_id`, (i) => line(["permit_plans", i, "plan_id"])),
  ];
  if (f.site.capacity !== undefined && f.site.capacity !== null) {
    const { capacity, permit_spots: p = 0, reservation_spots: res = 0 } = f.site;
    if (p + res > capacity) issues.push({ path: "site.reservation_spots", message: `the permit spaces (${p}) and the reservation spaces (${res}) together exceed the capacity (${capacity})`, line: line(["site", "capacity"]) });
  }
  const plans: PlanBodyInput[] = [];
  f.permit_plans.forEach((raw, i) => {
    const p = PlanBody.safeParse({ currency: f.site.currency, ...raw });
    if (!p.success) issues.push(...issuesOf(p.error, (path) => line(["permit_plans", i, ...path]), `permit_plans[${i}]`));
    else if (p.data.currency !== f.site.currency) issues.push({ path: `permit_plans[${i}].currency`, message: `must be the site's currency ${f.site.currency}`, line: line(["permit_plans", i, "currency"]) });
    else plans.push(p.data);
  });
  let tariff: SiteFile["tariff"];
  let document: unknown;
  let tariffLineOf: LineOf | undefined;
  if (f.tariff) {
    const t = f.tariff;
    if (t.file !== undefined) {
      if (!o.readTariff) issues.push({ path: "tariff.file", message: "not accepted here: give the tariff inline as tariff.document", line: line(["tariff", "file"]) });
      else {
        const read = o.readTariff(t.file);
        if (read.ok) ({ value: document, lineOf: tariffLineOf } = read);
        else issues.push(...read.issues);
      }
    } else document = t.document;
    const effectiveFrom = t.effective_from !== undefined ? parseInstant(t.effective_from) : undefined;
    if (document !== undefined) {
      const where = t.file !== undefined ? `tariff.file ${t.file}` : "tariff.document";
      const prepared = prepareTariff({ timeZone: f.site.time_zone, currency: f.site.currency }, JSON.stringify(document), 1, effectiveFrom ?? new Date());
      const whole = (p: string) => p === "(document)" || p === "(tariff)";
      const lineIn = (p: string) => (whole(p) ? undefined : t.file !== undefined ? tariffLineOf?.(pathOf(p)) : line(["tariff", "document", ...pathOf(p)]));
      if (!prepared.ok) {
        for (const e of prepared.errors) {
          const at = lineIn(e.path);
          issues.push({ path: t.file !== undefined ? `${where}: ${e.path}` : join(where, whole(e.path) ? [] : [e.path]), message: e.message, ...(at !== undefined ? { line: at } : {}) });
        }
      } else tariff = { document: document as Record<string, unknown>, ...(effectiveFrom ? { effectiveFrom } : {}) };
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  const { tariff: rawTariff, ...rest } = value as Record<string, unknown>;
  const body: Record<string, unknown> = { ...rest, ...(rawTariff !== undefined ? { tariff: { document, ...(f.tariff?.effective_from ? { effective_from: f.tariff.effective_from } : {}) } } : {}) };
  return { ok: true, file: { site: f.site, lanes: f.lanes, ...(tariff ? { tariff } : {}), plans }, body };
}

/**
 * Reads and checks a site file from disk: its `tariff.file` relative to it. `body` is the file
 * with the tariff inline — what `PUT /api/admin/seed` takes.
 */
export function readSiteFile(path: string): SiteFileResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return { ok: false, issues: [{ path: "(file)", message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }] };
  }
  const parsed = parseText(text);
  if (!parsed.ok) return parsed;
  const readTariff = (rel: string) => readTariffFile(resolve(dirname(path), rel), `tariff.file ${rel}`);
  return checkSiteFile(parsed.value, { lineOf: parsed.lineOf, readTariff });
}

export type TariffFileResult = { ok: true; value: unknown; lineOf?: LineOf } | { ok: false; issues: FileIssue[] };

/** A tariff document file (JSON or YAML). */
export function readTariffFile(path: string, label = path): TariffFileResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return { ok: false, issues: [{ path: label, message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }] };
  }
  return parseText(text, label);
}

/** One issue as a line: `lanes[1].kind (line 12): entry or exit`. */
export function issueLine(i: FileIssue): string {
  return `${i.path}${i.line !== undefined ? ` (line ${i.line})` : ""}: ${i.message}`;
}
