/**
 * Hold at entry (issue 16 item 4), the driver's side: `GET /hold/:siteId` (the entry lane's QR
 * code, or a plate pre-registered at home) asks for the plate and says how much will be
 * authorised; `POST /hold/:siteId` creates the hold and sends the driver to the card page;
 * `GET /hold/:siteId/:holdId/return` checks server-side what the card page did. JSON twins:
 * `POST /api/holds` and `GET /api/holds/:holdId` (the hold id is the only key, unguessable).
 * The amount is the tariff's authorisation amount (cloud/flows/holds.ts), never the browser's.
 */
import express, { type Request, type Response, type Router } from "express";
import { z } from "zod";
import { getHold, type HoldRow } from "../db/holds";
import { getSite, ValidationError } from "../db/index";
import { HttpError } from "../flows/errors";
import { authorisationAmount, type HoldService } from "../flows/holds";
import { formatMoney } from "../tariffs/index";
import type { AppDeps } from "./deps";
import { formBody, jsonBody, parse, requireJson, wrap } from "./input";
import { holdReceiptsCard, registerHoldReceiptRoutes } from "./hold-receipts";
import { esc, layout, paymentElementForm, pickLang, type Lang } from "./pages";

type HoldDeps = Pick<AppDeps, "db" | "logger" | "publicBaseUrl" | "emulatorPayUrl" | "publishableKey" | "jsonLimit"> & { holds?: HoldService };

const SiteParam = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "site id: lowercase letters, digits, - and _");
const HoldIdParam = z.string().regex(/^hold_[A-Za-z0-9_-]{16,64}$/, "not a hold id");
const PlateField = z.string({ error: "plate is required" }).trim().min(2, "plate: at least 2 characters").max(20, "plate: at most 20 characters");
const Mode = z.enum(["authorise", "save_card"], { error: "mode must be \"authorise\" or \"save_card\"" });
const HoldForm = z.object({ plate: PlateField, lang: z.enum(["fr", "en"]).optional(), mode: Mode.optional() });
const HoldJson = z.strictObject({ site_id: SiteParam, plate: PlateField, mode: Mode.optional() });

const T = {
  fr: {
    title: "Autoriser ma carte à l'entrée",
    intro: "Entrez votre plaque : votre carte est autorisée (pas débitée) jusqu'au montant ci-dessous. À la sortie, seul le prix réel du stationnement est prélevé et la barrière s'ouvre sans téléphone.",
    upTo: "Autorisation jusqu'à",
    plate: "Plaque d'immatriculation",
    go: "Autoriser ma carte",
    okTitle: "Carte autorisée",
    okText: "C'est prêt : à la sortie, la barrière s'ouvrira d'elle-même et seul le prix réel sera prélevé.",
    waitTitle: "Autorisation en cours de vérification",
    waitText: "Cette page se met à jour automatiquement.",
    badTitle: "Carte non autorisée",
    badText: "L'autorisation n'a pas abouti. Vous pourrez payer à la sortie avec le lien affiché à la borne.",
    retry: "Réessayer",
    unavailable: "L'autorisation de carte n'est pas disponible sur ce site.",
    save: "Enregistrer ma carte sans autorisation (long séjour)",
    savedTitle: "Carte enregistrée",
    savedText: "Rien n'a été prélevé. À la sortie, le prix réel sera prélevé sur cette carte et la barrière s'ouvrira d'elle-même.",
  },
  en: {
    title: "Authorise my card at entry",
    intro: "Enter your plate: your card is authorised (not charged) up to the amount below. At the exit only the real parking fee is taken and the barrier opens with no phone.",
    upTo: "Authorisation up to",
    plate: "Number plate",
    go: "Authorise my card",
    okTitle: "Card authorised",
    okText: "All set: at the exit the barrier opens by itself and only the real fee is taken.",
    waitTitle: "Authorisation being checked",
    waitText: "This page updates by itself.",
    badTitle: "Card not authorised",
    badText: "The authorisation did not go through. You can pay at the exit with the link the lane shows.",
    retry: "Try again",
    unavailable: "Card authorisation is not available at this site.",
    save: "Save my card without an authorisation (long stay)",
    savedTitle: "Card saved",
    savedText: "Nothing was charged. At the exit the real fee is taken from this card and the barrier opens by itself.",
  },
} as const;

