/**
 * Stripe's wire format for requests: `application/x-www-form-urlencoded` bodies (and query
 * strings) with bracketed nested keys — `metadata[plate]=AB-123-CD`,
 * `payment_method_types[0]=card` (what stripe-node sends) or `payment_method_types[]=card`,
 * `line_items[0][price_data][currency]=eur`. Decoded into plain nested objects / arrays of
 * strings; the endpoint schemas (params.ts) then check and convert each value.
 *
 * Bounded: at most MAX_PAIRS pairs and MAX_DEPTH levels of nesting. The tree is built with Maps
 * so a key such as `__proto__` is only ever data.
 */
import { paramError } from "./errors";

export type FormValue = string | FormValue[] | { [key: string]: FormValue };

const MAX_PAIRS = 2000;
const MAX_DEPTH = 8;
const APPEND = Symbol("append");

/** One level of the tree: named children, plus the values given with `name[]=`. */
interface Node {
  children: Map<string, Node | string>;
  appended: string[];
}

const newNode = (): Node => ({ children: new Map(), appended: [] });

function decodePart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    throw paramError("parameter_invalid_string", undefined, `Invalid request: could not URL-decode "${s.slice(0, 60)}"`);
  }
}

/** `a[b][0][]` → ["a", "b", "0", APPEND]. */
function splitKey(key: string): Array<string | typeof APPEND> {
  const open = key.indexOf("[");
  if (open === -1) return [key];
  const parts: Array<string | typeof APPEND> = [key.slice(0, open)];
  const rest = key.slice(open);
  const re = /\[([^[\]]*)\]/y;
  let pos = 0;
  while (pos < rest.length) {
    re.lastIndex = pos;
    const m = re.exec(rest);
    if (!m) throw paramError("parameter_invalid_string", key, `Invalid request: malformed parameter name "${key}"`);
    parts.push(m[1] === "" ? APPEND : m[1]);
    pos = re.lastIndex;
  }
  if (parts[0] === "") throw paramError("parameter_invalid_string", key, `Invalid request: malformed parameter name "${key}"`);
  if (parts.length > MAX_DEPTH) throw paramError("parameter_invalid_string", key, `Invalid request: parameter "${key}" is nested too deeply`);
  return parts;
}

function toPlain(node: Node): FormValue {
  const out: Array<[string, FormValue]> = [];
  for (const [k, v] of node.children) out.push([k, typeof v === "string" ? v : toPlain(v)]);
  if (out.length === 0) return [...node.appended];
  const allIndexed = out.every(([k]) => /^(0|[1-9]\d{0,5})$/.test(k));
  if (allIndexed && node.appended.length === 0) return out.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => v);
  if (node.appended.length > 0) out.push(["[]", [...node.appended]]); // mixed forms: left for the schema to reject
  return Object.fromEntries(out);
}

/**
 * Decode a form body / query string. Throws a Stripe-shaped 400 for malformed input
 * (a key used both as a value and as a hash, too many pairs, bad escapes).
 */
export function decodeForm(body: string): Record<string, FormValue> {
  const root = newNode();
  if (body.trim() === "") return {};
  const pairs = body.split("&").filter((p) => p !== "");
  if (pairs.length > MAX_PAIRS) throw paramError("parameter_invalid_string", undefined, `Invalid request: more than ${MAX_PAIRS} parameters`);
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? "" : decodePart(pair.slice(eq + 1));
    const key = decodePart(rawKey);
    const parts = splitKey(key);
    let node = root;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      const last = i === parts.length - 1;
      if (part === APPEND) {
        if (!last) throw paramError("parameter_invalid_string", key, `Invalid request: "[]" may only end a parameter name ("${key}")`);
        node.appended.push(value);
        break;
      }
      const existing = node.children.get(part);
      if (last) {
        if (existing !== undefined && typeof existing !== "string") throw paramError("parameter_invalid_string", key, `Invalid request: parameter "${key}" is both a value and a hash`);
        node.children.set(part, value);
      } else {
        if (typeof existing === "string") throw paramError("parameter_invalid_string", key, `Invalid request: parameter "${key}" is both a value and a hash`);
        let child = existing;
        if (!child) {
          child = newNode();
          node.children.set(part, child);
        }
        node = child;
      }
    }
  }
  if (root.appended.length > 0) throw paramError("parameter_invalid_string", undefined, "Invalid request: a parameter name is missing before \"[]\"");
  const out: Record<string, FormValue> = {};
  for (const [k, v] of root.children) Object.defineProperty(out, k, { value: typeof v === "string" ? v : toPlain(v), enumerable: true, writable: true, configurable: true });
  return out;
}

/** Stripe's name for a parameter path: ["line_items", 0, "price_data"] → "line_items[0][price_data]". */
export function paramName(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return "";
  const [head, ...rest] = path;
  return String(head) + rest.map((p) => `[${String(p)}]`).join("");
}

/** Encode a nested object the way stripe-node does (indexed arrays), for tests and redirects. */
export function encodeForm(data: Record<string, unknown>): string {
  const pairs: string[] = [];
  const walk = (key: string, v: unknown): void => {
    if (v === undefined) return;
    if (v === null || typeof v !== "object") {
      pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(v === null ? "" : String(v))}`);
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(`${key}[${i}]`, item));
    } else {
      for (const [k, child] of Object.entries(v)) walk(`${key}[${k}]`, child);
    }
  };
  for (const [k, v] of Object.entries(data)) walk(k, v);
  return pairs.join("&");
}
