/**
 * A merchant's page (issue 18): `/merchant/:token`, the secret link the operator gave the shop,
 * cinema or hotel (only its SHA-256 is stored). On it, in French or English: the rule and the
 * budget left, "issue a code" (shown with its QR `SPV1.<code>` as an SVG, for the customer to
 * type or scan at the pay station or on the pay page), "validate a ticket" by its 8-digit code,
 * its QR text or the car's plate (the merchant's rule applied to that stay at once), and the
 * codes issued lately. The operator's side, /console/merchants, is ./console/merchants-page.ts,
 * on this same router. HTML only, never raw JSON; a bad field is a 400 page naming it.
 */
import { randomBytes } from "node:crypto";
import express, { type Request, type Response, type Router } from "express";
import QRCode from "qrcode";
import { z } from "zod";
import { ticketIdFromQr, VALIDATION_QR_PREFIX } from "../../contracts/ticket";
import { getSite, tariffInForce, type Identity } from "../db/index";
import { findOpenSessionByAnyIdentity } from "../db/identities";
import { listMerchantCodes, merchantByToken, type MerchantRow, type ValidationCodeRow } from "../db/merchants";
import { canonicalPlate, PLATE_FORM } from "../domain/plates";
import { issueCodeForMerchant, REFUSAL_TEXT, validateAndReprice } from "../flows/validations";
import { formatMoney } from "../tariffs/index";
import { tariffOf, type FlowContext } from "../flows/flow-context";
import { registerMerchantConsole } from "./console/merchants-page";
import type { AppDeps } from "./deps";
import { formBody, wrap } from "./input";
import { esc, layout, pickLang, type Lang } from "./pages";

/** The flow context of a page that prices an exit (the pay page, the merchant page): what the MQTT consumer's has, from the app's parts. */
export function flowContextOf(d: Pick<AppDeps, "db" | "logger" | "src" | "publicBaseUrl" | "wake" | "auditMode" | "billingEnabled">): FlowContext {
  return { db: d.db, logger: d.logger, src: d.src, get publicBaseUrl() { return d.publicBaseUrl(); }, wake: () => d.wake(), auditMode: d.auditMode, billingEnabled: d.billingEnabled };
}

const MT = {
  fr: {
    title: "Validations commerçant", rule: "Votre validation", budget: "Budget restant", issue: "Émettre un code", issued: "Code émis : à saisir ou scanner à la caisse ou sur la page de paiement (une seule fois).",
    validate: "Valider un ticket", ticket: "Code du ticket (8 chiffres), texte du QR ou plaque", validateBtn: "Valider", recent: "Codes récents",
    code: "Code", state: "État", at: "Émis le", used: "Utilisé le", cost: "Coût", states: { issued: "émis", used: "utilisé", void: "annulé" },
    notFound: "Lien inconnu ou désactivé.", badTicket: "ticket : donnez le code à 8 chiffres du ticket, le texte de son QR (SPK1.…) ou une plaque", noSession: "ticket : aucun stationnement en cours ne correspond",
    validated: (amount: string) => `Ticket validé : ${amount} de moins pour le client.`, refused: "Refusé", back: "Retour",
  },
  en: {
    title: "Merchant validations", rule: "Your validation", budget: "Budget left", issue: "Issue a code", issued: "Code issued: to type or scan at the pay station or on the pay page (once).",
    validate: "Validate a ticket", ticket: "Ticket code (8 digits), QR text or plate", validateBtn: "Validate", recent: "Recent codes",
    code: "Code", state: "State", at: "Issued", used: "Used", cost: "Cost", states: { issued: "issued", used: "used", void: "cancelled" },
    notFound: "Unknown or disabled link.", badTicket: "ticket: give the ticket's 8-digit code, its QR text (SPK1.…) or a plate", noSession: "ticket: no stay in progress matches",
    validated: (amount: string) => `Ticket validated: ${amount} less for the customer.`, refused: "Refused", back: "Back",
  },
} as const;

