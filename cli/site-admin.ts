/**
 * What `syspark site|lane|tariff|seed` share (not a command: cli/main.ts loads only
 * cli/commands/): where they work (the database cli-support.ts resolves, or a running cloud's
 * operator API), who they say acted in the audit rows (`cli:<os user>`, `via: "cli"`), the
 * problems of a file listed one per line, and the tariff preview as a table.
 */
import { hostname, userInfo } from "node:os";
import { loginPrompt } from "./prompt";

type CloudApi = import("../cloud/server/cli-support").CloudApi;
type Db = import("../cloud/db/index").Database;
type Acting = import("../cloud/flows/site-admin").Acting;
type SiteAdminContext = import("../cloud/flows/site-admin").SiteAdminContext;
type TariffPreview = import("../cloud/flows/tariff-publish").TariffPreview;
export type FileIssue = import("../cloud/flows/site-file").FileIssue;

/** On the database (`db`) or through the cloud's API (`api`), as cli-support.ts resolves it (and says on stderr). */
export async function onCloud<T>(opts: { url?: string; dataDir?: string; schema?: string }, run: { api(api: CloudApi): Promise<T>; db(db: Db): Promise<T> }): Promise<T> {
  const { withCloud } = await import("../cloud/server/cli-support");
  return withCloud(opts, run, loginPrompt());
}

/** The audit rows' "who" when the command writes the database itself (no operator logged in). */
export function cliActor(): Acting {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = hostname();
  }
  return { username: `cli:${user}`.slice(0, 64), operatorId: null, role: null, requestId: null, via: "cli" };
}

/**
 * The admin flows' context on the database. Audit rows are chained inline (no running cloud
 * chains them for us); the site's state message goes to its outbox with this `src`, and the
 * cloud's relay sends it.
 */
export function cliContext(db: Db): SiteAdminContext {
  return { db, auditMode: "inline", src: "syspark-cli" };
}

/**
 * An API call that may answer 400 with the problems of a document (`issues`): those are
 * returned to be listed; any other refusal is thrown as a readable error.
 */
export async function callWithIssues<T>(api: CloudApi, method: string, path: string, what: string, body: unknown): Promise<{ ok: true; value: T } | { ok: false; issues: FileIssue[] }> {
  const { apiError } = await import("../cloud/server/cli-support");
  const r = await api.fetch(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (r.ok) return { ok: true, value: (await r.json()) as T };
  if (r.status === 400) {
    const text = await r.clone().text();
    try {
      const b = JSON.parse(text) as { issues?: FileIssue[] };
      if (Array.isArray(b.issues)) return { ok: false, issues: b.issues };
    } catch {
      // not the issues answer: a readable error below
    }
  }
  throw await apiError(r, what);
}

/** Lists the problems on stderr (one a line, with its path and line) and returns the error to throw (exit code 1). */
export function refused(what: string, issues: readonly FileIssue[]): Error {
  for (const i of issues) process.stderr.write(`  ${i.path}${i.line !== undefined ? ` (line ${i.line})` : ""}: ${i.message}\n`);
  return new Error(`${what}: ${issues.length} problem${issues.length === 1 ? "" : "s"} (listed above), nothing written`);
}

/** Rows of cells as aligned columns (the first row is the header). */
export function table(rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => (rightAligned.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd()).join("\n");
}

/** An instant on the site's wall clock: `2026-07-02 09:00`. */
function siteClock(iso: string, zone: string): string {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** The preview of the pricing function: each sample stay priced by the new version and by the one in force. */
export async function previewTable(p: TariffPreview): Promise<string> {
  const { formatMoney } = await import("../cloud/tariffs/index");
  const money = (n: number | null) => (n === null ? "—" : formatMoney(n, p.currency, "en"));
  const diff = (n: number | null) => (n === null ? "—" : n === 0 ? "0" : `${n > 0 ? "+" : "−"}${formatMoney(Math.abs(n), p.currency, "en")}`);
  const head = ["stay", `entry (${p.time_zone})`, "exit", "new price", p.current_version !== null ? `in force (v${p.current_version})` : "in force", "difference"];
  const rows = p.lines.map((l) => [l.stay, siteClock(l.entry, p.time_zone), siteClock(l.exit, p.time_zone), l.amount === null ? `not priced: ${l.error ?? "?"}` : money(l.amount), money(l.current), diff(l.difference)]);
  return table([head, ...rows], [3, 4, 5]);
}