function formPage(lang: Lang, siteId: string, siteName: string, upTo: string, error?: string, plate = ""): string {
  const t = T[lang];
  return layout(
    lang,
    t.title,
    `<div class="card"><h1>${esc(t.title)}</h1><p class="muted">${esc(siteName)}</p><p>${esc(t.intro)}</p>
<p>${esc(t.upTo)} <b id="hold-amount">${esc(upTo)}</b></p>
${error ? `<p class="err" id="error" role="alert">${esc(error)}</p>` : ""}
<form method="post" action="/hold/${esc(siteId)}"><input type="hidden" name="lang" value="${lang}">
<label for="plate">${esc(t.plate)}</label><input id="plate" name="plate" autocomplete="off" required maxlength="20" value="${esc(plate)}">
<button class="btn" id="authorise" type="submit" name="mode" value="authorise">${esc(t.go)}</button>
<button class="btn alt" id="save-card" type="submit" name="mode" value="save_card">${esc(t.save)}</button></form></div>`,
  );
}

/** `receipts`: the stay's receipts once the exit took the fee (hold-receipts.ts); pending → the page reloads. */
function resultPage(lang: Lang, hold: HoldRow, retryHref: string, receipts: { html: string; pending: boolean } = { html: "", pending: false }): string {
  const t = T[lang];
  const amount = formatMoney(hold.amount, hold.currency, lang);
  const reload = receipts.pending ? { refreshS: 3 } : {};
  if (hold.state === "authorized" || hold.state === "captured") {
    return layout(lang, t.okTitle, `<div class="card" id="result" data-result="authorized"><h1 class="ok">${esc(t.okTitle)}</h1><p>${esc(t.okText)}</p><p>${esc(t.upTo)} <b id="hold-amount">${esc(amount)}</b> — ${esc(hold.identityValue)}</p></div>${receipts.html}`, reload);
  }
  if (hold.state === "saved") {
    return layout(lang, t.savedTitle, `<div class="card" id="result" data-result="saved"><h1 class="ok">${esc(t.savedTitle)}</h1><p>${esc(t.savedText)}</p><p>${esc(hold.identityValue)}</p></div>${receipts.html}`, reload);
  }
  if (hold.state === "requested") {
    return layout(lang, t.waitTitle, `<div class="card" id="result" data-result="processing"><h1>${esc(t.waitTitle)}</h1><p>${esc(t.waitText)}</p></div>`, { refreshS: 2 });
  }
  return layout(lang, t.badTitle, `<div class="card" id="result" data-result="${esc(hold.state)}"><h1 class="bad">${esc(t.badTitle)}</h1><p>${esc(t.badText)}</p><a class="btn" id="retry" href="${esc(retryHref)}">${esc(t.retry)}</a></div>`);
}

/**
 * Real Stripe (no emulator): the card is authorised on this page with Stripe.js' Payment Element
 * (the hold's client secret); Stripe sends the driver back to the return page, which checks
 * server-side.
 */
export function holdElementPage(lang: Lang, v: { publishableKey: string; clientSecret: string; returnUrl: string; upTo: string }): string {
  const t = T[lang];
  return layout(
    lang,
    t.title,
    `<div class="card"><h1>${esc(t.title)}</h1><p>${esc(t.upTo)} <b id="hold-amount">${esc(v.upTo)}</b></p>
${paymentElementForm(v, lang, { id: "authorise", label: t.go })}</div>`,
  );
}

/**
 * A hold for the plate typed (with `returnUrl`: a card saved through Checkout in setup mode
 * instead); a plate that cannot be one comes back as a 400 naming it.
 */
async function startHold(holds: HoldService, siteId: string, plate: string): Promise<{ hold: HoldRow; clientSecret: string }>;
async function startHold(holds: HoldService, siteId: string, plate: string, returnUrl: (holdId: string) => string): Promise<{ hold: HoldRow; url: string }>;
async function startHold(holds: HoldService, siteId: string, plate: string, returnUrl?: (holdId: string) => string): Promise<{ hold: HoldRow; clientSecret?: string; url?: string }> {
  try {
    return returnUrl ? await holds.startSavedCard(siteId, plate, returnUrl) : await holds.start(siteId, plate);
  } catch (err) {
    if (err instanceof ValidationError) throw new HttpError(400, `plate: ${err.message}`, "invalid_input");
    throw err;
  }
}

