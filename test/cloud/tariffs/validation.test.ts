// Tariff documents are validated with precise, path-prefixed messages; versions are picked by
// effective_from.
import { expect } from "chai";
import { PricingError, TariffValidationError, parseTariff, priceStay, tariffInForce, validateTariff } from "../../../cloud/tariffs";
import type { TariffInput } from "../../../cloud/tariffs";
import { parisCentre, parisCentreDocument } from "../../../cloud/tariffs/examples/paris-centre";

function doc(mutate: (d: Record<string, any>) => void): unknown { // eslint-disable-line @typescript-eslint/no-explicit-any
  const d = structuredClone(parisCentreDocument) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  mutate(d);
  return d;
}

function errors(input: unknown): string[] {
  const r = validateTariff(input);
  expect(r.ok, "expected the document to be refused").to.equal(false);
  return r.ok ? [] : r.errors;
}

const meter = (price_per_step: number, step_size = 900) => ({ type: "PARKING_TIME", price_per_step, step_size });

describe("tariffs: validation of tariff documents", () => {
  it("accepts the Paris Centre example", () => {
    const r = validateTariff(parisCentreDocument);
    expect(r.ok).to.equal(true);
  });

  it("refuses negative and fractional amounts, naming the field", () => {
    expect(errors(doc((d) => { d.elements[0].price_components[0].price_per_step = -120; }))).to.deep.equal([
      "elements[0].price_components[0].price_per_step: price_per_step must not be negative",
    ]);
    expect(errors(doc((d) => { d.daily_cap.price = 38.5; }))).to.deep.equal([
      "daily_cap.price: daily_cap.price must be an integer number of minor units (no fractions: 2.50 € is 250)",
    ]);
    expect(errors(doc((d) => { d.flat_rates[0].price = -1; }))[0]).to.equal("flat_rates[0].price: price must not be negative");
  });

  it("refuses an unknown or mis-spelt time zone and an unknown currency", () => {
    expect(errors(doc((d) => { d.time_zone = "Europe/Pariss"; }))).to.deep.equal([
      "time_zone: unknown time zone \"Europe/Pariss\" (expected an IANA name such as \"Europe/Paris\")",
    ]);
    expect(errors(doc((d) => { d.time_zone = "europe/paris"; }))).to.deep.equal(["time_zone: time zone \"europe/paris\" must be spelled \"Europe/Paris\""]);
    expect(errors(doc((d) => { d.time_zone = "+01:00"; }))[0]).to.match(/^time_zone: "\+01:00" is not an IANA time zone name/);
    expect(errors(doc((d) => { d.currency = "EUX"; }))).to.deep.equal(["currency: unknown ISO 4217 currency \"EUX\""]);
    expect(errors(doc((d) => { d.currency = "eur"; }))[0]).to.match(/^currency: "eur" is not an ISO 4217 currency code/);
  });

  it("refuses unknown fields and an effective_from without offset", () => {
    expect(errors(doc((d) => { d.grace_period.minutes = 15; }))).to.deep.equal(["grace_period: Unrecognized key: \"minutes\""]);
    expect(errors(doc((d) => { d.effective_from = "2025-01-01T00:00:00"; }))[0]).to.match(/^effective_from: effective_from must be an ISO 8601 date-time with an offset/);
  });

  it("refuses elements whose restrictions overlap (ambiguous price), with an example instant", () => {
    const e = errors(doc((d) => { d.elements[1].restrictions = { min_duration: 1800, max_duration: 43200 }; }));
    expect(e).to.deep.equal([
      "elements[1].restrictions: elements[0] (\"1st hour\") and elements[1] (\"Hours 2 to 12\") both apply on MONDAY 00:00 (local time) for elapsed times in [30 min, 1 h): the price would be ambiguous — make their restrictions disjoint",
    ]);
    const byTime = errors({
      id: "t", version: 1, name: "t", currency: "EUR", time_zone: "Europe/Paris", effective_from: "2025-01-01T00:00:00Z",
      elements: [
        { label: "Day", price_components: [meter(100)], restrictions: { start_time: "08:00", end_time: "20:00" } },
        { label: "Night", price_components: [meter(50)], restrictions: { start_time: "19:30", end_time: "08:00" } },
      ],
    });
    expect(byTime).to.deep.equal([
      "elements[1].restrictions: elements[0] (\"Day\") and elements[1] (\"Night\") both apply on MONDAY 19:30 (local time) for elapsed times in [0, ∞): the price would be ambiguous — make their restrictions disjoint",
    ]);
  });

  it("refuses gaps: every instant of a stay needs an element", () => {
    const e = errors({
      id: "t", version: 1, name: "t", currency: "EUR", time_zone: "Europe/Paris", effective_from: "2025-01-01T00:00:00Z",
      elements: [
        { label: "Week", price_components: [meter(100)], restrictions: { day_of_week: ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"] } },
        { label: "Saturday", price_components: [meter(50)], restrictions: { day_of_week: ["SATURDAY"], max_duration: 7200 } },
      ],
    });
    expect(e).to.deep.equal([
      "elements: no element applies on SUNDAY 00:00 (local time) when the elapsed time is in [0, 2 h): every instant of a stay needs exactly one element (add one, with price_per_step 0 if that time is free)",
      "elements: no element applies on SATURDAY 00:00 (local time) when the elapsed time is in [2 h, ∞): every instant of a stay needs exactly one element (add one, with price_per_step 0 if that time is free)",
    ]);
  });

  it("refuses malformed restrictions and windows", () => {
    expect(errors(doc((d) => { d.elements[0].restrictions = { start_time: "08:00", max_duration: 3600 }; }))[0])
      .to.match(/^elements\[0\]\.restrictions: start_time and end_time go together/);
    expect(errors(doc((d) => { d.elements[0].restrictions = { start_time: "08:00", end_time: "08:00", max_duration: 3600 }; }))[0])
      .to.match(/^elements\[0\]\.restrictions\.end_time: end_time equals start_time \(08:00\)/);
    expect(errors(doc((d) => { d.elements[1].restrictions = { min_duration: 7200, max_duration: 3600 }; }))[0])
      .to.equal("elements[1].restrictions.max_duration: max_duration (3600 s) must be greater than min_duration (7200 s)");
    expect(errors(doc((d) => { d.elements[0].restrictions.start_time = "24:00"; d.elements[0].restrictions.end_time = "08:00"; }))[0])
      .to.equal("elements[0].restrictions.start_time: must be a local time \"HH:MM\" between 00:00 and 23:59");
    expect(errors(doc((d) => { d.elements[0].price_components = [{ type: "FLAT", price: 100 }]; }))[0])
      .to.equal("elements[0].price_components: needs exactly one PARKING_TIME component (the meter; its price_per_step may be 0), found 0");
    expect(errors(doc((d) => { d.elements[0].price_components[0].step_size = 30; }))[0])
      .to.equal("elements[0].price_components[0].step_size: step_size must be at least 60 s");
    expect(errors(doc((d) => { d.flat_rates[1].window.to = "2025-06-21T17:00"; }))[0])
      .to.equal("flat_rates[1].window.to: to (2025-06-21T17:00) must be after from (2025-06-21T18:00)");
    expect(errors(doc((d) => { d.flat_rates[1].window.from = "2025-02-30T18:00"; }))[0])
      .to.equal("flat_rates[1].window.from: is not a real calendar date");
  });

  it("refuses overlapping flat rates of the same kind", () => {
    const e = errors(doc((d) => {
      d.flat_rates.push({ label: "Evening", price: 300, mode: "cap", window: { kind: "daily", start_time: "18:00", end_time: "21:00", day_of_week: ["FRIDAY"] } });
    }));
    expect(e).to.deep.equal([
      "flat_rates[2].window: flat_rates[0] (\"Night flat rate 20:00–08:00\") and flat_rates[2] (\"Evening\") both cover FRIDAY 20:00 (local time): overlapping flat rates make the price ambiguous",
    ]);
    const ev = errors(doc((d) => {
      d.flat_rates.push({ label: "Concert", price: 300, mode: "fixed", window: { kind: "dates", from: "2025-06-22T05:00", to: "2025-06-22T23:00" } });
    }));
    expect(ev[0]).to.match(/flat_rates\[1\] .* and flat_rates\[2\] \("Concert"\) overlap in time/);
  });

  it("lists every problem at once, and parseTariff throws them all", () => {
    const bad = doc((d) => { d.version = 0; d.currency = "XXY"; d.max_per_stay = -5; });
    expect(errors(bad)).to.deep.equal([
      "version: version starts at 1",
      "currency: unknown ISO 4217 currency \"XXY\"",
      "max_per_stay: max_per_stay must be greater than 0",
    ]);
    expect(() => parseTariff(bad)).to.throw(TariffValidationError, /version: version starts at 1[\s\S]*currency[\s\S]*max_per_stay/);
  });

  it("priceStay refuses an invalid tariff object instead of pricing with it", () => {
    const broken = structuredClone(parisCentre) as unknown as TariffInput;
    (broken as { time_zone: string }).time_zone = "Mars/Olympus";
    expect(() => priceStay({ tariff: broken as never, entry: 0, exit: 1000 })).to.throw(TariffValidationError, /unknown time zone "Mars\/Olympus"/);
  });
});

describe("tariffs: version in force", () => {
  const v = (version: number, effective_from: string) => ({ ...parisCentre, version, effective_from });
  const versions = [v(1, "2025-01-01T00:00:00+01:00"), v(2, "2025-03-01T00:00:00+01:00"), v(3, "2025-02-01T00:00:00+01:00")];

  it("picks the latest effective_from not after the instant", () => {
    expect(tariffInForce(versions, "2024-12-31T23:59:59+01:00")).to.equal(undefined);
    expect(tariffInForce(versions, "2025-01-01T00:00:00+01:00")?.version).to.equal(1);
    expect(tariffInForce(versions, "2025-02-15T12:00:00Z")?.version).to.equal(3);
    expect(tariffInForce(versions, new Date("2025-03-15T12:00:00Z"))?.version).to.equal(2);
  });

  it("on the same effective_from, the higher version (a correction) wins", () => {
    expect(tariffInForce([...versions, v(4, "2025-03-01T00:00:00+01:00")], "2025-03-02T00:00:00Z")?.version).to.equal(4);
  });

  it("refuses a list mixing tariffs or repeating a version", () => {
    expect(() => tariffInForce([v(1, "2025-01-01T00:00:00Z"), { ...v(2, "2025-01-01T00:00:00Z"), id: "other" }], 0)).to.throw(PricingError, /one tariff, got ids paris-centre, other/);
    expect(() => tariffInForce([v(1, "2025-01-01T00:00:00Z"), v(1, "2025-02-01T00:00:00Z")], 0)).to.throw(PricingError, /version 1 twice/);
  });
});
