// Validation entry points for tariff documents: precise, path-prefixed messages.
import type { z } from "zod";
import { analyseTariff } from "./analysis";
import { TariffShapeSchema } from "./schema";
import type { Tariff } from "./schema";

/** zod schema of a tariff document: its shape (./schema.ts) and the semantic checks (./analysis.ts). */
export const TariffSchema = TariffShapeSchema.superRefine((tariff, ctx) => {
  for (const issue of analyseTariff(tariff)) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
});

export class TariffValidationError extends Error {
  readonly errors: string[];
  constructor(errors: string[], what = "tariff document") {
    super(`invalid ${what}:\n  - ${errors.join("\n  - ")}`);
    this.name = "TariffValidationError";
    this.errors = errors;
  }
}

/** Thrown by priceStay / tariffInForce for bad call arguments (not for a bad tariff). */
export class PricingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PricingError";
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(tariff)" : out;
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
}

// Objects returned by validateTariff/parseTariff are deep-frozen and remembered: priceStay
// skips re-validating them (a frozen document cannot have changed since).
const validated = new WeakSet<object>();

function deepFreeze(o: object): void {
  for (const v of Object.values(o)) if (v !== null && typeof v === "object" && !Object.isFrozen(v)) deepFreeze(v);
  Object.freeze(o);
}

/** True when `t` is a (frozen) document returned by validateTariff / parseTariff. */
export function isValidated(t: object): boolean {
  return validated.has(t);
}

export type TariffValidation = { ok: true; tariff: Tariff } | { ok: false; errors: string[] };

/** Validate an untrusted tariff document (shape, amounts, zone, currency, ambiguity, coverage). */
export function validateTariff(input: unknown): TariffValidation {
  const r = TariffSchema.safeParse(input);
  if (!r.success) return { ok: false, errors: formatIssues(r.error.issues) };
  deepFreeze(r.data);
  validated.add(r.data);
  return { ok: true, tariff: r.data };
}

/** Like validateTariff, but returns the tariff or throws a TariffValidationError listing every problem. */
export function parseTariff(input: unknown): Tariff {
  const r = validateTariff(input);
  if (!r.ok) throw new TariffValidationError(r.errors);
  return r.tariff;
}
