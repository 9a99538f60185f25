/**
 * Request parameter schemas, one per endpoint (zod, strict: an unknown parameter is rejected the
 * way Stripe rejects it). Form values arrive as strings; these schemas convert them and
 * `parseParams` maps the first problem to Stripe's error codes (`parameter_missing`,
 * `parameter_unknown`, `parameter_invalid_integer`, …) and parameter names
 * (`line_items[0][price_data][currency]`).
 */
import { z } from "zod";
import { paramError } from "./errors";
import { paramName, type FormValue } from "./form";

const intStr = (min: number, max: number) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? undefined : "Invalid integer") })
    .regex(/^-?\d+$/, { error: (iss) => `Invalid integer: ${String(iss.input)}` })
    .transform(Number)
    .refine((n) => n >= min, { error: `This value must be greater than or equal to ${min}.` })
    .refine((n) => n <= max, { error: `This value must be less than or equal to ${max}.` });

const boolStr = z
  .enum(["true", "false"], { error: (iss) => `Invalid boolean: ${String(iss.input)}` })
  .transform((v) => v === "true");

const text = (max: number) => z.string().max(max, { error: `This value must be at most ${max} characters long.` });

const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `Invalid value "${String(iss.input)}": must be one of ${values.join(", ")}` });

const url = text(5000).refine(
  (s) => {
    try {
      const u = new URL(s);
      return u.protocol === "http:" || u.protocol === "https:";
    } catch {
      return false;
    }
  },
  { error: "Not a valid URL" },
);

const currency = z
  .string()
  .regex(/^[A-Za-z]{3}$/, { error: (iss) => `Invalid currency: ${String(iss.input)}. Currencies are three-letter ISO codes such as eur.` })
  .transform((c) => c.toLowerCase());

/** metadata: a hash of strings; "" clears (on update), an empty value deletes one key. */
export const metadataParam = z.union([
  z.literal(""),
  z.record(
    z.string().max(40, { error: "Metadata keys must be at most 40 characters long." }).regex(/^[^[\]]+$/, { error: "Metadata keys may not contain square brackets." }),
    z.string().max(500, { error: "Metadata values must be at most 500 characters long." }),
  ).refine((m) => Object.keys(m).length <= 50, { error: "Metadata may have at most 50 keys." }),
]);
export type MetadataParam = z.infer<typeof metadataParam>;

const expand = z.array(z.string().max(200)).max(20).optional();

const paymentMethodTypes = z.array(oneOf(["card"])).min(1);

/** `off_session`: a boolean, or Stripe's older "one_off" / "recurring" (both mean true). */
const offSession = z
  .enum(["true", "false", "one_off", "recurring"], { error: (iss) => `Invalid boolean: ${String(iss.input)}` })
  .transform((v) => v !== "false");

export const captureMethods = ["automatic", "automatic_async", "manual"] as const;

export const paymentIntentCreate = z.strictObject({
  amount: intStr(1, 99_999_999),
  currency,
  automatic_payment_methods: z.strictObject({ enabled: boolStr, allow_redirects: oneOf(["always", "never"]).optional() }).optional(),
  capture_method: oneOf(captureMethods).optional(),
  confirm: boolStr.optional(),
  confirmation_method: oneOf(["automatic", "manual"]).optional(),
  description: text(1000).optional(),
  error_on_requires_action: boolStr.optional(),
  expand,
  metadata: metadataParam.optional(),
  payment_method: text(200).optional(),
  payment_method_types: paymentMethodTypes.optional(),
  receipt_email: text(800).optional(),
  return_url: url.optional(),
  statement_descriptor: text(22).optional(),
  statement_descriptor_suffix: text(22).optional(),
  use_stripe_sdk: boolStr.optional(),
  // saved cards (issue 16): whose card, reuse it later, charge it with the customer away
  customer: text(200).optional(),
  setup_future_usage: oneOf(["off_session", "on_session"]).optional(),
  off_session: offSession.optional(),
});
export type PaymentIntentCreate = z.infer<typeof paymentIntentCreate>;

