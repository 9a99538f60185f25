// DST semantics (docs/tariffs.md, "Time and DST"): durations are real elapsed time; time-of-day
// and weekday restrictions, flat windows and calendar days read the local wall clock.
// Europe/Paris 2025: spring forward Sun 30 March 02:00 CET → 03:00 CEST (23 h day),
// fall back Sun 26 October 03:00 CEST → 02:00 CET (25 h day).
import { expect } from "chai";
import { parseTariff, priceStay } from "../../../cloud/tariffs";
import type { Tariff, TariffInput } from "../../../cloud/tariffs";
import { parisCentre, parisCentreDocument } from "../../../cloud/tariffs/examples/paris-centre";
import { icuOffset, instantOfLocal, localParts, offsetAt } from "../../../cloud/tariffs/tz";

function variant(patch: Partial<TariffInput>, drop: (keyof TariffInput)[] = []): Tariff {
  const doc: Record<string, unknown> = { ...structuredClone(parisCentreDocument), ...patch };
  for (const k of drop) delete doc[k];
  return parseTariff(doc);
}

const noFlats = variant({}, ["flat_rates"]);

/** Day 08:00–20:00 2.00 €/h, night 20:00–08:00 1.00 €/h, hourly steps, no grace, no cap. */
const dayNight = parseTariff({
  id: "day-night", version: 1, name: "Day / night", currency: "EUR", time_zone: "Europe/Paris",
  effective_from: "2025-01-01T00:00:00+01:00",
  elements: [
    { label: "Day", price_components: [{ type: "PARKING_TIME", price_per_step: 200, step_size: 3600 }], restrictions: { start_time: "08:00", end_time: "20:00" } },
    { label: "Night", price_components: [{ type: "PARKING_TIME", price_per_step: 100, step_size: 3600 }], restrictions: { start_time: "20:00", end_time: "08:00" } },
  ],
});

const amount = (tariff: Tariff, entry: string, exit: string) => priceStay({ tariff, entry, exit }).amount;

