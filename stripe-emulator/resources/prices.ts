/**
 * Products and Prices (https://docs.stripe.com/api/products, https://docs.stripe.com/api/prices):
 * what a subscription sells. create / retrieve / list / update (active, metadata, lookup_key).
 * A Price is immutable in its amount, currency and interval, like on Stripe: a new amount is a
 * new Price. `lookup_key` is unique (`transfer_lookup_key=true` moves it, as Stripe does).
 * Events: product.created, price.created, price.updated.
 */
import type Stripe from "stripe";
import { z } from "zod";
import { notFound, paramError } from "../errors";
import { clone, newId } from "../ids";
import { SUPPORTED_CURRENCIES } from "../money";
import * as P from "../params";
import { ID, list, type Route } from "../route";
import type { EmulatorState, RequestContext } from "../state";

const text = (max: number) => z.string().max(max, { error: `This value must be at most ${max} characters long.` });
const intStr = z.string().regex(/^\d+$/, { error: (iss) => `Invalid integer: ${String(iss.input)}` }).transform(Number);
const boolStr = z.enum(["true", "false"], { error: (iss) => `Invalid boolean: ${String(iss.input)}` }).transform((v) => v === "true");
const currency = z.string().regex(/^[A-Za-z]{3}$/, { error: (iss) => `Invalid currency: ${String(iss.input)}.` }).transform((c) => c.toLowerCase());
const expand = z.array(z.string().max(200)).max(20).optional();

const productCreate = z.strictObject({ name: text(250), description: text(2000).optional(), active: boolStr.optional(), metadata: P.metadataParam.optional(), id: text(100).optional(), expand });
const priceCreate = z.strictObject({
  currency,
  unit_amount: intStr.refine((n) => n <= 99_999_999, { error: "This value must be less than or equal to 99999999." }),
  product: z.string().optional(),
  product_data: z.strictObject({ name: text(250), metadata: P.metadataParam.optional() }).optional(),
  recurring: z.strictObject({ interval: z.enum(["day", "week", "month", "year"], { error: "Invalid value: must be one of day, week, month, year" }), interval_count: intStr.optional() }).optional(),
  lookup_key: text(200).optional(),
  transfer_lookup_key: boolStr.optional(),
  nickname: text(250).optional(),
  active: boolStr.optional(),
  metadata: P.metadataParam.optional(),
  tax_behavior: z.enum(["exclusive", "inclusive", "unspecified"]).optional(),
  expand,
});
const priceUpdate = z.strictObject({ active: boolStr.optional(), metadata: P.metadataParam.optional(), lookup_key: text(200).optional(), transfer_lookup_key: boolStr.optional(), nickname: text(250).optional(), expand });
const priceList = P.listParams.extend({ active: boolStr.optional(), product: z.string().optional(), currency: z.string().optional(), lookup_keys: z.array(z.string()).max(10).optional(), type: z.enum(["one_time", "recurring"]).optional() });
const productList = P.listParams.extend({ active: boolStr.optional() });

export function createProduct(s: EmulatorState, p: z.infer<typeof productCreate>, ctx: RequestContext): Stripe.Product {
  const id = p.id ?? newId("prod", 14);
  if (s.products.peek(id)) throw paramError("resource_already_exists", "id", `Product already exists: ${id}`);
  const now = s.seconds();
  const product = {
    id,
    object: "product",
    active: p.active ?? true,
    created: now,
    default_price: null,
    description: p.description ?? null,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: P.applyMetadata({}, p.metadata),
    name: p.name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    type: "service",
    unit_label: null,
    updated: now,
    tax_details: null,
    url: null,
  } as unknown as Stripe.Product;
  s.products.set(id, product);
  s.emit("product.created", product, id, ctx);
  return clone(product);
}

function takeLookupKey(s: EmulatorState, key: string | undefined, transfer: boolean | undefined, ctx: RequestContext): void {
  if (key === undefined) return;
  const holder = [...s.prices.values()].find((x) => x.lookup_key === key);
  if (!holder) return;
  if (!transfer) throw paramError("lookup_key_already_exists", "lookup_key", `A price (\`${holder.id}\`) already uses that lookup key (\`${key}\`); pass transfer_lookup_key=true to move it.`);
  holder.lookup_key = null;
  s.prices.set(holder.id, holder);
  s.emit("price.updated", holder, holder.id, ctx, { lookup_key: key });
}