const TicketForm = z.object({ ticket: z.string().max(80).optional() });
const IssueForm = z.object({ key: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/).optional() });

/** What the merchant typed, as the identity of a stay: an 8-digit ticket code, a ticket QR, or a plate. */
export function identityOfTicketInput(raw: string): Identity | undefined {
  const s = raw.trim();
  if (/^\d{8}$/.test(s)) return { method: "ticket", value: s };
  const id = ticketIdFromQr(s);
  if (id) return { method: "ticket", value: id };
  const plate = canonicalPlate(s);
  return PLATE_FORM.test(plate) && /[A-Z]/.test(plate) ? { method: "plate", value: plate } : undefined;
}

async function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, { type: "svg", margin: 1, errorCorrectionLevel: "M" });
}

interface PageState {
  status?: number;
  notice?: string;
  error?: string;
  issued?: ValidationCodeRow;
  ticket?: string;
}

async function merchantPage(d: Pick<AppDeps, "db">, m: MerchantRow, token: string, lang: Lang, st: PageState): Promise<string> {
  const t = MT[lang];
  const site = await getSite(d.db.sql, m.siteId);
  const tariffRow = await tariffInForce(d.db.sql, m.siteId, new Date());
  const tariff = tariffRow ? tariffOf(tariffRow.tariffId, tariffRow.document) : undefined;
  const rule = tariff?.discounts?.validations?.[m.rule];
  const ruleLabel = rule ? (typeof rule.label === "string" ? rule.label : ((lang === "fr" ? rule.label.fr : undefined) ?? rule.label.en)) : m.rule;
  const money = (n: number) => formatMoney(n, tariff?.currency ?? site.currency, lang);
  const base = `/merchant/${encodeURIComponent(token)}`;
  const q = `?lang=${lang}`;
  const codes = await listMerchantCodes(d.db.sql, m.merchantId, 20);
  const fmt = (x: Date | null) => (x ? new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { timeZone: site.timeZone, dateStyle: "short", timeStyle: "short" }).format(x) : "—");
  const rows = codes.map((c) => `<tr><td><code>${esc(c.code)}</code></td><td>${esc(t.states[c.state])}</td><td>${esc(fmt(c.createdAt))}</td><td>${esc(fmt(c.usedAt))}</td><td class="r">${c.costMinor === null ? "—" : esc(money(c.costMinor))}</td></tr>`).join("");
  const issued = st.issued ? `<div class="card" id="issued"><p>${esc(t.issued)}</p><div class="amount" id="issued-code">${esc(st.issued.code)}</div><div id="issued-qr" class="qr">${await qrSvg(VALIDATION_QR_PREFIX + st.issued.code)}</div></div>` : "";
  const body = `<div class="card"><h1>${esc(m.name)}</h1><p class="muted">${esc(site.name)}</p>
<table><tr><td>${esc(t.rule)}</td><td class="r" id="rule">${esc(ruleLabel)}</td></tr><tr><td>${esc(t.budget)}</td><td class="r" id="budget">${esc(money(m.budgetMinor - m.spentMinor))}</td></tr></table></div>
${st.notice ? `<p class="ok" id="notice" role="status">${esc(st.notice)}</p>` : ""}${st.error ? `<p class="err" id="error" role="alert">${esc(st.error)}</p>` : ""}
${issued}
<div class="card"><h2>${esc(t.issue)}</h2><form method="post" action="${esc(base)}/codes${q}"><input type="hidden" name="key" value="${randomBytes(12).toString("base64url")}"><button class="btn" id="issue" type="submit">${esc(t.issue)}</button></form></div>
<div class="card"><h2>${esc(t.validate)}</h2><form method="post" action="${esc(base)}/validate${q}"><label for="ticket">${esc(t.ticket)}</label><input id="ticket" name="ticket" autocomplete="off" maxlength="80" value="${esc(st.ticket ?? "")}" required><button class="btn alt" id="validate" type="submit">${esc(t.validateBtn)}</button></form></div>
<details class="card" open><summary>${esc(t.recent)}</summary><table id="codes"><tr><th>${esc(t.code)}</th><th>${esc(t.state)}</th><th>${esc(t.at)}</th><th>${esc(t.used)}</th><th class="r">${esc(t.cost)}</th></tr>${rows}</table></details>`;
  return layout(lang, t.title, body);
}

