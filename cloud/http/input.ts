/**
 * What every cloud router does with its input: validate with zod and refuse with a 400 naming
 * the field (never a 5xx for bad input), require a JSON object body, refuse control characters
 * in any text (the text rule below), and hand an async handler's errors to Express's error handler.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import type { z } from "zod";
import { HttpError } from "../flows/errors";

/** "body.reason: …; body: unknown field "x"" — a schema message that already names its field is not prefixed twice. */
export function zodMessage(where: string, err: z.ZodError): string {
  return err.issues
    .map((i) => {
      if (i.code === "unrecognized_keys") return `${where}: unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`;
      const field = i.path.join(".");
      if (field && i.message.startsWith(`${field}:`)) return `${where}.${i.message}`;
      return `${where}${field ? "." + field : ""}: ${i.message}`;
    })
    .join("; ");
}

export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, zodMessage(where, r.error), "invalid_input");
  return r.data;
}

export type Handler = (req: Request, res: Response) => Promise<void>;

export const wrap =
  (fn: Handler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    fn(req, res).catch(next);
  };

/**
 * The text rule of every HTTP boundary (issue 15): no C0 control character (U+0000–U+001F) and
 * no DEL (U+007F) in any string of a body, a query string or the path. PostgreSQL refuses a NUL
 * in text (that was a 500), and the others have no business in a username, a reason or a label.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
export const hasControlChars = (s: string): boolean => CONTROL.test(s);
export const CONTROL_MESSAGE = "control characters (U+0000–U+001F, U+007F) are not allowed";

function childPath(where: string, key: string | number): string {
  if (typeof key === "number") return `${where}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${where}.${key}` : `${where}[${JSON.stringify(key)}]`;
}

/** The first field (JSON path, e.g. `body.extra.list[1]`) whose text breaks the rule, with the message to answer. */
export function controlCharIssue(value: unknown, where: string, depth = 0): string | undefined {
  if (typeof value === "string") return CONTROL.test(value) ? `${where}: ${CONTROL_MESSAGE}` : undefined;
  if (value === null || typeof value !== "object" || depth > 64) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const issue = controlCharIssue(value[i], childPath(where, i), depth + 1);
      if (issue) return issue;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (CONTROL.test(k)) return `${where}: a field name contains control characters (U+0000–U+001F, U+007F are not allowed)`;
    const issue = controlCharIssue(v, childPath(where, k), depth + 1);
    if (issue) return issue;
  }
  return undefined;
}

/** Middleware after a body parser: the parsed body follows the text rule, or 400 naming the field. */
export function refuseControlCharsInBody(req: Request, _res: Response, next: NextFunction): void {
  const issue = controlCharIssue(req.body, "body");
  next(issue ? new HttpError(400, issue, "invalid_input") : undefined);
}

/** Middleware before every route: the query string and the (percent-decoded) path follow the text rule. */
export function refuseControlCharsInUrl(req: Request, _res: Response, next: NextFunction): void {
  if (/%(?:[01][0-9a-f]|7f)/i.test(req.path)) {
    next(new HttpError(400, `path: ${CONTROL_MESSAGE}`, "invalid_input"));
    return;
  }
  const issue = controlCharIssue(req.query, "query");
  next(issue ? new HttpError(400, issue, "invalid_input") : undefined);
}

export function requireJson(req: Request): void {
  if (!req.is("application/json")) throw new HttpError(415, "Content-Type must be application/json", "unsupported_media_type");
  if (req.body === undefined || req.body === null || typeof req.body !== "object" || Array.isArray(req.body)) throw new HttpError(400, "the body must be a JSON object", "invalid_input");
}

/** A JSON body parser, then the text rule: what every JSON route puts before its handler. */
export function jsonBody(limit: number) {
  return [express.json({ limit, strict: true }), refuseControlCharsInBody];
}

/** A small HTML-form body parser, then the text rule (the login form, the pay page's buttons). */
export function formBody() {
  return [express.urlencoded({ extended: false, limit: "4kb", parameterLimit: 10 }), refuseControlCharsInBody];
}
