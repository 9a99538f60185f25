/**
 * The revenue screen's HTML (GET /console/revenue): the filters form (a plain GET form, no
 * script), the totals, the chart as an image of its own (/console/revenue.svg: outside the page's
 * CSP), the export links and the table. Amounts with formatMoney, periods as the site's local
 * dates; everything interpolated is escaped.
 */
import { esc, type Lang } from "../pages";
import type { SiteRow } from "../../db/index";
import { GRANULARITIES, REVENUE_MODES, type RevenueRow } from "../../db/revenue";
import { totals, type RevenueTotal } from "../../flows/revenue";
import { formatMoney } from "../../tariffs/money";
import { modeName, rt } from "./revenue-texts";

/** Rows shown in the page's table; the exports always carry every row. */
export const TABLE_LIMIT = 1000;

export interface FormValues {
  from: string;
  to: string;
  granularity: string;
  site: string[];
  mode: string[];
}

/** The filters as a query string (for the chart image and the export links). */
export function filterQuery(v: FormValues, extra: Record<string, string> = {}): string {
  const u = new URLSearchParams({ from: v.from, to: v.to, granularity: v.granularity });
  for (const s of v.site) u.append("site", s);
  for (const m of v.mode) u.append("mode", m);
  for (const [k, x] of Object.entries(extra)) u.set(k, x);
  return u.toString();
}

function options(values: readonly { value: string; label: string }[], selected: readonly string[], allLabel: string): string {
  const all = `<option value=""${selected.length === 0 ? " selected" : ""}>${esc(allLabel)}</option>`;
  return all + values.map((o) => `<option value="${esc(o.value)}"${selected.includes(o.value) ? " selected" : ""}>${esc(o.label)}</option>`).join("");
}

export function filtersForm(lang: Lang, v: FormValues, sites: readonly SiteRow[], error?: string): string {
  const t = rt(lang);
  const gran = GRANULARITIES.map((g) => `<option value="${g}"${v.granularity === g ? " selected" : ""}>${esc(t.granularities[g])}</option>`).join("");
  return `<section class="card"><h2>${esc(t.filters)}</h2>
${error ? `<p class="err" role="alert" id="revenue-error">${esc(error)}</p>` : ""}
<form method="get" action="/console/revenue" id="revenue-filters"><div class="row">
<div><label for="rv-from">${esc(t.from)}</label><input type="date" id="rv-from" name="from" value="${esc(v.from)}" required></div>
<div><label for="rv-to">${esc(t.to)}</label><input type="date" id="rv-to" name="to" value="${esc(v.to)}" required></div>
<div><label for="rv-gran">${esc(t.granularity)}</label><select id="rv-gran" name="granularity">${gran}</select></div>
<div><label for="rv-site">${esc(t.site)}</label><select id="rv-site" name="site">${options(sites.map((s) => ({ value: s.siteId, label: `${s.name} (${s.siteId})` })), v.site, t.allSites)}</select></div>
<div><label for="rv-mode">${esc(t.mode)}</label><select id="rv-mode" name="mode">${options(REVENUE_MODES.map((m) => ({ value: m, label: t.modes[m] })), v.mode, t.allModes)}</select></div>
<div><button class="btn" type="submit">${esc(t.show)}</button></div>
</div></form></section>`;
}