export const paymentIntentUpdate = z.strictObject({
  amount: intStr(1, 99_999_999).optional(),
  currency: currency.optional(),
  capture_method: oneOf(captureMethods).optional(),
  description: text(1000).optional(),
  expand,
  metadata: metadataParam.optional(),
  payment_method: text(200).optional(),
  payment_method_types: paymentMethodTypes.optional(),
  receipt_email: z.union([z.literal(""), text(800)]).optional(),
  statement_descriptor: text(22).optional(),
  statement_descriptor_suffix: text(22).optional(),
});
export type PaymentIntentUpdate = z.infer<typeof paymentIntentUpdate>;

export const paymentIntentConfirm = z.strictObject({
  capture_method: oneOf(captureMethods).optional(),
  error_on_requires_action: boolStr.optional(),
  expand,
  payment_method: text(200).optional(),
  receipt_email: z.union([z.literal(""), text(800)]).optional(),
  return_url: url.optional(),
  use_stripe_sdk: boolStr.optional(),
  off_session: offSession.optional(),
  setup_future_usage: oneOf(["off_session", "on_session"]).optional(),
});
export type PaymentIntentConfirm = z.infer<typeof paymentIntentConfirm>;

export const paymentIntentCancel = z.strictObject({
  cancellation_reason: oneOf(["duplicate", "fraudulent", "requested_by_customer", "abandoned"]).optional(),
  expand,
});

export const paymentIntentCapture = z.strictObject({
  amount_to_capture: intStr(1, 99_999_999).optional(),
  expand,
  metadata: metadataParam.optional(),
});

export const retrieveParams = z.strictObject({ expand, client_secret: z.string().optional() });

export const listParams = z.strictObject({
  limit: intStr(1, 100).optional(),
  starting_after: z.string().optional(),
  ending_before: z.string().optional(),
  expand,
  created: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
});

export const paymentIntentList = listParams.extend({ customer: z.string().optional() });
export const refundList = listParams.extend({ payment_intent: z.string().optional(), charge: z.string().optional() });
export const chargeList = listParams.extend({ payment_intent: z.string().optional(), customer: z.string().optional() });
export const eventList = listParams.extend({
  type: z.string().optional(),
  types: z.array(z.string()).max(20).optional(),
  delivery_success: boolStr.optional(),
});
export const checkoutSessionList = listParams.extend({ payment_intent: z.string().optional(), status: oneOf(["open", "complete", "expired"]).optional() });

export const refundCreate = z.strictObject({
  payment_intent: z.string().optional(),
  charge: z.string().optional(),
  amount: intStr(1, 99_999_999).optional(),
  reason: oneOf(["duplicate", "fraudulent", "requested_by_customer"]).optional(),
  metadata: metadataParam.optional(),
  expand,
});
export type RefundCreate = z.infer<typeof refundCreate>;

export const metadataUpdate = z.strictObject({ metadata: metadataParam.optional(), expand });

const lineItem = z.strictObject({
  price: z.string().optional(),
  price_data: z
    .strictObject({
      currency,
      unit_amount: intStr(0, 99_999_999).optional(),
      unit_amount_decimal: z.string().regex(/^\d+(\.0+)?$/, { error: "This emulator accepts only whole-number unit_amount_decimal values." }).optional(),
      product: z.string().optional(),
      product_data: z
        .strictObject({
          name: text(250),
          description: text(2000).optional(),
          metadata: metadataParam.optional(),
          images: z.array(z.string()).optional(),
        })
        .optional(),
      tax_behavior: oneOf(["exclusive", "inclusive", "unspecified"]).optional(),
    })
    .optional(),
  quantity: intStr(1, 999_999).optional(),
});