describe("tariffs: DST nights in Europe/Paris", () => {
  describe("the zone helpers agree with ICU", () => {
    it("cached offsets equal ICU's around both 2025 transitions, minute by minute", () => {
      for (const centre of [Date.parse("2025-03-30T01:00:00Z"), Date.parse("2025-10-26T01:00:00Z")]) {
        for (let t = centre - 3 * 3600_000; t <= centre + 3 * 3600_000; t += 60_000) {
          expect(offsetAt("Europe/Paris", t)).to.equal(icuOffset("Europe/Paris", t), new Date(t).toISOString());
        }
      }
      expect(offsetAt("Europe/Paris", Date.parse("2025-03-30T00:59:59.999Z"))).to.equal(3600_000);
      expect(offsetAt("Europe/Paris", Date.parse("2025-03-30T01:00:00Z"))).to.equal(7200_000);
    });

    it("local wall time: 02:30 does not exist in spring (→ 03:30), exists twice in autumn (→ the first)", () => {
      const spring = instantOfLocal("Europe/Paris", Date.UTC(2025, 2, 30, 2, 30));
      expect(new Date(spring).toISOString()).to.equal("2025-03-30T01:30:00.000Z"); // 03:30 CEST
      const autumn = instantOfLocal("Europe/Paris", Date.UTC(2025, 9, 26, 2, 30));
      expect(new Date(autumn).toISOString()).to.equal("2025-10-26T00:30:00.000Z"); // 02:30 CEST
      expect(localParts("Europe/Paris", Date.parse("2025-10-26T01:30:00Z"))).to.deep.equal({ dayNumber: 20387, minuteOfDay: 150, weekday: 6 });
    });
  });

  describe("duration is real elapsed time", () => {
    it("spring: 01:30 CET → 03:30 CEST is 1 h real: 4 quarters = 4.80 € (not 2 h of wall clock)", () => {
      expect(amount(noFlats, "2025-03-30T01:30:00+01:00", "2025-03-30T03:30:00+02:00")).to.equal(480);
      // same real hour on an ordinary night
      expect(amount(noFlats, "2025-03-23T01:30:00+01:00", "2025-03-23T02:30:00+01:00")).to.equal(480);
    });

    it("autumn: 01:30 CEST → 02:30 CET is 2 h real: 4.80 + 4.00 = 8.80 € (not 1 h of wall clock)", () => {
      expect(amount(noFlats, "2025-10-26T01:30:00+02:00", "2025-10-26T02:30:00+01:00")).to.equal(880);
      // with the night flat rate the same stay is capped at 6.00 €
      expect(amount(parisCentre, "2025-10-26T01:30:00+02:00", "2025-10-26T02:30:00+01:00")).to.equal(600);
    });

    it("autumn: 02:30 (first pass, CEST) → 02:30 (second pass, CET) is 1 h: 4.80 €", () => {
      expect(amount(noFlats, "2025-10-26T02:30:00+02:00", "2025-10-26T02:30:00+01:00")).to.equal(480);
    });

    it("the grace period is 15 real minutes across the jump", () => {
      expect(amount(noFlats, "2025-03-30T01:50:00+01:00", "2025-03-30T03:05:00+02:00")).to.equal(0); // 15 min real
      expect(amount(noFlats, "2025-03-30T01:50:00+01:00", "2025-03-30T03:05:01+02:00")).to.equal(240);
    });

    it("rolling 24 h windows are 24 real hours: the 25 h autumn day = 1 cap + 1 hourly step", () => {
      // 00:00 CEST → 24:00 CET = 25 h. Window 1 (24 h): 4.80 + 44 + 12 × 3 = 84.80 → 38; window 2: 3.00
      expect(amount(noFlats, "2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00")).to.equal(4100);
    });
  });

  describe("time-of-day restrictions and calendar days read the wall clock", () => {
    it("spring: Sat 19:00 CET → Sun 09:00 CEST (13 h real) = 1 day + 11 night + 1 day hours = 15.00 €", () => {
      const r = priceStay({ tariff: dayNight, entry: "2025-03-29T19:00:00+01:00", exit: "2025-03-30T09:00:00+02:00" });
      expect(r.amount).to.equal(1500);
      expect(r.breakdown.map((l) => l.quantity)).to.deep.equal([1, 11, 1]);
    });

    it("autumn: Sat 19:00 CEST → Sun 09:00 CET (15 h real) = 1 day + 13 night + 1 day hours = 17.00 €", () => {
      const r = priceStay({ tariff: dayNight, entry: "2025-10-25T19:00:00+02:00", exit: "2025-10-26T09:00:00+01:00" });
      expect(r.amount).to.equal(1700);
      expect(r.breakdown.map((l) => l.quantity)).to.deep.equal([1, 13, 1]);
    });

    it("a calendar-day cap follows local midnights: the 25 h day is ONE window (38.00 €, rolling gives 41.00 €)", () => {
      const calendar = variant({ daily_cap: { price: 3800, window: "calendar_day" } }, ["flat_rates"]);
      expect(amount(calendar, "2025-10-26T00:00:00+02:00", "2025-10-27T00:00:00+01:00")).to.equal(3800);
    });

    it("a calendar-day cap over the 23 h spring day: Sat 10:00 → Mon 10:00 = 38 + 38 + 30 = 106.00 €", () => {
      // Sat: 4.80 + 44 + 2 × 3 = 54.80 → 38; Sun (23 h): 23 × 3 = 69 → 38; Mon 00:00–10:00: 10 × 3 = 30
      const calendar = variant({ daily_cap: { price: 3800, window: "calendar_day" } }, ["flat_rates"]);
      const r = priceStay({ tariff: calendar, entry: "2025-03-29T10:00:00+01:00", exit: "2025-03-31T10:00:00+02:00" });
      expect(r.amount).to.equal(10600);
      expect(r.breakdown.map((l) => [l.kind, l.amount])).to.deep.equal([["daily_cap", 3800], ["daily_cap", 3800], ["time", 3000]]);
    });

    it("the night flat window runs 20:00 → 08:00 wall clock, 11 real hours on the spring night", () => {
      const r = priceStay({ tariff: parisCentre, entry: "2025-03-29T21:00:00+01:00", exit: "2025-03-30T07:30:00+02:00" });
      expect(r.amount).to.equal(600);
      expect(r.human[0]).to.equal("Night flat rate 20:00–08:00 (Sat 29/03 20:00 → Sun 30/03 08:00): €6.00");
    });
  });
});
