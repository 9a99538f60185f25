/**
 * Reservations, the driver's pages (issue 18): `GET /reservations/:siteId` (book a stay: plate
 * optional, from, to), `POST /reservations/:siteId` (priced by the server, then off to the card
 * page of the prepay path), `GET /reservations/:siteId/:reservationId` (where it stands; once paid,
 * the QR `SPR1.<code>` to show at the entry and the window) and `…/return` (back from the card
 * page: the provider asked server-side first). The reservation id in the link is its key (random,
 * like a prepayment's). HTML only, in French or English; a bad field is a 400 page naming it.
 */
import express, { type Request, type Response, type Router } from "express";
import QRCode from "qrcode";
import { z } from "zod";
import { RESERVATION_QR_PREFIX } from "../../contracts/ticket";
import { getSite, NotFoundError } from "../db/index";
import type { ReservationRow } from "../db/reservations";
import { HttpError } from "../flows/errors";
import { ReservationService } from "../flows/reservations";
import { formatMoney } from "../tariffs/index";
import { instantOfLocal } from "../tariffs/tz";
import type { AppDeps } from "./deps";
import { formBody, wrap } from "./input";
import { esc, formatDuration, layout, paymentElementForm, pickLang, type Lang } from "./pages";

type ReservationDeps = Pick<AppDeps, "db" | "logger" | "stripe" | "stripeMode" | "publishableKey" | "publicBaseUrl" | "emulatorPayUrl" | "retrieveOnReturn" | "auditMode" | "wake">;

const RT = {
  fr: {
    title: "Réserver une place", plate: "Plaque (facultatif : sinon, le QR code suffit)", from: "Arrivée", to: "Départ", book: "Réserver et payer",
    intro: "Une place vous est gardée même si le parking affiche complet ; entrez jusqu'à 15 min avant l'heure d'arrivée, la sortie est gratuite jusqu'à l'heure de départ.",
    pending: "Paiement en attente", pendingText: "La réservation sera confirmée dès que le paiement est validé.", paid: "Réservation confirmée", paidText: "Présentez ce QR code (ou votre plaque) à l'entrée.",
    failed: "Réservation non payée", window: "Créneau", amount: "Montant", code: "Code", notFound: "Réservation inconnue", badInput: "Saisie incorrecte", back: "Retour", payNow: "Payer", emulator: "Mode test : aucune carte réelle n'est débitée.",
    states: { pending: "en attente", paid: "payée", entered: "entrée", exited: "sortie", canceled: "annulée", expired: "expirée" },
  },
  en: {
    title: "Book a space", plate: "Plate (optional: the QR code is enough)", from: "Arrival", to: "Departure", book: "Book and pay",
    intro: "A space is held for you even when the car park shows full; enter up to 15 min before your arrival time, the exit is free until your departure time.",
    pending: "Payment pending", pendingText: "The reservation is confirmed as soon as the payment is validated.", paid: "Reservation confirmed", paidText: "Show this QR code (or your plate) at the entry.",
    failed: "Reservation not paid", window: "Window", amount: "Amount", code: "Code", notFound: "Unknown reservation", badInput: "Incorrect input", back: "Back", payNow: "Pay", emulator: "Test mode: no real card is charged.",
    states: { pending: "pending", paid: "paid", entered: "entered", exited: "exited", canceled: "canceled", expired: "expired" },
  },
} as const;

const BookForm = z.object({ plate: z.string().max(20).optional(), from: z.string().max(20).optional(), to: z.string().max(20).optional() });

/** A datetime-local value "YYYY-MM-DDTHH:MM" read in the site's zone; 400 naming the field otherwise. */
function localInstant(s: string | undefined, zone: string, field: "from" | "to"): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec((s ?? "").trim());
  if (!m) throw new HttpError(400, `body.${field}: a local date and time "YYYY-MM-DDTHH:MM"`, "invalid_input");
  return new Date(instantOfLocal(zone, Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]))));
}

