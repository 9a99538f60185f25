/**
 * What every console screen does with its request: the Content-Security-Policy with a fresh
 * nonce, the operator's language (?lang= remembered in a cookie, else Accept-Language), and the
 * one way to answer with a console page (render).
 */
import { randomBytes } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { HttpError } from "../../flows/errors";
import { pickLang, type Lang } from "../pages";
import { consolePage, type ConsoleNav } from "./layout";

const LANG_COOKIE = "syspark_lang";

/**
 * The console's CSP: scripts and styles only from this origin or carrying the page's nonce, no
 * framing, forms and fetches only to this origin. Set on every /console page and its assets.
 */
export function consoleCsp(_req: Request, res: Response, next: NextFunction): void {
  const nonce = randomBytes(16).toString("base64");
  res.locals.cspNonce = nonce;
  res.setHeader(
    "Content-Security-Policy",
    `default-src 'self'; script-src 'self' 'nonce-${nonce}'; style-src 'self' 'nonce-${nonce}'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
  );
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Referrer-Policy", "same-origin"); // with no-referrer, Chromium posts the console's forms with Origin: null, which refuseCrossSite refuses
  next();
}

function cookieLang(req: Request): Lang | undefined {
  const m = /(?:^|;\s*)syspark_lang=(fr|en)(?:;|$)/.exec(req.headers.cookie ?? "");
  return m ? (m[1] as Lang) : undefined;
}

/** ?lang= (remembered for the next pages), then the cookie, then Accept-Language. */
export function consoleLang(req: Request, res: Response): Lang {
  const q = req.query.lang;
  if (q === "fr" || q === "en") {
    res.append("Set-Cookie", `${LANG_COOKIE}=${q}; Path=/; SameSite=Strict; Max-Age=31536000`);
    return q;
  }
  return cookieLang(req) ?? pickLang(undefined, req.headers["accept-language"]);
}

/** Answers with a console page around `body` (the request passed auth.require and consoleCsp). */
export function render(req: Request, res: Response, page: { title: string; nav: ConsoleNav; body: string; lang?: Lang; status?: number }): void {
  const op = req.operator;
  if (!op) throw new Error("render: a console page needs an authenticated operator (auth.require first)");
  const lang = page.lang ?? consoleLang(req, res);
  res.status(page.status ?? 200).type("html").send(
    consolePage({ lang, title: page.title, operator: { username: op.username, role: op.role }, nonce: String(res.locals.cspNonce ?? ""), body: page.body, nav: page.nav, path: req.originalUrl }),
  );
}

/** The operator a console action is done by (the route's auth guard set it). */
export function operatorOf(req: Request): NonNullable<Request["operator"]> {
  const op = req.operator;
  if (!op) throw new HttpError(401, "authentication required", "unauthenticated");
  return op;
}
