/**
 * What every cloud router does with its input: validate with zod and refuse with a 400 naming
 * the field (never a 5xx for bad input), require a JSON object body, and hand an async handler's
 * errors to Express's error handler.
 */
import type { NextFunction, Request, Response } from "express";
import type { z } from "zod";
import { HttpError } from "./payments";

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

export function requireJson(req: Request): void {
  if (!req.is("application/json")) throw new HttpError(415, "Content-Type must be application/json", "unsupported_media_type");
  if (req.body === undefined || req.body === null || typeof req.body !== "object" || Array.isArray(req.body)) throw new HttpError(400, "the body must be a JSON object", "invalid_input");
}
