/**
 * The permit holders' pages (phone-first, French and English): the plans of a site and the form
 * to buy one, the page after Stripe Checkout, /renew-subscription, and their messages. Prices are
 * the plan's, formatted here; nothing typed in these forms sets an amount.
 */
import type { PermitPlanRow, PermitRow } from "../db/index";
import { formatMoney } from "../tariffs/index";
import { esc, layout, type Lang } from "./pages";

const T = {
  fr: {
    title: "Abonnements",
    plansOf: "Abonnements du parking",
    month: "par mois",
    year: "par an",
    free: "Sorties gratuites",
    discount: (p: number) => `${p} % de réduction sur chaque sortie`,
    seatsLeft: (n: number) => `${n} place(s) restante(s)`,
    soldOut: "Complet",
    plan: "Formule",
    email: "Adresse e-mail",
    badge: "Numéro de badge (hexadécimal)",
    plate: "Immatriculation",
    badgeOrPlate: "Indiquez un badge et/ou une immatriculation.",
    buy: "S'abonner",
    none: "Aucun abonnement n'est proposé sur ce parking.",
    done: "Votre abonnement",
    pending: "Paiement reçu, activation en cours… cette page se met à jour.",
    active: "Votre abonnement est actif : vos sorties sont couvertes.",
    past_due: "Le renouvellement a échoué : votre abonnement est suspendu. Mettez à jour votre carte.",
    canceled: "Votre abonnement est terminé.",
    until: "Période en cours jusqu'au",
    manage: "Gérer mon abonnement (carte, résiliation)",
    renew: "Renouveler un abonnement",
    renewIntro: "Votre abonnement a pris fin ou est suspendu ? Indiquez l'e-mail et le badge ou l'immatriculation utilisés lors de l'achat.",
    renewBtn: "Continuer",
    site: "Parking",
    notFoundRenew: "Aucun abonnement ne correspond à ces informations.",
    stillActive: "Cet abonnement est toujours actif : rien à renouveler.",
    full: "Cette formule est complète : plus aucun abonnement disponible.",
    unavailable: "Le service de paiement est momentanément indisponible. Réessayez dans un instant.",
    notFound: "Page introuvable.",
    back: "Retour",
  },
  en: {
    title: "Permits",
    plansOf: "Permits of the car park",
    month: "per month",
    year: "per year",
    free: "Free exits",
    discount: (p: number) => `${p}% off every exit`,
    seatsLeft: (n: number) => `${n} permit(s) left`,
    soldOut: "Sold out",
    plan: "Plan",
    email: "E-mail address",
    badge: "Badge number (hexadecimal)",
    plate: "Licence plate",
    badgeOrPlate: "Give a badge and/or a licence plate.",
    buy: "Subscribe",
    none: "No permit is sold at this car park.",
    done: "Your permit",
    pending: "Payment received, activating… this page refreshes.",
    active: "Your permit is active: your exits are covered.",
    past_due: "The renewal failed: your permit is suspended. Update your card.",
    canceled: "Your permit has ended.",
    until: "Current period until",
    manage: "Manage my permit (card, cancel)",
    renew: "Renew a permit",
    renewIntro: "Has your permit ended or been suspended? Give the e-mail and the badge or plate used when you bought it.",
    renewBtn: "Continue",
    site: "Car park",
    notFoundRenew: "No permit matches these details.",
    stillActive: "This permit is still active: nothing to renew.",
    full: "This plan is sold out: no permit left.",
    unavailable: "Payment is unavailable for a moment. Please try again shortly.",
    notFound: "Page not found.",
    back: "Back",
  },
} as const;

export type PermitTexts = (typeof T)[Lang];
export const permitTexts = (lang: Lang): PermitTexts => T[lang];

export interface PlanView {
  plan: PermitPlanRow;
  seatsLeft: number;
}

export interface FormValues {
  plan?: string;
  email?: string;
  badge?: string;
  plate?: string;
}

function benefitText(t: PermitTexts, p: PermitPlanRow): string {
  return p.benefit === "free" ? t.free : t.discount(p.discountPercent ?? 0);
}

function langSwitch(lang: Lang, path: string): string {
  const other: Lang = lang === "fr" ? "en" : "fr";
  return `<p class="muted"><a href="${esc(path)}?lang=${other}" id="lang">${other === "fr" ? "Français" : "English"}</a></p>`;
}

