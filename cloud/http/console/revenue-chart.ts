/**
 * The revenue chart, rendered on the server to SVG by a real charting library: vega-lite compiles
 * the spec, vega renders it headless (`renderer: "none"` + toSVG: no canvas, no browser; text is
 * measured by vega's estimate). Stacked bars of NET amounts per bucket, one colour per payment
 * mode (a net below zero — refunds above takings that bucket — stacks below the axis), axis
 * labels in the operator's language, amounts in the currency's format. Several currencies are
 * never added: one panel per currency. The console serves it as its own image
 * (GET /console/revenue.svg), so the page's CSP is not involved at all; vega writes presentation
 * attributes (fill=, stroke=), no style attribute either.
 */
import * as vega from "vega";
import * as vegaLite from "vega-lite";
import { esc, type Lang } from "../pages";
import type { Granularity, RevenueMode, RevenueRow } from "../../db/revenue";
import { formatMoney, minorDigits } from "../../tariffs/money";
import { modeName, rt } from "./revenue-texts";

/** d3-format's currency [prefix, suffix] for a currency in a language, read from Intl (formatMoney). */
function currencyAffixes(currency: string, lang: Lang): [string, string] {
  const s = formatMoney(0, currency, lang);
  const m = /^([^\d]*)\d[\d.,\s\u00a0\u202f]*?([^\d]*)$/.exec(s);
  return m ? [m[1], m[2]] : ["", ` ${currency}`];
}

function numberLocale(lang: Lang, currency: string): object {
  const fr = lang === "fr";
  return { decimal: fr ? "," : ".", thousands: fr ? "\u202f" : ",", grouping: [3], currency: currencyAffixes(currency, lang), minus: "-" };
}

const DATE_FMT = {
  fr: { day: { day: "2-digit", month: "2-digit" }, week: { day: "2-digit", month: "2-digit", year: "2-digit" }, month: { month: "short", year: "numeric" } },
  en: { day: { day: "numeric", month: "short" }, week: { day: "numeric", month: "short", year: "2-digit" }, month: { month: "short", year: "numeric" } },
} as const;

/** "2026-03-30" → "30/03" (fr, day), "Mar 2026" (en, month): the bucket's local date as a calendar date. */
function bucketLabel(bucket: string, g: Granularity, lang: Lang): string {
  return new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { ...DATE_FMT[lang][g], timeZone: "UTC" }).format(new Date(`${bucket}T00:00:00Z`));
}

export interface ChartInput {
  rows: readonly RevenueRow[];
  granularity: Granularity;
  lang: Lang;
}

/** The chart's data: net per bucket, mode and currency, summed over the sites, in major units (display only). */
function chartData(c: ChartInput) {
  const acc = new Map<string, { bucket: string; label: string; mode: string; modeKey: RevenueMode; currency: string; minor: number }>();
  for (const r of c.rows) {
    const k = `${r.bucket}|${r.mode}|${r.currency}`;
    const e = acc.get(k) ?? { bucket: r.bucket, label: bucketLabel(r.bucket, c.granularity, c.lang), mode: modeName(c.lang, r.mode), modeKey: r.mode, currency: r.currency, minor: 0 };
    e.minor += r.net;
    acc.set(k, e);
  }
  return [...acc.values()].map((e) => ({ ...e, net: e.minor / 10 ** minorDigits(e.currency) }));
}

function spec(c: ChartInput, data: ReturnType<typeof chartData>, currencies: string[]): vegaLite.TopLevelSpec {
  const t = rt(c.lang);
  const one = currencies.length === 1;
  const digits = one ? minorDigits(currencies[0]) : 2;
  const encoding = {
    x: { field: "label", type: "ordinal" as const, sort: { field: "bucket" }, title: t.axisBucket[c.granularity], axis: { labelAngle: -45 } },
    y: { field: "net", type: "quantitative" as const, aggregate: "sum" as const, stack: "zero" as const, title: one ? `${t.axisNet} (${currencies[0]})` : t.axisNet, axis: { format: one ? `$,.${digits}f` : `,.2f` } },
    color: { field: "mode", type: "nominal" as const, title: t.legendMode, sort: { field: "modeKey" } },
    order: { field: "modeKey" },
  };
  // The number locale travels in the spec's config (vega applies it to this view's formats only, no global state).
  const base = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", data: { values: data }, background: "white", config: { font: "sans-serif", locale: { number: numberLocale(c.lang, currencies[0]) } } };
  if (one) return { ...base, width: { step: 22 }, height: 260, mark: { type: "bar" }, encoding } as vegaLite.TopLevelSpec;
  return { ...base, facet: { row: { field: "currency", type: "nominal", title: t.currency } }, spec: { width: { step: 22 }, height: 200, mark: { type: "bar" }, encoding }, resolve: { scale: { y: "independent" } } } as vegaLite.TopLevelSpec;
}

/** The SVG document (a string starting with <svg). No data → a small SVG saying so. */
export async function revenueChartSvg(c: ChartInput): Promise<string> {
  const data = chartData(c);
  const currencies = [...new Set(data.map((d) => d.currency))].sort();
  if (data.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="360" height="40" viewBox="0 0 360 40"><rect width="360" height="40" fill="white"/><text x="10" y="25" font-family="sans-serif" font-size="14" fill="#5d6b7e">${esc(rt(c.lang).noData)}</text></svg>`;
  }
  const compiled = vegaLite.compile(spec(c, data, currencies)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
