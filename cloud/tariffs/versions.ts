// Picking the tariff version in force at an instant (each session records the version it was
// priced with: tariff_id + tariff_version in the PriceResult).
import type { Tariff } from "./schema";
import { PricingError } from "./validate";
import type { Instant } from "./price";

function ms(v: Instant): number {
  const t = v instanceof Date ? v.getTime() : typeof v === "number" ? v : Date.parse(v);
  if (!Number.isFinite(t)) throw new PricingError(`"${String(v)}" is not a valid instant`);
  return t;
}

/**
 * The version of ONE tariff in force at `at`: among the versions whose effective_from ≤ at, the
 * one with the latest effective_from; on a tie, the highest version number (a correction
 * published for the same instant supersedes). Undefined when none is in force yet.
 * Throws a PricingError when the list mixes tariff ids or repeats a version number.
 */
export function tariffInForce<T extends Pick<Tariff, "id" | "version" | "effective_from">>(versions: readonly T[], at: Instant): T | undefined {
  const when = ms(at);
  const ids = new Set(versions.map((v) => v.id));
  if (ids.size > 1) throw new PricingError(`tariffInForce takes the versions of one tariff, got ids ${[...ids].join(", ")}`);
  const seen = new Set<number>();
  let best: T | undefined;
  let bestFrom = Number.NEGATIVE_INFINITY;
  for (const v of versions) {
    if (seen.has(v.version)) throw new PricingError(`tariff ${v.id} lists version ${v.version} twice`);
    seen.add(v.version);
    const from = ms(v.effective_from);
    if (from > when) continue;
    if (!best || from > bestFrom || (from === bestFrom && v.version > best.version)) {
      best = v;
      bestFrom = from;
    }
  }
  return best;
}