function fmt(d: Date, zone: string, lang: Lang): string {
  return new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { timeZone: zone, dateStyle: "short", timeStyle: "short" }).format(d);
}

async function bookingPage(d: ReservationDeps, siteId: string, lang: Lang, o: { error?: string; form?: Record<string, string> } = {}): Promise<string> {
  const t = RT[lang];
  const site = await getSite(d.db.sql, siteId);
  const f = o.form ?? {};
  const field = (name: string, label: string, type: string, required: boolean) =>
    `<label for="${name}">${esc(label)}</label><input id="${name}" name="${name}" type="${type}" value="${esc(f[name] ?? "")}"${required ? " required" : ""}${o.error?.startsWith(`body.${name}`) ? ' aria-invalid="true"' : ""}>`;
  return layout(lang, t.title, `<div class="card"><h1>${esc(t.title)}</h1><p class="muted">${esc(site.name)}</p><p>${esc(t.intro)}</p>
${o.error ? `<p class="err" id="error" role="alert">${esc(o.error)}</p>` : ""}
<form method="post" action="/reservations/${esc(site.siteId)}?lang=${lang}">${field("plate", t.plate, "text", false)}${field("from", t.from, "datetime-local", true)}${field("to", t.to, "datetime-local", true)}
<button class="btn" id="book" type="submit">${esc(t.book)}</button></form>${d.stripeMode === "emulator" ? `<p class="test">${esc(t.emulator)}</p>` : ""}</div>`);
}

function reservationLink(d: ReservationDeps, r: ReservationRow, lang: Lang, sub = ""): string {
  return `${d.publicBaseUrl()}/reservations/${encodeURIComponent(r.siteId)}/${encodeURIComponent(r.reservationId)}${sub}?lang=${lang}`;
}

async function statusPage(d: ReservationDeps, service: ReservationService, r: ReservationRow, lang: Lang): Promise<string> {
  const t = RT[lang];
  const site = await getSite(d.db.sql, r.siteId);
  const confirmed = r.state === "paid" || r.state === "entered" || r.state === "exited";
  const [title, text, cls] = confirmed ? [t.paid, t.paidText, "ok"] : r.state === "pending" ? [t.pending, t.pendingText, ""] : [t.failed, t.states[r.state], "bad"];
  const qr = confirmed ? `<div id="qr" class="qr">${await QRCode.toString(RESERVATION_QR_PREFIX + r.code, { type: "svg", margin: 1, errorCorrectionLevel: "M" })}</div><p class="amount" id="code">${esc(r.code)}</p>` : "";
  let pay = "";
  if (r.state === "pending" && d.stripeMode !== "emulator" && d.publishableKey) {
    const pi = await service.intentOf(r);
    if (pi?.client_secret) pay = paymentElementForm({ publishableKey: d.publishableKey, clientSecret: pi.client_secret, returnUrl: reservationLink(d, r, lang, "/return") }, lang, { id: "pay", label: `${t.payNow} — ${formatMoney(r.amount, r.currency, lang)}` });
  }
  const window = `${fmt(r.startsAt, site.timeZone, lang)} → ${fmt(r.endsAt, site.timeZone, lang)} (${formatDuration(Math.round((r.endsAt.getTime() - r.startsAt.getTime()) / 1000), lang)})`;
  return layout(
    lang,
    title,
    `<div class="card" id="result" data-result="reservation-${esc(r.state)}"><h1 class="${cls}">${esc(title)}</h1><p>${esc(text)}</p>${qr}
<table><tr><td>${esc(site.name)}</td><td class="r"></td></tr>${r.plate ? `<tr><td>${esc(t.plate.split(" (")[0])}</td><td class="r" id="plate">${esc(r.plate)}</td></tr>` : ""}
<tr><td>${esc(t.window)}</td><td class="r" id="window">${esc(window)}</td></tr><tr><td>${esc(t.amount)}</td><td class="r" id="amount">${esc(formatMoney(r.amount, r.currency, lang))}</td></tr></table>
${pay}${d.stripeMode === "emulator" ? `<p class="test">${esc(t.emulator)}</p>` : ""}</div>`,
    r.state === "pending" && !pay ? { refreshS: 2 } : {},
  );
}

