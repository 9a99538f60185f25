/**
 * What every admin screen shares: the guard (CSP + admin role, HTML refusals), the form body
 * parser with the text rule, form fields that carry their own error (class field-error, the
 * entered value kept), zod issues turned into per-field messages, the actor of the audit rows,
 * and the one place an admin handler's refusal becomes a console page (never a 5xx).
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { z } from "zod";
import { NotFoundError } from "../../db/index";
import { HttpError } from "../../flows/errors";
import { FieldError, type AdminActor } from "../../flows/site-admin";
import type { AppDeps } from "../deps";
import { CONTROL_MESSAGE, hasControlChars } from "../input";
import { esc, type Lang } from "../pages";
import { at, type AdminTexts } from "./admin-texts";
import { consoleCsp, consoleLang, operatorOf, render } from "./request";

export type AdminDeps = Pick<AppDeps, "db" | "auth" | "auditMode" | "src" | "aclHmacKey" | "pinCost" | "stripe" | "wake">;

export type Values = Record<string, string>;
export type Errors = Record<string, string>;

/** consoleCsp then the admin role (a page: redirect to the login, or a 403 HTML refusal). */
export function adminGuard(d: Pick<AdminDeps, "auth">) {
  return [consoleCsp, d.auth.require(["admin"], { html: true })] as const;
}

/**
 * URL-encoded form, then the text rule on every field but `multiline` ones, which may hold line
 * breaks and tabs (a JSON textarea) and nothing else below U+0020.
 */
export function adminForm(multiline: readonly string[] = [], limit = "16kb") {
  const rule = (req: Request, _res: Response, next: NextFunction): void => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(body)) {
      if (typeof v !== "string") return next(new HttpError(400, `body.${k}: give the field once`, "invalid_input"));
      const text = multiline.includes(k) ? v.replace(/[\t\n\r]/g, " ") : v;
      if (hasControlChars(k) || hasControlChars(text)) return next(new HttpError(400, `body.${k}: ${CONTROL_MESSAGE}`, "invalid_input"));
    }
    next();
  };
  return [express.urlencoded({ extended: false, limit, parameterLimit: 40 }), rule] as const;
}

export function valuesOf(req: Request): Values {
  const out: Values = {};
  for (const [k, v] of Object.entries((req.body ?? {}) as Record<string, unknown>)) if (typeof v === "string") out[k] = v;
  return out;
}

/** zod issues as one message per form field (the first one of each). */
export function zodErrors(err: z.ZodError): Errors {
  const out: Errors = {};
  for (const i of err.issues) {
    const f = String(i.path[0] ?? "form");
    out[f] ??= i.message;
  }
  return out;
}

export function actorOf(req: Request): AdminActor {
  const op = operatorOf(req);
  return { username: op.username, operatorId: op.operatorId, role: op.role, requestId: req.requestId ?? null };
}

export interface Ctx {
  lang: Lang;
  t: AdminTexts;
}

export function ctxOf(req: Request, res: Response): Ctx {
  const lang = consoleLang(req, res);
  return { lang, t: at(lang) };
}

/** An admin page: breadcrumbs, the notice of the redirect that led here, the body. */
export function adminPage(req: Request, res: Response, c: Ctx, page: { title: string; crumbs?: [string, string][]; body: string; status?: number }): void {
  const notice = typeof req.query.notice === "string" ? c.t.notices[req.query.notice] : undefined;
  const crumbs = [["/console/admin", c.t.admin] as [string, string], ...(page.crumbs ?? [])].map(([href, label]) => `<a href="${esc(href)}">${esc(label)}</a>`).join(" › ");
  const body = `<p class="muted">${crumbs}</p><h1>${esc(page.title)}</h1>${notice ? `<p class="note" role="status" id="notice">${esc(notice)}</p>` : ""}${page.body}`;
  render(req, res, { title: page.title, nav: "admin", body, lang: c.lang, ...(page.status ? { status: page.status } : {}) });
}

