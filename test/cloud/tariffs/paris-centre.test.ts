// Hand-computed prices for the demo tariff (cloud/tariffs/examples/paris-centre.ts).
// Tariff reminder: 15 min grace (free if within); 1st hour 1.20 €/15 min; hours 2–12
// 1.00 €/15 min; beyond 12 h 3.00 €/h (elapsed real time since entry); night 20:00–08:00
// flat 6.00 € (cap mode); Fête de la musique 21/06 18:00 → 22/06 06:00 fixed 10.00 €;
// 38.00 € per rolling 24 h; 300.00 € per stay; lost ticket at least 40.00 €.
import { expect } from "chai";
import { priceStay } from "../../../cloud/tariffs";
import type { PriceStayInput } from "../../../cloud/tariffs";
import { parisCentre } from "../../../cloud/tariffs/examples/paris-centre";
import { percentOf } from "../../../cloud/tariffs/money";

const TUE = "2025-07-15T10:00:00+02:00"; // summer, CEST

function price(entry: string, exit: string, extra: Partial<PriceStayInput> = {}): number {
  const r = priceStay({ tariff: parisCentre, entry, exit, ...extra });
  expect(r.breakdown.reduce((s, l) => s + l.amount, 0)).to.equal(r.amount, "breakdown sums to the amount");
  return r.amount;
}

