// The tariff document: zod schema (the one source of truth) and the TypeScript types inferred
// from it. Shape after the OCPI 2.2 Tariff module (elements = price components + restrictions),
// plus what parking needs. Every field is described in docs/tariffs.md.
import { z } from "zod";
import { MAX_AMOUNT, currencyProblem } from "./money";
import { DAYS, timeZoneProblem } from "./tz";
import { MAX_ELEMENTS, MAX_STAY_DAYS } from "./limits";

export { DAYS };
export type { DayOfWeek } from "./tz";


const money = (what: string, min: 0 | 1) =>
  z.number({ error: `${what} must be a number of minor units (e.g. 250 for 2.50 €)` })
    .int(`${what} must be an integer number of minor units (no fractions: 2.50 € is 250)`)
    .min(min, min === 0 ? `${what} must not be negative` : `${what} must be greater than 0`)
    .max(MAX_AMOUNT, `${what} must be at most ${MAX_AMOUNT} minor units`);

const amount = (what: string) => money(what, 0);
const positiveAmount = (what: string) => money(what, 1);

const seconds = (what: string, min: number, max: number) =>
  z.number({ error: `${what} must be a number of seconds` })
    .int(`${what} must be a whole number of seconds`)
    .min(min, `${what} must be at least ${min} s`)
    .max(max, `${what} must be at most ${max} s`);

/** Local wall-clock time of day, "HH:MM", 00:00–23:59. */
export const TimeOfDaySchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be a local time \"HH:MM\" between 00:00 and 23:59");

/** Local wall-clock date-time in the site's zone, "YYYY-MM-DDTHH:MM" (no offset: the zone gives it). */
export const LocalDateTimeSchema = z.string()
  .regex(/^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d$/, "must be a local date-time \"YYYY-MM-DDTHH:MM\" (no offset: the tariff's time_zone applies)")
  .refine((s) => {
    const [y, m, d] = s.slice(0, 10).split("-").map(Number);
    const dt = new Date(Date.UTC(y, m - 1, d));
    return y >= 1970 && dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
  }, "is not a real calendar date");

export const LocalizedTextSchema = z.union([
  z.string().min(1, "must not be empty"),
  z.strictObject({ en: z.string().min(1, "must not be empty"), fr: z.string().min(1, "must not be empty").optional() }),
], { error: "must be a non-empty string or { en, fr? }" });
export type LocalizedText = z.infer<typeof LocalizedTextSchema>;

export const PriceComponentSchema = z.discriminatedUnion("type", [
  z.strictObject({
    /** OCPI PARKING_TIME: the meter. Every started step is due. */
    type: z.literal("PARKING_TIME"),
    /** Price of ONE step (OCPI gives a price per hour; minor units per step keep money integral). */
    price_per_step: amount("price_per_step"),
    /** OCPI step_size, seconds (≥ 60). */
    step_size: seconds("step_size", 60, 86_400),
  }),
  z.strictObject({
    /** OCPI FLAT: charged once per stay, when the element first applies. */
    type: z.literal("FLAT"),
    price: amount("price"),
  }),
], { error: "type must be \"PARKING_TIME\" or \"FLAT\"" });
export type PriceComponent = z.infer<typeof PriceComponentSchema>;

export const RestrictionsSchema = z.strictObject({
  /** Local wall time, inclusive. With end_time; end_time ≤ start_time wraps past midnight. */
  start_time: TimeOfDaySchema.optional(),
  /** Local wall time, exclusive. */
  end_time: TimeOfDaySchema.optional(),
  /** Local weekday of the instant (OCPI semantics: an overnight window on FRIDAY covers Friday 00:00–end and Friday start–24:00). */
  day_of_week: z.array(z.enum(DAYS, { error: `must be one of ${DAYS.join(", ")}` })).min(1, "must list at least one day (omit it for every day)").optional(),
  /** Elapsed real time since entry, seconds, inclusive. */
  min_duration: seconds("min_duration", 0, MAX_STAY_DAYS * 86_400).optional(),
  /** Elapsed real time since entry, seconds, exclusive. */
  max_duration: seconds("max_duration", 1, MAX_STAY_DAYS * 86_400).optional(),
});
export type Restrictions = z.infer<typeof RestrictionsSchema>;

export const TariffElementSchema = z.strictObject({
  label: LocalizedTextSchema,
  price_components: z.array(PriceComponentSchema).min(1, "must contain a PARKING_TIME component"),
  restrictions: RestrictionsSchema.optional(),
});
export type TariffElement = z.infer<typeof TariffElementSchema>;