/** 303 to a page with a notice code (success of a form). */
export function redirectNotice(res: Response, path: string, notice: string): void {
  res.redirect(303, `${path}${path.includes("?") ? "&" : "?"}notice=${encodeURIComponent(notice)}`);
}

function errorLine(name: string, errors: Errors): string {
  return errors[name] ? `<p class="field-error" id="err-${esc(name)}" role="alert">${esc(errors[name])}</p>` : "";
}

export function input(o: { name: string; label: string; v: Values; e: Errors; type?: string; required?: boolean; extra?: string }): string {
  const invalid = o.e[o.name] ? ` aria-invalid="true" aria-describedby="err-${esc(o.name)}"` : "";
  return `<div><label for="f-${esc(o.name)}">${esc(o.label)}</label><input id="f-${esc(o.name)}" name="${esc(o.name)}" type="${o.type ?? "text"}" value="${esc(o.v[o.name] ?? "")}"${o.required ? " required" : ""}${o.extra ? ` ${o.extra}` : ""}${invalid}>${errorLine(o.name, o.e)}</div>`;
}

export function select(o: { name: string; label: string; v: Values; e: Errors; options: [string, string][] }): string {
  const cur = o.v[o.name] ?? o.options[0]?.[0];
  const opts = o.options.map(([value, label]) => `<option value="${esc(value)}"${value === cur ? " selected" : ""}>${esc(label)}</option>`).join("");
  return `<div><label for="f-${esc(o.name)}">${esc(o.label)}</label><select id="f-${esc(o.name)}" name="${esc(o.name)}">${opts}</select>${errorLine(o.name, o.e)}</div>`;
}

export function textarea(o: { name: string; label: string; v: Values; e: Errors; rows?: number }): string {
  return `<div><label for="f-${esc(o.name)}">${esc(o.label)}</label><textarea id="f-${esc(o.name)}" name="${esc(o.name)}" rows="${o.rows ?? 20}" spellcheck="false">${esc(o.v[o.name] ?? "")}</textarea>${errorLine(o.name, o.e)}</div>`;
}

/** A form error that belongs to no field (shown above the form). */
export function formError(e: Errors): string {
  return e.form ? `<p class="err" role="alert" id="form-error">${esc(e.form)}</p>` : "";
}

/**
 * An admin handler: a FieldError re-renders the form through `again` (status and message next to
 * the field); an unknown site, lane or operator is a 404 page; another refusal a 4xx page.
 */
export function adminWrap(handler: (req: Request, res: Response, c: Ctx) => Promise<void>, again?: (req: Request, res: Response, c: Ctx, errors: Errors, status: number) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const c = ctxOf(req, res);
    handler(req, res, c).catch(async (err: unknown) => {
      try {
        if (err instanceof FieldError && again) return await again(req, res, c, { [err.field]: err.fieldMessage }, err.status);
        if (err instanceof NotFoundError) return adminPage(req, res, c, { title: c.t.notFound, body: `<p class="err" role="alert">${esc(err.message)}</p>`, status: 404 });
        if (err instanceof HttpError && (err.status < 500 || err.status === 503)) return adminPage(req, res, c, { title: c.t.refused, body: `<p class="err" role="alert">${esc(err.message)}</p>`, status: err.status });
        if (err instanceof Error && (err.name === "ValidationError" || err.name === "ConflictError")) return adminPage(req, res, c, { title: c.t.refused, body: `<p class="err" role="alert">${esc(err.message)}</p>`, status: err.name === "ConflictError" ? 409 : 400 });
        next(err);
      } catch (e) {
        next(e);
      }
    });
  };
}

/** An optional number field: empty → null; else a finite number within [min, max] (`what` says which). */
export function optionalNumber(min: number, max: number, what: string, integer = false) {
  return z
    .string()
    .trim()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s === "") return null;
      const n = Number(s.replace(",", "."));
      if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
        ctx.addIssue({ code: "custom", message: what });
        return z.NEVER;
      }
      return n;
    });
}