describe("tariffs: Paris Centre, hand-computed prices", () => {
  it("is free inside the 15 min grace period, bound included", () => {
    expect(price(TUE, "2025-07-15T10:10:00+02:00")).to.equal(0);
    expect(price(TUE, "2025-07-15T10:15:00+02:00")).to.equal(0);
    const r = priceStay({ tariff: parisCentre, entry: TUE, exit: "2025-07-15T10:05:00+02:00" });
    expect(r.human).to.deep.equal(["Grace period (15 min): free", "Total: €0.00 (free)"]);
  });

  it("charges every started quarter from entry once the grace period is exceeded", () => {
    // 10:15:01 → quarters starting 10:00 and 10:15 → 2 × 1.20
    expect(price(TUE, "2025-07-15T10:15:01+02:00")).to.equal(240);
    expect(price(TUE, "2025-07-15T11:00:00+02:00")).to.equal(480);
    // one more second starts the 5th quarter, at the "hours 2 to 12" price
    expect(price(TUE, "2025-07-15T11:00:01+02:00")).to.equal(580);
  });

  it("3 h 20 in the day: 4.80 + 10 quarters = 14.80 €", () => {
    const r = priceStay({ tariff: parisCentre, entry: TUE, exit: "2025-07-15T13:20:00+02:00" });
    expect(r.amount).to.equal(1480);
    expect(r.currency).to.equal("EUR");
    expect(r.tariff_id).to.equal("paris-centre");
    expect(r.tariff_version).to.equal(1);
    expect(r.duration_s).to.equal(3 * 3600 + 20 * 60);
    expect(r.human).to.deep.equal([
      "1st hour — 4 × 15 min at €1.20: €4.80",
      "Hours 2 to 12 — 10 × 15 min at €1.00: €10.00",
      "Total: €14.80",
    ]);
    expect(r.breakdown[1]).to.include({ kind: "time", quantity: 10, unit_amount: 100, step_size: 900, amount: 1000 });
  });

  it("9 h in the day: 4.80 + 32 quarters = 36.80 € (under the cap)", () => {
    expect(price(TUE, "2025-07-15T19:00:00+02:00")).to.equal(3680);
  });

  it("10 h 30 reaching the night: 42.80 € metered, capped at 38.00 € for the first 24 h", () => {
    const r = priceStay({ tariff: parisCentre, entry: TUE, exit: "2025-07-15T20:30:00+02:00" });
    expect(r.amount).to.equal(3800);
    expect(r.breakdown).to.have.length(1);
    expect(r.breakdown[0].kind).to.equal("daily_cap");
    expect(r.human[0]).to.equal("Daily cap applied — 24 h from Tue 15/07 10:00 (metered €42.80): €38.00");
  });

  it("a night inside the night window costs the night flat rate", () => {
    // 21:00 → 07:00: metered 4.80 + 36 quarters = 40.80, night occurrence capped at 6.00
    expect(price("2025-07-15T21:00:00+02:00", "2025-07-16T07:00:00+02:00")).to.equal(600);
  });

  it("steps run on across the end of the night: 18:30 → 09:10 = 15.80 €", () => {
    // 18:30–19:30 1st hour 4.80; 19:30–20:00 2 quarters 2.00; night 6.00 (its last hourly step
    // starts 07:30 and runs to 08:30); then one hourly step from 08:30: 3.00.
    const r = priceStay({ tariff: parisCentre, entry: "2025-07-15T18:30:00+02:00", exit: "2025-07-16T09:10:00+02:00" });
    expect(r.amount).to.equal(1580);
    expect(r.breakdown.map((l) => [l.kind, l.amount])).to.deep.equal([["time", 480], ["time", 200], ["flat_rate", 600], ["time", 300]]);
    expect(r.breakdown[2].to).to.equal("2025-07-16T06:30:00.000Z");
  });

  it("the cap is per 24 h window, not per stay: 50 h = 2 caps + 6.00 € remainder", () => {
    // window 1: 4.80 + 36.00 + night 6.00 + 2 × 3.00 = 52.80 → 38; window 2: 10 × 3 + 6 + 2 × 3 = 42 → 38;
    // window 3 (Thu 10:00–12:00): 2 × 3.00 = 6.00
    const r = priceStay({ tariff: parisCentre, entry: TUE, exit: "2025-07-17T12:00:00+02:00" });
    expect(r.amount).to.equal(8200);
    expect(r.breakdown.filter((l) => l.kind === "daily_cap")).to.have.length(2);
  });

  it("a 9-day stay is held to the maximum per stay (9 × 38 = 342 → 300 €)", () => {
    const r = priceStay({ tariff: parisCentre, entry: TUE, exit: "2025-07-24T10:00:00+02:00" });
    expect(r.amount).to.equal(30000);
    expect(r.breakdown.at(-1)).to.include({ kind: "max_per_stay", amount: -4200 });
  });

  it("lost ticket: at least 40.00 €, the stay price when higher", () => {
    expect(price(TUE, "2025-07-15T11:00:00+02:00", { lostTicket: true })).to.equal(4000);
    expect(price(TUE, "2025-07-15T10:05:00+02:00", { lostTicket: true })).to.equal(4000);
    expect(price(TUE, "2025-07-17T12:00:00+02:00", { lostTicket: true })).to.equal(8200);
  });

  it("subscriber: 100 % off", () => {
    expect(price(TUE, "2025-07-15T13:20:00+02:00", { subscriber: true })).to.equal(0);
  });

  it("a permit plan's discount replaces the tariff's subscriber discount, and only for a subscriber", () => {
    const full = price(TUE, "2025-07-15T13:20:00+02:00");
    const half = { kind: "percent" as const, percent: 50, label: { en: "Permit: Night owl", fr: "Abonnement : Night owl" } };
    expect(price(TUE, "2025-07-15T13:20:00+02:00", { subscriber: true, subscriberDiscount: half })).to.equal(full - percentOf(full, 50));
    expect(price(TUE, "2025-07-15T13:20:00+02:00", { subscriberDiscount: half }), "not a subscriber: no discount").to.equal(full);
    const r = priceStay({ tariff: parisCentre, entry: TUE, exit: "2025-07-15T13:20:00+02:00", subscriber: true, subscriberDiscount: half, locale: "fr" });
    expect(r.breakdown.find((l) => l.kind === "discount")?.label).to.equal("Abonnement : Night owl");
  });

  it("shop validation (1 h free): the stay is priced as if it ended 1 h earlier", () => {
    expect(price(TUE, "2025-07-15T12:00:00+02:00", { discounts: ["SHOP-1H"] })).to.equal(480);
    expect(price(TUE, "2025-07-15T11:10:00+02:00", { discounts: ["SHOP-1H"] })).to.equal(0); // 10 min left: grace
    // presenting the same validation twice acts once
    expect(price(TUE, "2025-07-15T12:00:00+02:00", { discounts: ["SHOP-1H", "SHOP-1H"] })).to.equal(480);
  });

  it("percent then fixed discounts, percent rounded half up: 14.80 − 2.96 − 2.00 = 9.84 €", () => {
    expect(price(TUE, "2025-07-15T13:20:00+02:00", { discounts: ["RESTO-2E", "HOTEL-20"] })).to.equal(984);
  });

  it("event rate: 17:00 → 19:00 on 21 June = 1st hour 4.80 + event 10.00 €", () => {
    const r = priceStay({ tariff: parisCentre, entry: "2025-06-21T17:00:00+02:00", exit: "2025-06-21T19:00:00+02:00", locale: "fr" });
    expect(r.amount).to.equal(1480);
    expect(r.human.map((h) => h.replace(/[\u00a0\u202f]/g, " "))).to.deep.equal([
      "1re heure — 4 × 15 min à 1,20 € : 4,80 €",
      "Forfait Fête de la musique (sam. 21/06 18:00 → dim. 22/06 06:00) : 10,00 €",
      "Total : 14,80 €",
    ]);
  });

  it("refuses bad arguments with precise messages", () => {
    expect(() => priceStay({ tariff: parisCentre, entry: TUE, exit: "2025-07-15T09:00:00+02:00" })).to.throw(/exit .* is before entry/);
    expect(() => priceStay({ tariff: parisCentre, entry: "2025-07-15T10:00", exit: TUE })).to.throw(/must be an ISO 8601 instant with an offset/);
    expect(() => priceStay({ tariff: parisCentre, entry: TUE, exit: TUE, discounts: ["NOPE"] })).to.throw(/unknown validation code "NOPE" .* known codes: SHOP-1H, CINEMA-3H, HOTEL-20, RESTO-2E/);
    expect(() => priceStay({ tariff: parisCentre, entry: TUE, exit: "2026-12-31T10:00:00+01:00" })).to.throw(/more than 400 days/);
  });
});