export const FlatWindowSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    /** Recurs every day (or on the listed days): local start_time → end_time, wrapping past midnight if end ≤ start. */
    kind: z.literal("daily"),
    start_time: TimeOfDaySchema,
    end_time: TimeOfDaySchema,
    /** Local weekday on which an occurrence STARTS (a "FRIDAY" night runs Fri 20:00 → Sat 08:00). */
    day_of_week: z.array(z.enum(DAYS, { error: `must be one of ${DAYS.join(", ")}` })).min(1, "must list at least one day (omit it for every day)").optional(),
  }),
  z.strictObject({
    /** One occurrence between two local date-times (an event). */
    kind: z.literal("dates"),
    from: LocalDateTimeSchema,
    to: LocalDateTimeSchema,
  }),
], { error: "kind must be \"daily\" or \"dates\"" });
export type FlatWindow = z.infer<typeof FlatWindowSchema>;

export const FlatRateSchema = z.strictObject({
  label: LocalizedTextSchema,
  price: amount("price"),
  /** cap: the time metered in one occurrence costs at most `price`; fixed: an occurrence touched by the stay costs exactly `price`. */
  mode: z.enum(["cap", "fixed"], { error: "mode must be \"cap\" or \"fixed\"" }),
  window: FlatWindowSchema,
});
export type FlatRate = z.infer<typeof FlatRateSchema>;

export const DiscountSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("percent"), label: LocalizedTextSchema, percent: z.number().int("percent must be a whole number").min(1, "percent must be 1–100").max(100, "percent must be 1–100") }),
  z.strictObject({ kind: z.literal("fixed"), label: LocalizedTextSchema, amount: positiveAmount("amount") }),
  /** The stay is priced as if it had ended `duration` seconds earlier ("1 h free"). */
  z.strictObject({ kind: z.literal("free_time"), label: LocalizedTextSchema, duration: seconds("duration", 60, 30 * 86_400) }),
], { error: "kind must be \"percent\", \"fixed\" or \"free_time\"" });
export type Discount = z.infer<typeof DiscountSchema>;

export const ValidationCodeSchema = z.string().regex(/^[A-Z0-9][A-Z0-9_-]{0,31}$/, "validation codes are 1–32 characters A–Z, 0–9, _ and -, e.g. \"SHOP-1H\"");

/** The shape of a tariff document; `TariffSchema` (./validate.ts) adds the semantic checks of ./analysis.ts. */
export const TariffShapeSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "id must be 1–64 characters a–z, 0–9, ., _ and -, starting with a letter or digit"),
  version: z.number().int("version must be a whole number").min(1, "version starts at 1"),
  name: LocalizedTextSchema,
  /** ISO 4217; every amount in the document is in its minor unit. Prices include VAT. */
  currency: z.string().superRefine((c, ctx) => {
    const p = currencyProblem(c);
    if (p) ctx.addIssue({ code: "custom", message: p });
  }),
  /** IANA zone of the site: restrictions, flat windows and calendar days are read in it. */
  time_zone: z.string().superRefine((zone, ctx) => {
    const p = timeZoneProblem(zone);
    if (p) ctx.addIssue({ code: "custom", message: p });
  }),
  /** The instant from which this version is in force (ISO 8601 with an offset or Z). */
  effective_from: z.iso.datetime({ offset: true, error: "effective_from must be an ISO 8601 date-time with an offset, e.g. \"2025-01-01T00:00:00+01:00\"" }),
  grace_period: z.strictObject({
    duration: seconds("grace_period.duration", 0, 86_400),
    /** free_if_within: a stay ≤ duration costs 0, a longer one is metered from entry; deducted: the meter starts after `duration`. */
    mode: z.enum(["free_if_within", "deducted"], { error: "mode must be \"free_if_within\" or \"deducted\"" }),
  }).optional(),
  /** OCPI tariff elements: at every instant of a stay exactly one applies (checked). */
  elements: z.array(TariffElementSchema).min(1, "a tariff needs at least one element").max(MAX_ELEMENTS, `a tariff has at most ${MAX_ELEMENTS} elements`),
  flat_rates: z.array(FlatRateSchema).optional(),
  daily_cap: z.strictObject({
    price: positiveAmount("daily_cap.price"),
    /** rolling_24h: windows of 24 h of real time from entry; calendar_day: local calendar days (23/24/25 h). */
    window: z.enum(["rolling_24h", "calendar_day"], { error: "window must be \"rolling_24h\" or \"calendar_day\"" }),
  }).optional(),
  /** Maximum charged for one stay (before discounts and lost-ticket fee), minor units. */
  max_per_stay: positiveAmount("max_per_stay").optional(),
  lost_ticket: z.strictObject({
    price: positiveAmount("lost_ticket.price"),
    /** at_least: max(price of the stay, fee); add: price of the stay + fee; replace: the fee alone. */
    mode: z.enum(["at_least", "add", "replace"], { error: "mode must be \"at_least\", \"add\" or \"replace\"" }),
  }).optional(),
  discounts: z.strictObject({
    subscriber: DiscountSchema.optional(),
    validations: z.record(ValidationCodeSchema, DiscountSchema).optional(),
  }).optional(),
});

/** A validated tariff document (treat as immutable: compiled forms are cached per object). */
export type Tariff = z.infer<typeof TariffShapeSchema>;
export type TariffInput = z.input<typeof TariffShapeSchema>;