export function createPrice(s: EmulatorState, p: z.infer<typeof priceCreate>, ctx: RequestContext): Stripe.Price {
  if (p.product === undefined && p.product_data === undefined) P.throwMissing("product");
  if (p.product !== undefined && !s.products.get(p.product)) throw notFound("product", p.product, "product");
  // Stripe checks the minimum charge when an invoice is paid, not on the Price; only the currency here.
  if (!SUPPORTED_CURRENCIES.has(p.currency)) throw paramError("parameter_invalid_string", "currency", `Invalid currency: ${p.currency}. This Stripe TEST EMULATOR supports: ${[...SUPPORTED_CURRENCIES].join(", ")}.`);
  takeLookupKey(s, p.lookup_key, p.transfer_lookup_key, ctx);
  const product = p.product ?? createProduct(s, { name: (p.product_data as { name: string }).name, metadata: p.product_data?.metadata }, ctx).id;
  const id = newId("price");
  const price = {
    id,
    object: "price",
    active: p.active ?? true,
    billing_scheme: "per_unit",
    created: s.seconds(),
    currency: p.currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: p.lookup_key ?? null,
    metadata: P.applyMetadata({}, p.metadata),
    nickname: p.nickname ?? null,
    product,
    recurring: p.recurring ? { interval: p.recurring.interval, interval_count: p.recurring.interval_count ?? 1, meter: null, usage_type: "licensed" } : null,
    tax_behavior: p.tax_behavior ?? "unspecified",
    tiers_mode: null,
    transform_quantity: null,
    type: p.recurring ? "recurring" : "one_time",
    unit_amount: p.unit_amount,
    unit_amount_decimal: String(p.unit_amount) as unknown as Stripe.Price["unit_amount_decimal"], // a decimal string on the wire
  } as Stripe.Price;
  s.prices.set(id, price);
  s.emit("price.created", price, id, ctx);
  return clone(price);
}

export function priceRecord(s: EmulatorState, id: string, param = "price"): Stripe.Price {
  const p = s.prices.get(id);
  if (!p) throw notFound("price", id, param);
  return p;
}

function updatePrice(s: EmulatorState, id: string, p: z.infer<typeof priceUpdate>, ctx: RequestContext): Stripe.Price {
  const price = priceRecord(s, id, "id");
  const previous: Record<string, unknown> = {};
  if (p.lookup_key !== undefined && p.lookup_key !== price.lookup_key) {
    takeLookupKey(s, p.lookup_key === "" ? undefined : p.lookup_key, p.transfer_lookup_key, ctx);
    previous.lookup_key = price.lookup_key;
    price.lookup_key = p.lookup_key === "" ? null : p.lookup_key;
  }
  if (p.active !== undefined && p.active !== price.active) {
    previous.active = price.active;
    price.active = p.active;
  }
  if (p.nickname !== undefined) price.nickname = p.nickname === "" ? null : p.nickname;
  if (p.metadata !== undefined) {
    previous.metadata = price.metadata;
    price.metadata = P.applyMetadata(price.metadata, p.metadata);
  }
  s.prices.set(id, price);
  s.emit("price.updated", price, id, ctx, previous);
  return clone(price);
}

export function priceRoutes(s: EmulatorState): Route[] {
  return [
    { method: "POST", pattern: /^\/v1\/products$/, handler: (p, ctx) => createProduct(s, P.parseParams(productCreate, p), ctx) },
    { method: "GET", pattern: /^\/v1\/products$/, handler: (p) => list(s.products.values(), p, productList, "/v1/products", (q, x) => q.active === undefined || x.active === q.active) },
    {
      method: "GET",
      pattern: new RegExp(`^/v1/products/${ID}$`),
      handler: (p, _ctx, [id]) => {
        P.parseParams(P.retrieveParams, p);
        const prod = s.products.get(id);
        if (!prod) throw notFound("product", id, "id");
        return clone(prod);
      },
    },
    { method: "POST", pattern: /^\/v1\/prices$/, handler: (p, ctx) => createPrice(s, P.parseParams(priceCreate, p), ctx) },
    {
      method: "GET",
      pattern: /^\/v1\/prices$/,
      handler: (p) =>
        list(s.prices.values(), p, priceList, "/v1/prices", (q, x) => {
          const keys = q.lookup_keys as string[] | undefined;
          return (q.active === undefined || x.active === q.active) && (q.product === undefined || x.product === q.product) && (q.type === undefined || x.type === q.type) && (keys === undefined || (x.lookup_key !== null && keys.includes(x.lookup_key)));
        }),
    },
    { method: "GET", pattern: new RegExp(`^/v1/prices/${ID}$`), handler: (p, _ctx, [id]) => (P.parseParams(P.retrieveParams, p), clone(priceRecord(s, id, "id"))) },
    { method: "POST", pattern: new RegExp(`^/v1/prices/${ID}$`), handler: (p, ctx, [id]) => updatePrice(s, id, P.parseParams(priceUpdate, p), ctx) },
  ];
}