export function plansPage(o: { lang: Lang; siteId: string; siteName: string; plans: PlanView[]; error?: string; values?: FormValues }): string {
  const t = T[o.lang];
  const v = o.values ?? {};
  if (o.plans.length === 0) return layout(o.lang, t.title, `<div class="card"><h1>${esc(t.plansOf)} ${esc(o.siteName)}</h1><p>${esc(t.none)}</p></div>`);
  const radios = o.plans
    .map(({ plan, seatsLeft }, i) => {
      const id = `plan-${plan.planId}`;
      const checked = v.plan ? v.plan === plan.planId : i === 0;
      const left = seatsLeft > 0 ? t.seatsLeft(seatsLeft) : t.soldOut;
      return `<div class="card"><label for="${esc(id)}"><input type="radio" name="plan" id="${esc(id)}" value="${esc(plan.planId)}"${checked ? " checked" : ""}${seatsLeft > 0 ? "" : " disabled"} class="inline"> <b>${esc(plan.name)}</b> — <span class="price">${esc(formatMoney(plan.amount, plan.currency, o.lang))}</span> ${esc(plan.period === "month" ? t.month : t.year)}</label><p class="muted">${esc(benefitText(t, plan))} · ${esc(left)}</p></div>`;
    })
    .join("");
  const err = o.error ? `<p class="err" id="error" role="alert">${esc(o.error)}</p>` : "";
  return layout(
    o.lang,
    t.title,
    `<div class="card"><h1>${esc(t.plansOf)} ${esc(o.siteName)}</h1>${langSwitch(o.lang, `/permits/${o.siteId}`)}</div>
<form method="post" action="/permits/${esc(o.siteId)}/buy?lang=${o.lang}">
${err}
${radios}
<div class="card">
<label for="email">${esc(t.email)}</label><input id="email" name="email" type="email" autocomplete="email" value="${esc(v.email ?? "")}" required>
<label for="badge">${esc(t.badge)}</label><input id="badge" name="badge" autocomplete="off" value="${esc(v.badge ?? "")}">
<label for="plate">${esc(t.plate)}</label><input id="plate" name="plate" autocomplete="off" value="${esc(v.plate ?? "")}">
<p class="muted">${esc(t.badgeOrPlate)}</p>
<button type="submit" class="btn" id="buy">${esc(t.buy)}</button>
</div>
</form>
<p class="muted"><a href="/renew-subscription?lang=${o.lang}&site=${esc(o.siteId)}">${esc(t.renew)}</a></p>`,
  );
}

export function permitDonePage(o: { lang: Lang; permit: PermitRow; plan: PermitPlanRow; manageHref: string | null; invoices?: { number: string; href: string; pdfHref: string }[] }): string {
  const t = T[o.lang];
  const p = o.permit;
  const status = t[p.status];
  const until = p.currentPeriodEnd && p.status !== "canceled" ? `<p>${esc(t.until)} <b id="period-end">${esc(p.currentPeriodEnd.toISOString().slice(0, 10))}</b></p>` : "";
  const manage = o.manageHref ? `<a class="btn alt" id="manage" href="${esc(o.manageHref)}">${esc(t.manage)}</a>` : "";
  const ids = [p.badgeUid ? `${t.badge}: ${p.badgeUid}` : "", p.plate ? `${t.plate}: ${p.plate}` : ""].filter(Boolean).join(" · ");
  return layout(
    o.lang,
    t.done,
    `<div class="card"><h1>${esc(t.done)}</h1><p><b>${esc(o.plan.name)}</b> — ${esc(formatMoney(o.plan.amount, o.plan.currency, o.lang))} ${esc(o.plan.period === "month" ? t.month : t.year)}</p>
<p class="muted">${esc(ids)}</p>
<p id="status" data-status="${esc(p.status)}" class="${p.status === "active" ? "ok" : p.status === "pending" ? "" : "bad"}">${esc(status)}</p>${until}${manage}</div>${invoiceList(o.lang, o.invoices ?? [])}`,
    p.status === "pending" ? { refreshS: 2 } : {},
  );
}

/** The permit's invoices (one per paid period), each as a page and a PDF. */
function invoiceList(lang: Lang, invoices: { number: string; href: string; pdfHref: string }[]): string {
  if (invoices.length === 0) return "";
  const title = lang === "fr" ? "Vos factures" : "Your invoices";
  const rows = invoices.map((i) => `<tr><td><a class="invoice" href="${esc(i.href)}">${esc(i.number)}</a></td><td class="r"><a class="invoice-pdf" href="${esc(i.pdfHref)}" download>PDF</a></td></tr>`).join("");
  return `<div class="card" id="invoices"><h1>${esc(title)}</h1><table>${rows}</table></div>`;
}

export function renewPage(o: { lang: Lang; sites: { siteId: string; name: string }[]; values?: FormValues & { site?: string }; error?: string }): string {
  const t = T[o.lang];
  const v = o.values ?? {};
  const options = o.sites.map((s) => `<option value="${esc(s.siteId)}"${v.site === s.siteId ? " selected" : ""}>${esc(s.name)}</option>`).join("");
  const err = o.error ? `<p class="err" id="error" role="alert">${esc(o.error)}</p>` : "";
  return layout(
    o.lang,
    t.renew,
    `<div class="card"><h1>${esc(t.renew)}</h1><p>${esc(t.renewIntro)}</p>${langSwitch(o.lang, "/renew-subscription")}</div>
<form method="post" action="/renew-subscription?lang=${o.lang}" class="card">${err}
<label for="site">${esc(t.site)}</label><select id="site" name="site">${options}</select>
<label for="email">${esc(t.email)}</label><input id="email" name="email" type="email" value="${esc(v.email ?? "")}" required>
<label for="badge">${esc(t.badge)}</label><input id="badge" name="badge" value="${esc(v.badge ?? "")}">
<label for="plate">${esc(t.plate)}</label><input id="plate" name="plate" value="${esc(v.plate ?? "")}">
<button type="submit" class="btn" id="renew">${esc(t.renewBtn)}</button></form>`,
  );
}

export function permitMessagePage(lang: Lang, message: keyof PermitTexts, backHref?: string): string {
  const t = T[lang];
  const text = t[message];
  const back = backHref ? `<a class="btn alt" id="back" href="${esc(backHref)}">${esc(t.back)}</a>` : "";
  return layout(lang, t.title, `<div class="card"><p id="message">${esc(typeof text === "string" ? text : "")}</p>${back}</div>`);
}