/** The merchant of the link, or the 404 page already sent. */
async function merchantOr404(d: Pick<AppDeps, "db">, req: Request, res: Response, lang: Lang): Promise<MerchantRow | undefined> {
  const token = String(req.params.token);
  const m = /^[A-Za-z0-9_-]{16,64}$/.test(token) ? await merchantByToken(d.db.sql, token) : undefined;
  if (!m) {
    res.status(404).type("html").send(layout(lang, MT[lang].title, `<div class="card" id="result" data-result="notFound"><h1 class="bad">${esc(MT[lang].title)}</h1><p>${esc(MT[lang].notFound)}</p></div>`));
    return undefined;
  }
  return m;
}

function send(res: Response, html: string, status = 200): void {
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Referrer-Policy", "no-referrer"); // the link is the merchant's key: never sent on
  res.status(status).type("html").send(html);
}

export function merchantRouter(d: AppDeps): Router {
  const router = express.Router();
  const form = formBody();
  const page = (fn: (req: Request, res: Response, lang: Lang, m: MerchantRow) => Promise<void>) =>
    wrap(async (req, res) => {
      const lang = pickLang(req.query.lang, req.headers["accept-language"]);
      const m = await merchantOr404(d, req, res, lang);
      if (m) await fn(req, res, lang, m);
    });
  const token = (req: Request) => String(req.params.token);

  router.get("/merchant/:token", page(async (req, res, lang, m) => send(res, await merchantPage(d, m, token(req), lang, {}))));

  router.post("/merchant/:token/codes", form, page(async (req, res, lang, m) => {
    const f = IssueForm.safeParse(req.body ?? {});
    if (!f.success) return send(res, await merchantPage(d, m, token(req), lang, { error: "key: reload the page and try again", status: 400 }), 400);
    const r = await issueCodeForMerchant(d, m.merchantId, f.data.key);
    d.wake();
    const fresh = (await merchantByToken(d.db.sql, token(req))) ?? m;
    if (!r.ok) return send(res, await merchantPage(d, fresh, token(req), lang, { error: `${MT[lang].refused}: ${r.message}` }), 409);
    send(res, await merchantPage(d, fresh, token(req), lang, { issued: r.code }));
  }));

  router.post("/merchant/:token/validate", form, page(async (req, res, lang, m) => {
    const t = MT[lang];
    const f = TicketForm.safeParse(req.body ?? {});
    const typed = f.success ? (f.data.ticket ?? "") : "";
    const identity = identityOfTicketInput(typed);
    if (!identity) return send(res, await merchantPage(d, m, token(req), lang, { error: t.badTicket, ticket: typed.slice(0, 80) }), 400);
    const session = await findOpenSessionByAnyIdentity(d.db.sql, m.siteId, identity);
    if (!session) return send(res, await merchantPage(d, m, token(req), lang, { error: t.noSession, ticket: typed }), 404);
    const r = await validateAndReprice(flowContextOf(d), { siteId: m.siteId, sessionId: session.sessionId, merchantId: m.merchantId, via: "merchant_page" });
    const fresh = (await merchantByToken(d.db.sql, token(req))) ?? m;
    if (!r.outcome.ok) return send(res, await merchantPage(d, fresh, token(req), lang, { error: `${t.refused}: ${REFUSAL_TEXT[r.outcome.reason][lang]} — ${r.outcome.message}`, ticket: typed }), 409);
    const currency = session.currency ?? (await getSite(d.db.sql, m.siteId)).currency;
    send(res, await merchantPage(d, fresh, token(req), lang, { notice: t.validated(formatMoney(r.outcome.cost, currency, lang)) }));
  }));

  registerMerchantConsole(router, d);
  return router;
}