function totalsTable(lang: Lang, list: (RevenueTotal & { key?: string })[], keyLabel?: string): string {
  const t = rt(lang);
  const money = (n: number, c: string) => esc(formatMoney(n, c, lang));
  const head = `<tr>${keyLabel ? `<th>${esc(keyLabel)}</th>` : ""}<th>${esc(t.currency)}</th><th class="r">${esc(t.gross)}</th><th class="r">${esc(t.refunds)}</th><th class="r">${esc(t.net)}</th><th class="r">${esc(t.count)}</th><th class="r">${esc(t.refundCount)}</th></tr>`;
  const body = list
    .map((x) => `<tr${x.key ? ` data-mode="${esc(x.key)}"` : ` data-currency="${esc(x.currency)}"`}>${keyLabel ? `<td>${esc(x.key ? modeName(lang, x.key as RevenueRow["mode"]) : "")}</td>` : ""}<td>${esc(x.currency)}</td><td class="r">${money(x.gross, x.currency)}</td><td class="r">${money(x.refunds, x.currency)}</td><td class="r net">${money(x.net, x.currency)}</td><td class="r">${x.count}</td><td class="r">${x.refundCount}</td></tr>`)
    .join("");
  return `<div class="scroll"><table class="grid">${head}${body}</table></div>`;
}

function rowsTable(lang: Lang, rows: readonly RevenueRow[], siteNames: Map<string, string>): string {
  const t = rt(lang);
  const money = (n: number, c: string) => esc(formatMoney(n, c, lang));
  const shown = rows.slice(0, TABLE_LIMIT);
  const body = shown
    .map(
      (r) =>
        `<tr><td>${esc(r.bucket)}</td><td>${esc(siteNames.get(r.siteId) ?? r.siteId)} <span class="muted">${esc(t.timeZone)} ${esc(r.timeZone)}</span></td><td>${esc(modeName(lang, r.mode))}</td><td>${esc(r.currency)}</td><td class="r">${money(r.gross, r.currency)}</td><td class="r">${money(r.refunds, r.currency)}</td><td class="r">${money(r.net, r.currency)}</td><td class="r">${r.count}</td><td class="r">${r.refundCount}</td></tr>`,
    )
    .join("");
  const note = rows.length > shown.length ? `<p class="note" id="revenue-truncated">${esc(t.truncated(shown.length, rows.length))}</p>` : "";
  return `${note}<div class="scroll"><table class="grid" id="revenue-rows"><thead><tr><th>${esc(t.bucket)}</th><th>${esc(t.site)}</th><th>${esc(t.mode)}</th><th>${esc(t.currency)}</th><th class="r">${esc(t.gross)}</th><th class="r">${esc(t.refunds)}</th><th class="r">${esc(t.net)}</th><th class="r">${esc(t.count)}</th><th class="r">${esc(t.refundCount)}</th></tr></thead><tbody>${body}</tbody></table></div>`;
}

export function reportBody(lang: Lang, v: FormValues, sites: readonly SiteRow[], rows: readonly RevenueRow[]): string {
  const t = rt(lang);
  const siteNames = new Map(sites.map((s) => [s.siteId, s.name]));
  if (rows.length === 0) return `${filtersForm(lang, v, sites)}<section class="card"><p class="muted" id="revenue-empty">${esc(t.noData)}</p><p class="muted">${esc(t.note)}</p></section>`;
  const exports = `<p>${esc(t.export)} — <a class="btn alt" id="export-csv" href="/api/console/revenue?${esc(filterQuery(v, { format: "csv" }))}">${esc(t.csv)}</a>
<a class="btn alt" id="export-ndjson" href="/api/console/revenue?${esc(filterQuery(v, { format: "ndjson" }))}">${esc(t.ndjson)}</a></p>`;
  return `${filtersForm(lang, v, sites)}
<section class="card"><h2>${esc(t.totals)}</h2><div id="revenue-totals">${totalsTable(lang, totals(rows))}</div>
<h2>${esc(t.totalsByMode)}</h2><div id="revenue-totals-mode">${totalsTable(lang, totals(rows, (r) => r.mode), t.mode)}</div>
<p class="muted">${esc(t.note)}</p>${exports}</section>
<section class="card"><div class="scroll"><img id="revenue-chart" src="/console/revenue.svg?${esc(filterQuery(v, { lang }))}" alt="${esc(t.chart)}"></div></section>
<section class="card">${rowsTable(lang, rows, siteNames)}</section>`;
}
