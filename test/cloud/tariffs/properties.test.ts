// Property tests of priceStay over random valid tariffs and random stays, concentrated on the
// Europe/Paris DST nights of 2025 (docs/tariffs.md, "Guarantees").
import { expect } from "chai";
import fc from "fast-check";
import { parseTariff, priceStay } from "../../../cloud/tariffs";
import type { PriceResult, PriceStayInput, Tariff } from "../../../cloud/tariffs";
import { priceStayImpl } from "../../../cloud/tariffs/price";

const DAY = 86_400_000;
const ZONE = "Europe/Paris";
/** TARIFF_PROPERTY_SCALE=10 multiplies every run count (a longer soak). */
const SCALE = Number(process.env.TARIFF_PROPERTY_SCALE ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)) });

const pad = (n: number) => String(n).padStart(2, "0");
const timeArb = fc.integer({ min: 0, max: 95 }).map((q) => `${pad(Math.floor(q / 4))}:${pad((q % 4) * 15)}`);

interface Meter { price: number; step: number; flat: number | undefined }
const meterArb: fc.Arbitrary<Meter> = fc.record({
  price: fc.integer({ min: 0, max: 400 }),
  step: fc.constantFrom(300, 600, 900, 1800, 3600),
  flat: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined, freq: 6 }),
});

type Split = { kind: "all" } | { kind: "daynight"; start: string; end: string } | { kind: "weekend" };
const splitArb: fc.Arbitrary<Split> = fc.oneof(
  fc.constant({ kind: "all" as const }),
  fc.record({ kind: fc.constant("daynight" as const), start: timeArb, end: timeArb }).filter((s) => s.start !== s.end),
  fc.constant({ kind: "weekend" as const }),
);

function components(m: Meter): unknown[] {
  const c: unknown[] = [{ type: "PARKING_TIME", price_per_step: m.price, step_size: m.step }];
  if (m.flat !== undefined) c.push({ type: "FLAT", price: m.flat });
  return c;
}