export const checkoutSessionCreate = z.strictObject({
  mode: oneOf(["payment", "setup", "subscription"]),
  line_items: z.array(lineItem).min(1).max(100).optional(),
  success_url: url.optional(),
  cancel_url: url.optional(),
  client_reference_id: text(200).optional(),
  customer_email: text(800).optional(),
  currency: currency.optional(),
  expires_at: intStr(0, 99_999_999_999).optional(),
  expand,
  locale: text(10).optional(),
  metadata: metadataParam.optional(),
  payment_intent_data: z
    .strictObject({
      capture_method: oneOf(captureMethods).optional(),
      description: text(1000).optional(),
      metadata: metadataParam.optional(),
      receipt_email: text(800).optional(),
      statement_descriptor: text(22).optional(),
      statement_descriptor_suffix: text(22).optional(),
    })
    .optional(),
  payment_method_types: paymentMethodTypes.optional(),
  submit_type: oneOf(["auto", "book", "donate", "pay"]).optional(),
  ui_mode: oneOf(["hosted"]).optional(),
  // mode=setup (issue 16): whose card is saved, and the SetupIntent's description / metadata
  customer: text(200).optional(),
  setup_intent_data: z.strictObject({ description: text(1000).optional(), metadata: metadataParam.optional() }).optional(),
  subscription_data: z.strictObject({ metadata: metadataParam.optional(), description: text(500).optional() }).optional(),
});
export type CheckoutSessionCreate = z.infer<typeof checkoutSessionCreate>;

export const checkoutSessionExpire = z.strictObject({ expand });

const hasInput = (iss: z.core.$ZodIssue): boolean => "input" in iss && iss.input !== undefined;

/** Validate decoded form data; the first problem becomes a Stripe-shaped 400. */
export function parseParams<S extends z.ZodType>(schema: S, data: Record<string, FormValue>): z.infer<S> {
  const result = schema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const issue = unwrap(result.error.issues[0], []);
  const name = paramName(issue.path);
  if (issue.code === "unrecognized_keys") {
    const param = paramName([...issue.path, issue.keys[0]]);
    throw paramError(
      "parameter_unknown",
      param,
      `Received unknown parameter: ${param}. (This Stripe TEST EMULATOR implements only the part of the API SysPark uses: see docs/stripe-emulator.md.)`,
    );
  }
  if (issue.code === "invalid_type" && !hasInput(issue)) {
    return throwMissing(name);
  }
  if (issue.code === "invalid_type") {
    const expected = issue.expected === "object" || issue.expected === "record" ? "hash" : issue.expected === "array" ? "array" : "string";
    throw paramError("parameter_invalid_string", name, `Invalid ${expected}: ${name} must be a ${expected}.`);
  }
  const code = /Invalid integer|greater than|less than/.test(issue.message)
    ? "parameter_invalid_integer"
    : /Invalid boolean/.test(issue.message)
      ? "parameter_invalid_boolean"
      : "parameter_invalid_string";
  throw paramError(code, name, name === "" ? issue.message : `${issue.message} (param ${name})`);
}

/**
 * Reduce union and record-key issues to the one a caller can act on, with its full path. For a
 * union (e.g. metadata: "" or a hash) the branch that got furthest into the value wins.
 */
function unwrap(issue: z.core.$ZodIssue, base: PropertyKey[]): z.core.$ZodIssue {
  const path = [...base, ...issue.path];
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    let best = issue.errors[0];
    for (const branch of issue.errors) {
      if (branch.length > 0 && (best.length === 0 || branch[0].path.length >= best[0].path.length)) best = branch;
    }
    if (best.length > 0) return unwrap(best[0], path);
  }
  if (issue.code === "invalid_key" && issue.issues.length > 0) {
    return { ...issue.issues[0], path } as z.core.$ZodIssue;
  }
  return { ...issue, path } as z.core.$ZodIssue;
}

export function throwMissing(name: string): never {
  throw paramError("parameter_missing", name, `Missing required param: ${name}.`);
}

/** Applies a metadata parameter to the current metadata ("" clears all, an empty value deletes one key). */
export function applyMetadata(current: Record<string, string>, change: MetadataParam | undefined): Record<string, string> {
  if (change === undefined) return current;
  if (change === "") return {};
  const next = { ...current };
  for (const [k, v] of Object.entries(change)) {
    if (v === "") delete next[k];
    else next[k] = v;
  }
  if (Object.keys(next).length > 50) throw paramError("parameter_invalid_string", "metadata", "Metadata may have at most 50 keys.");
  return next;
}
