/**
 * The search and session screens' HTML (issue 17): the search form and its results, and the
 * session page that explains an exit — times in the site's zone, amounts formatted, audit rows
 * worded (feed-text.ts) with their chain check, and the forms that act on it (refund, resolve a
 * flagged session) for the roles that may.
 */
import type { OperatorRole } from "../../db/index";
import type { SessionDetail, SessionHit } from "../../flows/session-views";
import { formatMoney } from "../../tariffs/index";
import { esc, type Lang } from "../pages";
import { describeAuditRow } from "./feed-text";
import { siteTime } from "./i18n";
import { stateWord } from "./state-words";
import { sessionTexts, type SessionTexts } from "./sessions-texts";

const money = (amount: number | null, currency: string | null, lang: Lang) => (amount === null || currency === null ? "—" : formatMoney(amount, currency, lang));

export interface SearchForm {
  q?: string;
  ref?: string;
  amount?: string;
  site?: string;
  status?: string;
  from?: string;
  to?: string;
}

export function searchBody(form: SearchForm, hits: SessionHit[] | undefined, sites: { siteId: string; name: string }[], lang: Lang, error?: { field: string; message: string }): string {
  const t = sessionTexts(lang);
  const field = (name: keyof SearchForm, label: string, type = "text", extra = "") =>
    `<div><label for="f-${name}">${esc(label)}</label><input id="f-${name}" name="${name}" type="${type}" value="${esc(form[name] ?? "")}" ${extra}>${error?.field === name ? `<p class="field-error" role="alert">${esc(error.message)}</p>` : ""}</div>`;
  const siteOptions = sites.map((s) => `<option value="${esc(s.siteId)}"${form.site === s.siteId ? " selected" : ""}>${esc(s.name)}</option>`).join("");
  const statusOptions = ["active", "pending_payment", "paid", "closed", "flagged"].map((s) => `<option value="${s}"${form.status === s ? " selected" : ""}>${esc(t.statuses[s as keyof SessionTexts["statuses"]])}</option>`).join("");
  const rows = (hits ?? [])
    .map(
      (h) => `<tr><td><a href="/console/sessions/${esc(h.sessionId)}">${esc(h.identityValue)}</a> <span class="muted">${esc(t.methods[h.identityMethod])}</span></td><td>${esc(h.siteId)}</td>
<td class="r">${esc(siteTime(h.entryTs, h.timeZone, lang))}</td><td class="r">${esc(siteTime(h.exitTs, h.timeZone, lang) || "—")}</td><td><span class="pill ${h.status === "flagged" ? "bad" : h.status === "closed" ? "" : "ok"}">${esc(t.statuses[h.status])}</span></td><td class="r">${esc(money(h.amount, h.currency, lang))}</td></tr>`,
    )
    .join("");
  const results =
    hits === undefined
      ? ""
      : `<div class="card"><h2>${esc(t.results(hits.length))}</h2><div class="scroll"><table class="grid" id="results"><thead><tr><th>${esc(t.identity)}</th><th>${esc(t.site)}</th><th class="r">${esc(t.entry)}</th><th class="r">${esc(t.exit)}</th><th>${esc(t.status)}</th><th class="r">${esc(t.amount)}</th></tr></thead><tbody>${rows}</tbody></table></div></div>`;
  return `<div class="card"><h1>${esc(t.searchTitle)}</h1>
<form method="get" action="/console/search" id="search-form"><div class="row">
${field("q", t.identityLabel, "search", 'autofocus autocomplete="off"')}${field("ref", t.refLabel)}${field("amount", t.amountLabel, "text", 'inputmode="decimal"')}</div>
<div class="row"><div><label for="f-site">${esc(t.site)}</label><select id="f-site" name="site"><option value="">—</option>${siteOptions}</select></div>
<div><label for="f-status">${esc(t.status)}</label><select id="f-status" name="status"><option value="">—</option>${statusOptions}</select></div>
${field("from", t.from, "date")}${field("to", t.to, "date")}</div>
<button class="btn" type="submit">${esc(t.search)}</button></form></div>${results}`;
}