/** Elements: up to 4 elapsed-time bands, each possibly split by time of day or weekday (disjoint, covering). */
function elementsArb(timed: boolean): fc.Arbitrary<unknown[]> {
  const band = fc.record({ split: timed ? splitArb : fc.constant<Split>({ kind: "all" }), a: meterArb, b: meterArb });
  return fc.tuple(fc.uniqueArray(fc.constantFrom(1800, 3600, 7200, 4 * 3600, 12 * 3600, DAY / 1000), { maxLength: 3 }), fc.array(band, { minLength: 4, maxLength: 4 }))
    .map(([breaks, bands]) => {
      const points = [0, ...[...breaks].sort((x, y) => x - y)];
      return points.flatMap((lo, i) => {
        const hi = points[i + 1];
        const dur = { ...(lo > 0 ? { min_duration: lo } : {}), ...(hi !== undefined ? { max_duration: hi } : {}) };
        const { split, a, b } = bands[i];
        if (split.kind === "all") return [{ label: `band ${i}`, price_components: components(a), restrictions: dur }];
        if (split.kind === "daynight") {
          return [
            { label: `band ${i} A`, price_components: components(a), restrictions: { ...dur, start_time: split.start, end_time: split.end } },
            { label: `band ${i} B`, price_components: components(b), restrictions: { ...dur, start_time: split.end, end_time: split.start } },
          ];
        }
        return [
          { label: `band ${i} week`, price_components: components(a), restrictions: { ...dur, day_of_week: ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"] } },
          { label: `band ${i} weekend`, price_components: components(b), restrictions: { ...dur, day_of_week: ["SATURDAY", "SUNDAY"] } },
        ];
      });
    });
}

const SPRING = Date.UTC(2025, 2, 28); // Fri 28 March 2025 (local dates for event windows)
const FALL = Date.UTC(2025, 9, 24);

const localString = (ms: number) => new Date(ms).toISOString().slice(0, 16);

interface TariffOptions { timed: boolean; flats: boolean; calendarCap: boolean; grace: "maybe" | "always" | "never" }

function tariffArb(o: TariffOptions): fc.Arbitrary<Tariff> {
  const dailyFlat = fc.record({ start: timeArb, end: timeArb, price: fc.integer({ min: 0, max: 2000 }), mode: fc.constantFrom("cap", "fixed") })
    .filter((f) => f.start !== f.end)
    .map((f) => ({ label: "night", price: f.price, mode: f.mode, window: { kind: "daily", start_time: f.start, end_time: f.end } }));
  const event = fc.record({ base: fc.constantFrom(SPRING, FALL), startH: fc.integer({ min: 0, max: 100 }), lenH: fc.integer({ min: 1, max: 48 }), price: fc.integer({ min: 0, max: 3000 }), mode: fc.constantFrom("cap", "fixed") })
    .map((e) => ({ label: "event", price: e.price, mode: e.mode, window: { kind: "dates", from: localString(e.base + e.startH * 3_600_000), to: localString(e.base + (e.startH + e.lenH) * 3_600_000) } }));
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  return fc.record({
    elements: elementsArb(o.timed),
    daily: o.flats ? opt(dailyFlat) : fc.constant(undefined),
    event: o.flats ? opt(event) : fc.constant(undefined),
    cap: opt(fc.record({ price: fc.integer({ min: 1, max: 6000 }), window: o.calendarCap ? fc.constantFrom("rolling_24h", "calendar_day") : fc.constant("rolling_24h") })),
    max: opt(fc.integer({ min: 1, max: 30000 })),
    grace: o.grace === "never" ? fc.constant(undefined) : (o.grace === "always" ? (a: fc.Arbitrary<unknown>) => a : opt)(
      fc.record({ duration: fc.integer({ min: o.grace === "always" ? 1 : 0, max: 1800 }), mode: fc.constantFrom("free_if_within", "deducted") })),
    lost: opt(fc.record({ price: fc.integer({ min: 1, max: 5000 }), mode: fc.constantFrom("at_least", "add", "replace") })),
    subscriber: opt(fc.oneof(
      fc.record({ kind: fc.constant("percent"), percent: fc.integer({ min: 1, max: 100 }), label: fc.constant("sub") }),
      fc.record({ kind: fc.constant("free_time"), duration: fc.integer({ min: 60, max: 7200 }), label: fc.constant("sub") }),
    )),
    free: fc.integer({ min: 60, max: 4 * 3600 }),
    percent: fc.integer({ min: 1, max: 100 }),
    fixed: fc.integer({ min: 1, max: 2000 }),
  }).map((g) => parseTariff({
    id: "random", version: 1, name: "random", currency: "EUR", time_zone: ZONE, effective_from: "2025-01-01T00:00:00Z",
    elements: g.elements,
    ...(g.daily || g.event ? { flat_rates: [g.daily, g.event].filter(Boolean) } : {}),
    ...(g.cap ? { daily_cap: g.cap } : {}),
    ...(g.max ? { max_per_stay: g.max } : {}),
    ...(g.grace ? { grace_period: g.grace } : {}),
    ...(g.lost ? { lost_ticket: g.lost } : {}),
    discounts: {
      ...(g.subscriber ? { subscriber: g.subscriber } : {}),
      validations: {
        FREE: { kind: "free_time", duration: g.free, label: "free" },
        PCT: { kind: "percent", percent: g.percent, label: "pct" },
        FIX: { kind: "fixed", amount: g.fixed, label: "fix" },
      },
    },
  }));
}

const ALL: TariffOptions = { timed: true, flats: true, calendarCap: true, grace: "maybe" };

/** Entries around the spring-forward and fall-back nights, and anywhere in 2025. */
const entryArb = fc.oneof(
  fc.integer({ min: 0, max: 4 * 86_400 }).map((s) => Date.parse("2025-03-28T00:00:00Z") + s * 1000),
  fc.integer({ min: 0, max: 4 * 86_400 }).map((s) => Date.parse("2025-10-24T00:00:00Z") + s * 1000),
  fc.integer({ min: 0, max: 364 * 86_400 }).map((s) => Date.parse("2025-01-01T00:00:00Z") + s * 1000),
);
/** Durations in seconds, mostly short, up to 4 days. */
const durationArb = fc.oneof(fc.integer({ min: 0, max: 3 * 3600 }), fc.integer({ min: 0, max: 4 * 86_400 }));

const extrasArb = fc.record({
  discounts: fc.subarray(["FREE", "PCT", "FIX"]),
  subscriber: fc.boolean(),
  lostTicket: fc.boolean(),
});

function check(r: PriceResult): PriceResult {
  expect(Number.isSafeInteger(r.amount) && r.amount >= 0, `amount ${r.amount}`).to.equal(true);
  expect(r.breakdown.reduce((s, l) => s + l.amount, 0), "breakdown sums to the amount").to.equal(r.amount);
  for (const l of r.breakdown) {
    expect(Number.isSafeInteger(l.amount), l.label).to.equal(true);
    if (l.kind === "time") expect(l.amount).to.equal((l.quantity ?? 0) * (l.unit_amount ?? 0));
  }
  expect(r.human).to.have.length(r.breakdown.length + 1);
  return r;
}

const price = (tariff: Tariff, entry: number, exit: number, extra: Partial<PriceStayInput> = {}) =>
  check(priceStay({ tariff, entry, exit, ...extra })).amount;

const localDate = new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" });
/** Number of cap windows a stay touches, computed independently with ICU. */
function windows(t: Tariff, entry: number, exit: number): number {
  if (exit === entry) return 1;
  if (t.daily_cap?.window === "calendar_day") {
    const a = Date.parse(localDate.format(entry)), b = Date.parse(localDate.format(exit - 1));
    return Math.round((b - a) / DAY) + 1;
  }
  return Math.ceil((exit - entry) / DAY);
}

describe("tariffs: properties (fast-check)", function () {
  this.timeout(60_000);

  it("the fee never decreases with a longer stay (same entry), whatever the options; breakdown sums to the amount", () => {
    fc.assert(fc.property(tariffArb(ALL), entryArb, durationArb, durationArb, extrasArb, (t, entry, d1, d2, extra) => {
      const [a, b] = d1 <= d2 ? [d1, d2] : [d2, d1];
      expect(price(t, entry, entry + a * 1000, extra)).to.be.at.most(price(t, entry, entry + b * 1000, extra));
    }), runs(1000));
  });

  it("the fee never exceeds the cap × the 24 h windows touched, nor the maximum per stay", () => {
    fc.assert(fc.property(tariffArb(ALL), entryArb, durationArb, extrasArb, (t, entry, d, extra) => {
      const exit = entry + d * 1000;
      const amount = price(t, entry, exit, { ...extra, lostTicket: false });
      if (t.daily_cap) expect(amount).to.be.at.most(t.daily_cap.price * windows(t, entry, exit));
      if (t.max_per_stay !== undefined) expect(amount).to.be.at.most(t.max_per_stay);
    }), runs(1000));
  });

  it("the fee is 0 inside the grace period (lost ticket aside)", () => {
    const withGrace = tariffArb({ ...ALL, grace: "always" });
    fc.assert(fc.property(withGrace, entryArb, fc.double({ min: 0, max: 1, noNaN: true }), extrasArb, (t, entry, f, extra) => {
      const d = Math.floor(f * (t.grace_period?.duration ?? 0) * 1000);
      expect(price(t, entry, entry + d, { ...extra, lostTicket: false })).to.equal(0);
    }), runs(1000));
  });

  it("DST: with no time-of-day rule, the fee depends only on the real duration (stays over the Paris DST nights)", () => {
    const durationOnly = tariffArb({ timed: false, flats: false, calendarCap: false, grace: "maybe" });
    const otherEntry = fc.integer({ min: 0, max: 364 * 86_400 }).map((s) => Date.parse("2025-01-01T00:00:00Z") + s * 1000);
    fc.assert(fc.property(durationOnly, entryArb, otherEntry, durationArb, extrasArb, (t, entry, other, d, extra) => {
      const across = priceStay({ tariff: t, entry, exit: entry + d * 1000, ...extra });
      const elsewhere = priceStay({ tariff: t, entry: other, exit: other + d * 1000, ...extra });
      expect(across.amount).to.equal(elsewhere.amount);
      expect(across.breakdown.map((l) => [l.kind, l.amount, l.quantity])).to.deep.equal(elsewhere.breakdown.map((l) => [l.kind, l.amount, l.quantity]));
    }), runs(1000));
  });

  it("DST: time-of-day rules read the wall clock — matches a naive meter reading ICU at every step", () => {
    // Oracle: OCPI first-matching element per step, local time read straight from Intl (no cache).
    const wall = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, weekday: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const min = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
    const oracle = (t: Tariff, entry: number, exit: number): number => {
      let sum = 0;
      const flatSeen = new Set<number>();
      for (let b = entry; b < exit;) {
        const parts = wall.formatToParts(b);
        const day = parts.find((p) => p.type === "weekday")?.value.toUpperCase();
        const m = Number(parts.find((p) => p.type === "hour")?.value) * 60 + Number(parts.find((p) => p.type === "minute")?.value);
        const elapsed = (b - entry) / 1000;
        const i = t.elements.findIndex(({ restrictions: r }) => {
          if (!r) return true;
          if (r.min_duration !== undefined && elapsed < r.min_duration) return false;
          if (r.max_duration !== undefined && elapsed >= r.max_duration) return false;
          if (r.day_of_week && !r.day_of_week.includes(day as never)) return false;
          if (r.start_time && r.end_time) {
            const s = min(r.start_time), e = min(r.end_time);
            return s < e ? m >= s && m < e : m >= s || m < e;
          }
          return true;
        });
        const el = t.elements[i];
        const meter = el.price_components.find((c) => c.type === "PARKING_TIME");
        const flat = el.price_components.find((c) => c.type === "FLAT");
        if (flat?.type === "FLAT" && !flatSeen.has(i)) { flatSeen.add(i); sum += flat.price; }
        if (meter?.type !== "PARKING_TIME") throw new Error("no meter");
        sum += meter.price_per_step;
        b += meter.step_size * 1000;
      }
      return sum;
    };
    const plain = tariffArb({ timed: true, flats: false, calendarCap: false, grace: "never" })
      .map((t) => parseTariff({ ...t, daily_cap: undefined, max_per_stay: undefined }));
    const nearDst = fc.oneof(entryArb, fc.integer({ min: -6 * 3600, max: 3 * 3600 }).map((s) => Date.parse("2025-03-30T01:00:00Z") + s * 1000),
      fc.integer({ min: -6 * 3600, max: 3 * 3600 }).map((s) => Date.parse("2025-10-26T01:00:00Z") + s * 1000));
    fc.assert(fc.property(plain, nearDst, fc.integer({ min: 0, max: 30 * 3600 }), (t, entry, d) => {
      expect(price(t, entry, entry + d * 1000)).to.equal(oracle(t, entry, entry + d * 1000));
    }), runs(300));
  });
});

describe("tariffs: the run-skipping meter equals the step-by-step meter", function () {
  this.timeout(60_000);

  it("same result (amount, breakdown, human) over random tariffs and stays, DST nights included", () => {
    fc.assert(fc.property(tariffArb(ALL), entryArb, durationArb, extrasArb, fc.constantFrom<"en" | "fr">("en", "fr"), (t, entry, d, extra, locale) => {
      const input = { tariff: t, entry, exit: entry + d * 1000, locale, ...extra };
      expect(priceStayImpl(input, false)).to.deep.equal(priceStayImpl(input, true));
    }), runs(1000));
  });
});