export function holdPagesRouter(d: HoldDeps): Router {
  const router = express.Router();
  const unavailable = (res: Response, lang: Lang) => res.status(503).type("html").send(layout(lang, T[lang].title, `<div class="card"><p class="err">${esc(T[lang].unavailable)}</p></div>`));
  const siteOf = async (req: Request) => {
    const siteId = parse(SiteParam, String(req.params.siteId), "site id");
    const site = await getSite(d.db.sql, siteId).catch(() => undefined);
    if (!site) throw new HttpError(404, `no site ${siteId}`, "not_found");
    return site;
  };

  router.get(
    "/hold/:siteId",
    wrap(async (req, res) => {
      const lang = pickLang(req.query.lang, req.headers["accept-language"]);
      const site = await siteOf(req);
      if (!d.holds) return void unavailable(res, lang);
      const auth = await authorisationAmount(d.db, site.siteId);
      res.type("html").send(formPage(lang, site.siteId, site.name, formatMoney(auth.amount, auth.currency, lang)));
    }),
  );

  router.post(
    "/hold/:siteId",
    formBody(),
    wrap(async (req, res) => {
      const lang = pickLang((req.body as { lang?: unknown } | undefined)?.lang, req.headers["accept-language"]);
      const site = await siteOf(req);
      if (!d.holds) return void unavailable(res, lang);
      const auth = await authorisationAmount(d.db, site.siteId);
      const upTo = formatMoney(auth.amount, auth.currency, lang);
      const f = HoldForm.safeParse(req.body ?? {});
      if (!f.success) return void res.status(400).type("html").send(formPage(lang, site.siteId, site.name, upTo, f.error.issues[0]?.message ?? "plate"));
      const back = (holdId: string) => `${d.publicBaseUrl()}/hold/${site.siteId}/${holdId}/return?lang=${lang}`;
      try {
        if (f.data.mode === "save_card") {
          const saved = await startHold(d.holds, site.siteId, f.data.plate, back);
          return void res.redirect(303, saved.url);
        }
        if (!d.emulatorPayUrl && !d.publishableKey) return void unavailable(res, lang); // no card page to send the driver to
        const started = await startHold(d.holds, site.siteId, f.data.plate);
        if (d.emulatorPayUrl) return void res.redirect(303, d.emulatorPayUrl(started.clientSecret, back(started.hold.holdId), lang));
        res.setHeader("Cache-Control", "no-store");
        res.type("html").send(holdElementPage(lang, { publishableKey: d.publishableKey as string, clientSecret: started.clientSecret, returnUrl: back(started.hold.holdId), upTo }));
      } catch (err) {
        if (err instanceof HttpError && err.status === 400) return void res.status(400).type("html").send(formPage(lang, site.siteId, site.name, upTo, err.message, f.data.plate));
        throw err;
      }
    }),
  );

  router.get(
    "/hold/:siteId/:holdId/return",
    wrap(async (req, res) => {
      const lang = pickLang(req.query.lang, req.headers["accept-language"]);
      const site = await siteOf(req);
      const holdId = parse(HoldIdParam, String(req.params.holdId), "hold id");
      if (!d.holds) return void unavailable(res, lang);
      const hold = await d.holds.reconcile(holdId).catch((err: Error) => {
        if (err.name === "NotFoundError") throw new HttpError(404, "unknown hold", "not_found");
        throw err;
      });
      if (hold.siteId !== site.siteId) throw new HttpError(404, "unknown hold", "not_found");
      res.setHeader("Cache-Control", "no-store");
      res.type("html").send(resultPage(lang, hold, `/hold/${site.siteId}?lang=${lang}`, await holdReceiptsCard(d.db.sql, hold, lang)));
    }),
  );

  router.post(
    "/api/holds",
    jsonBody(d.jsonLimit),
    wrap(async (req, res) => {
      requireJson(req);
      const body = parse(HoldJson, req.body, "body");
      if (!d.holds) throw new HttpError(503, "holds are not available (no Stripe)", "unavailable");
      await getSite(d.db.sql, body.site_id).catch(() => {
        throw new HttpError(404, `site_id: no site ${body.site_id}`, "not_found");
      });
      if (body.mode === "save_card") {
        const saved = await startHold(d.holds, body.site_id, body.plate, (holdId) => `${d.publicBaseUrl()}/hold/${body.site_id}/${holdId}/return`);
        return void res.status(201).json({ hold_id: saved.hold.holdId, state: saved.hold.state, plate: saved.hold.identityValue, checkout_session: saved.hold.providerRef, checkout_url: saved.url });
      }
      const { hold, clientSecret } = await startHold(d.holds, body.site_id, body.plate);
      res.status(201).json({ hold_id: hold.holdId, state: hold.state, amount: hold.amount, currency: hold.currency, plate: hold.identityValue, payment_intent: hold.providerRef, client_secret: clientSecret });
    }),
  );

  registerHoldReceiptRoutes(router, () => d.db.sql);

  router.get(
    "/api/holds/:holdId",
    wrap(async (req, res) => {
      const holdId = parse(HoldIdParam, String(req.params.holdId), "hold id");
      const hold = await getHold(d.db.sql, holdId).catch(() => {
        throw new HttpError(404, "unknown hold", "not_found");
      });
      res.setHeader("Cache-Control", "no-store");
      res.json({ hold_id: hold.holdId, site_id: hold.siteId, plate: hold.identityValue, state: hold.state, amount: hold.amount, currency: hold.currency, exit_session_id: hold.exitSessionId, exit_state: hold.exitState });
    }),
  );
  return router;
}