function kv(rows: [string, string][]): string {
  return `<dl class="kv">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

function refundForm(d: SessionDetail, lang: Lang, key: string): string {
  const t = sessionTexts(lang);
  const refundable = d.payments.filter((p) => p.state === "paid" && p.refundedAmount < p.amount);
  if (refundable.length === 0) return `<p class="muted">${esc(t.nothingToRefund)}</p>`;
  const options = refundable.map((p) => `<option value="${esc(p.paymentId)}">${esc(p.paymentId)} — ${esc(money(p.amount - p.refundedAmount, p.currency, lang))} ${esc(t.refundable)}</option>`).join("");
  return `<form method="post" action="/console/sessions/${esc(d.session.sessionId)}/refund" id="refund-form" data-confirm="${esc(t.confirmRefund)}">
<input type="hidden" name="key" value="${esc(key)}"><label for="r-payment">${esc(t.payment)}</label><select id="r-payment" name="payment_id">${options}</select>
<label for="r-amount">${esc(t.refundAmount)}</label><input id="r-amount" name="amount" inputmode="decimal" placeholder="${esc(t.refundAmountHint)}">
<label for="r-reason">${esc(t.reason)}</label><input id="r-reason" name="reason" minlength="3" maxlength="400" required>
<button class="btn danger" type="submit">${esc(t.refund)}</button></form>`;
}

function resolveForm(d: SessionDetail, lang: Lang): string {
  const t = sessionTexts(lang);
  if (d.session.status !== "flagged") return "";
  return `<form method="post" action="/console/sessions/${esc(d.session.sessionId)}/resolve" id="resolve-form" data-confirm="${esc(t.confirmResolve)}">
<h2>${esc(t.resolveTitle)}</h2><p class="muted">${esc(t.flaggedBecause)} ${esc(d.session.flagReason ?? "—")}</p>
<label for="v-resolution">${esc(t.resolution)}</label><select id="v-resolution" name="resolution"><option value="waived">${esc(t.waived)}</option><option value="paid_elsewhere">${esc(t.paidElsewhere)}</option></select>
<label for="v-reason">${esc(t.reason)}</label><input id="v-reason" name="reason" minlength="3" maxlength="200" required>
<button class="btn" type="submit">${esc(t.resolve)}</button></form>`;
}

export function sessionBody(d: SessionDetail, lang: Lang, role: OperatorRole, opts: { notice?: string; error?: string; refundKey: string }): string {
  const t = sessionTexts(lang);
  const tz = d.site.timeZone;
  const s = d.session;
  const time = (x: Date | null | undefined) => esc(siteTime(x, tz, lang) || "—");
  const quote = (s.quoteBreakdown ?? null) as { labels?: Partial<Record<Lang, string[]>> } | null;
  const lines = quote?.labels?.[lang] ?? [];
  const payments = d.payments
    .map((p) => `<tr><td>${esc(p.paymentId)}<br><span class="muted">${esc(p.providerRef ?? "")}</span></td><td>${esc(t.paymentStates[p.state] ?? p.state)}${p.failureReason ? ` — ${esc(p.failureReason)}` : ""}</td><td class="r">${esc(money(p.amount, p.currency, lang))}</td><td class="r">${p.refundedAmount ? esc(money(p.refundedAmount, p.currency, lang)) : "—"}</td><td class="r">${time(p.validatedTs ?? p.createdAt)}</td></tr>`)
    .join("");
  const refunds = d.refunds.map((r) => `<tr><td>${esc(r.refundId)}</td><td>${esc(stateWord(r.state, lang))}</td><td class="r">${esc(money(r.amount, r.currency, lang))}</td><td>${esc(r.reason)}</td><td>${esc(r.requestedBy ?? "")}</td><td class="r">${time(r.createdAt)}</td></tr>`).join("");
  const docs = d.documents.map((doc) => `<li><a href="/api/operator/documents/${esc(doc.documentId)}.pdf">${esc(doc.number)}</a> ${esc(t.docKinds[doc.kind] ?? doc.kind)} · ${esc(money(doc.totalTtc, doc.currency, lang))} · ${time(doc.issuedAt)}</li>`).join("");
  const overrides = d.overrides.map((o) => `<tr><td>${esc(o.cmdId)}</td><td>${esc(o.laneId)}</td><td>${esc(stateWord(o.action === "reset" ? "reset" : "override", lang))}</td><td>${esc(o.operator)}</td><td>${esc(o.reason)}</td><td>${esc(o.ackResult ? stateWord(o.ackResult, lang) : t.noAck)}</td><td class="r">${time(o.createdAt)}</td></tr>`).join("");
  const audit = d.audit
    .map((a) => {
      const f = describeAuditRow({ seq: a.seq ?? 0, ts: a.ts, kind: a.kind, sessionId: s.sessionId, payload: a.payload }, lang);
      const v = a.verified === null ? `<span class="pill warn">${esc(t.queued)}</span>` : a.verified ? `<span class="pill ok">✓</span>` : `<span class="pill bad">${esc(t.broken)}</span>`;
      return `<tr><td class="r">${a.seq ?? "—"}</td><td class="r">${time(a.ts)}</td><td>${esc(f.text)}</td><td>${v}</td></tr>`;
    })
    .join("");
  const canAct = role !== "viewer";
  return `${opts.notice ? `<p class="note" role="status" id="notice">${esc(opts.notice)}</p>` : ""}${opts.error ? `<p class="err" role="alert" id="error">${esc(opts.error)}</p>` : ""}
<div class="card" id="session" data-session="${esc(s.sessionId)}" data-status="${esc(s.status)}"><h1>${esc(s.identityValue)} <span class="muted">${esc(t.methods[s.identityMethod])}</span> <span class="pill ${s.status === "flagged" ? "bad" : "ok"}">${esc(t.statuses[s.status])}</span></h1>
${kv([
  [t.site, `${esc(d.site.name)} <span class="muted">${esc(s.siteId)}</span>`],
  [t.entry, `${time(s.entryTs)} · ${esc(d.entryLane ?? "—")}`],
  [t.exit, `${time(s.exitTs)} · ${esc(d.exitLane ?? "—")}${s.exitMethod ? ` · ${esc(stateWord(s.exitMethod, lang))}` : ""}`],
  [t.barrier, esc(stateWord(s.barrierResult, lang))],
  [t.amount, `${esc(money(s.amount, s.currency, lang))}${s.tariffVersion ? ` <span class="muted">${esc(t.tariffVersion)} ${s.tariffVersion}</span>` : ""}`],
  [t.quote, lines.length ? lines.map(esc).join("<br>") : "—"],
  [t.sessionId, `<code>${esc(s.sessionId)}</code>`],
])}</div>
<div class="cols"><div class="card"><h2>${esc(t.payments)}</h2><div class="scroll"><table class="grid" id="payments"><thead><tr><th>${esc(t.payment)}</th><th>${esc(t.status)}</th><th class="r">${esc(t.amount)}</th><th class="r">${esc(t.refunded)}</th><th class="r">${esc(t.when)}</th></tr></thead><tbody>${payments}</tbody></table></div>
${d.refunds.length ? `<h2>${esc(t.refunds)}</h2><div class="scroll"><table class="grid" id="refunds"><thead><tr><th>${esc(t.refund)}</th><th>${esc(t.status)}</th><th class="r">${esc(t.amount)}</th><th>${esc(t.reasonShort)}</th><th>${esc(t.by)}</th><th class="r">${esc(t.when)}</th></tr></thead><tbody>${refunds}</tbody></table></div>` : ""}
<h2>${esc(t.documents)}</h2>${docs ? `<ul id="documents">${docs}</ul>` : `<p class="muted">${esc(t.noDocument)}</p>`}
${canAct ? `<h2>${esc(t.refund)}</h2>${refundForm(d, lang, opts.refundKey)}` : ""}</div>
<div class="card"><h2>${esc(t.overrides)}</h2>${overrides ? `<div class="scroll"><table class="grid" id="overrides"><thead><tr><th>cmd_id</th><th>${esc(t.lane)}</th><th>${esc(t.action)}</th><th>${esc(t.operator)}</th><th>${esc(t.reasonShort)}</th><th>${esc(t.ack)}</th><th class="r">${esc(t.when)}</th></tr></thead><tbody>${overrides}</tbody></table></div>` : `<p class="muted">${esc(t.noOverride)}</p>`}
${canAct ? resolveForm(d, lang) : ""}</div></div>
<div class="card"><h2>${esc(t.audit)} <span class="pill ${d.chainVerified ? "ok" : "bad"}" id="chain" data-verified="${d.chainVerified}">${esc(d.chainVerified ? t.chainOk : t.chainBroken)}</span></h2>
<div class="scroll"><table class="grid" id="audit"><thead><tr><th class="r">#</th><th class="r">${esc(t.when)}</th><th>${esc(t.what)}</th><th>${esc(t.chain)}</th></tr></thead><tbody>${audit}</tbody></table></div></div>`;
}