/** A reservation page's error: HTML in the page's language (400 naming the field, 404), never JSON. */
function pageErrors(fn: (req: Request, res: Response, lang: Lang) => Promise<void>) {
  return wrap(async (req, res) => {
    const lang = pickLang(req.query.lang, req.headers["accept-language"]);
    res.setHeader("Cache-Control", "no-store");
    try {
      await fn(req, res, lang);
    } catch (err) {
      const notFound = err instanceof NotFoundError || (err instanceof HttpError && err.status === 404);
      if (!notFound && (!(err instanceof HttpError) || err.status >= 500)) throw err;
      const t = RT[lang];
      res.status(notFound ? 404 : (err as HttpError).status).type("html").send(layout(lang, notFound ? t.notFound : t.badInput, `<div class="card" id="result" data-result="error"><h1 class="bad">${esc(notFound ? t.notFound : t.badInput)}</h1><p class="err" role="alert">${esc(notFound ? t.notFound : (err as Error).message)}</p></div>`));
    }
  });
}

async function book(d: ReservationDeps, service: ReservationService, req: Request, res: Response, lang: Lang): Promise<void> {
  const siteId = String(req.params.siteId);
  const site = await getSite(d.db.sql, siteId);
  const f = BookForm.safeParse(req.body ?? {});
  const form = f.success ? Object.fromEntries(Object.entries(f.data).filter((e): e is [string, string] => typeof e[1] === "string")) : {};
  try {
    if (!f.success) throw new HttpError(400, f.error.issues.map((i) => `body.${i.path.join(".")}: ${i.message}`).join("; "), "invalid_input");
    const from = localInstant(f.data.from, site.timeZone, "from");
    const to = localInstant(f.data.to, site.timeZone, "to");
    const { reservation, pi } = await service.book({ siteId: site.siteId, ...(f.data.plate?.trim() ? { plate: f.data.plate } : {}), from, to, locale: lang });
    if (d.stripeMode === "emulator" && d.emulatorPayUrl) {
      res.redirect(303, d.emulatorPayUrl(pi.client_secret as string, reservationLink(d, reservation, lang, "/return"), lang));
      return;
    }
    res.redirect(303, reservationLink(d, reservation, lang));
  } catch (err) {
    if (!(err instanceof HttpError) || err.status !== 400) throw err;
    res.status(400).type("html").send(await bookingPage(d, site.siteId, lang, { error: err.message, form }));
  }
}

export function reservationRouter(d: ReservationDeps): Router {
  const router = express.Router();
  const service = new ReservationService({ db: d.db, stripe: d.stripe, stripeMode: d.stripeMode, logger: d.logger, auditMode: d.auditMode, wake: () => d.wake() });
  const show = (confirm: boolean) =>
    pageErrors(async (req, res, lang) => {
      const id = String(req.params.reservationId);
      if (!/^rsv_[A-Za-z0-9_-]{16,64}$/.test(id)) throw new HttpError(404, "unknown reservation", "not_found");
      const r = await service.current(id, confirm && d.retrieveOnReturn);
      if (r.siteId !== req.params.siteId) throw new HttpError(404, "unknown reservation", "not_found");
      res.type("html").send(await statusPage(d, service, r, lang));
    });
  router.get("/reservations/:siteId", pageErrors(async (req, res, lang) => {
    res.type("html").send(await bookingPage(d, String(req.params.siteId), lang));
  }));
  router.post("/reservations/:siteId", formBody(), pageErrors((req, res, lang) => book(d, service, req, res, lang)));
  router.get("/reservations/:siteId/:reservationId", show(false));
  router.get("/reservations/:siteId/:reservationId/return", show(true));
  return router;
}
