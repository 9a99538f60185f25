/**
 * The pure parts of estimate and prepay (issue 16 items 2 and 3): the prepayment state machine,
 * the window a sum buys (found by asking priceStay), local "until HH:MM" across DST, the form's
 * hours and amounts (integer minor units, no floats), and the tariff in words.
 */
import { expect } from "chai";
import fc from "fast-check";
import { PREPAYMENT_MACHINE, PREPAYMENT_STATES, classify, canTransition } from "../../cloud/domain/state-machines";
import { canonicalPlate } from "../../cloud/domain/plates";
import { MAX_PREPAY_MINUTES, nextLocalTime, quoteUntil, windowForAmount } from "../../cloud/flows/quotes";
import { hoursToMinutes, majorToMinor } from "../../cloud/http/pricing-pages";
import { describeTariff } from "../../cloud/tariffs/describe";
import { parisCentre } from "../../cloud/tariffs/examples/paris-centre";
import { priceStay } from "../../cloud/tariffs/index";

const LEGAL = new Set([
  "requested>pending", "requested>paid", "requested>failed", "requested>canceled",
  "pending>paid", "pending>failed", "pending>canceled",
  "failed>pending", "failed>paid", "failed>canceled",
  "paid>consumed", "paid>refunded",
]);

describe("prepayment state machine", () => {
  it("allows exactly the written-out transitions", () => {
    for (const from of PREPAYMENT_STATES) for (const to of PREPAYMENT_STATES) expect(canTransition(PREPAYMENT_MACHINE, from, to), `${from}>${to}`).to.equal(LEGAL.has(`${from}>${to}`));
  });
  it("never moves back: a late failure after paid, a success after consumed or refunded are stale; a replay is a noop", () => {
    expect(classify(PREPAYMENT_MACHINE, "paid", "failed")).to.equal("stale");
    expect(classify(PREPAYMENT_MACHINE, "paid", "canceled")).to.equal("stale");
    expect(classify(PREPAYMENT_MACHINE, "consumed", "paid")).to.equal("stale");
    expect(classify(PREPAYMENT_MACHINE, "refunded", "paid")).to.equal("stale");
    expect(classify(PREPAYMENT_MACHINE, "canceled", "paid")).to.equal("stale");
    expect(classify(PREPAYMENT_MACHINE, "paid", "paid")).to.equal("noop");
    expect(classify(PREPAYMENT_MACHINE, "consumed", "consumed")).to.equal("noop");
  });
});

describe("the window a prepaid sum buys (windowForAmount, from priceStay)", () => {
  it("is the longest window costing at most the sum, and one more minute costs more", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 11, 31) }), (amount, t) => {
        const from = new Date(Math.floor(t / 60_000) * 60_000);
        const w = windowForAmount(parisCentre, from, amount, "en");
        if (!w) {
          // Not even the first paying step (after the 15-minute grace: 2 steps of 1.20 €) is affordable.
          expect(priceStay({ tariff: parisCentre, entry: from, exit: from.getTime() + 16 * 60_000 }).amount).to.be.greaterThan(amount);
          return;
        }
        expect(w.amount).to.be.greaterThan(0).and.at.most(amount);
        const end = Date.parse(w.exit);
        if (end - from.getTime() < MAX_PREPAY_MINUTES * 60_000) expect(priceStay({ tariff: parisCentre, entry: from, exit: end + 60_000 }).amount).to.be.greaterThan(amount);
      }),
      { numRuns: 60 },
    );
  });
  it("5 € on a weekday morning buys 1 h for 4.80 € (one more 15-min step would make 5.80 €)", () => {
    const w = windowForAmount(parisCentre, new Date("2027-03-10T10:00:00+01:00"), 500, "en");
    expect(w?.amount).to.equal(480);
    expect(w?.exit).to.equal("2027-03-10T10:00:00.000Z");
  });
});

describe("until HH:MM in the site's zone", () => {
  it("takes the next occurrence, today or tomorrow", () => {
    expect(nextLocalTime("Europe/Paris", new Date("2027-03-10T10:00:00+01:00"), "12:00").toISOString()).to.equal("2027-03-10T11:00:00.000Z");
    expect(nextLocalTime("Europe/Paris", new Date("2027-03-10T10:00:00+01:00"), "10:00").toISOString()).to.equal("2027-03-11T09:00:00.000Z");
  });
  it("on DST nights: a skipped wall time moves forward, a repeated one is the earlier instant", () => {
    expect(nextLocalTime("Europe/Paris", new Date("2027-03-28T00:00:00+01:00"), "02:30").toISOString()).to.equal("2027-03-28T01:30:00.000Z");
    expect(nextLocalTime("Europe/Paris", new Date("2027-10-31T00:00:00+02:00"), "02:30").toISOString()).to.equal("2027-10-31T00:30:00.000Z");
  });
  it("refuses an end before the start or beyond the bound, naming the field", () => {
    const from = new Date("2027-03-10T10:00:00Z");
    expect(() => quoteUntil("Europe/Paris", from, { until: new Date("2027-03-10T09:00:00Z") })).to.throw(/query\.until: must be after/);
    expect(() => quoteUntil("Europe/Paris", from, { durationMin: 10 }, 5)).to.throw(/query\.duration_min: at most 5 minutes/);
  });
});

describe("the prepay form's numbers", () => {
  it("hours → whole minutes; amounts → integer minor units of the currency", () => {
    expect(hoursToMinutes("2", "hours", 10_000)).to.equal(120);
    expect(hoursToMinutes("1,5", "hours", 10_000)).to.equal(90);
    expect(hoursToMinutes("0.25", "hours", 10_000)).to.equal(15);
    expect(majorToMinor("5", "EUR", "body.amount")).to.equal(500);
    expect(majorToMinor("5,5", "EUR", "body.amount")).to.equal(550);
    expect(majorToMinor("0.07", "EUR", "body.amount")).to.equal(7);
    expect(majorToMinor("500", "JPY", "body.amount")).to.equal(500);
  });
  it("refuses what is not a number, too many decimals, zero or out of bounds, naming the field", () => {
    expect(() => hoursToMinutes("two", "hours", 10_000)).to.throw(/^hours:/);
    expect(() => hoursToMinutes("0", "hours", 10_000)).to.throw(/^hours:/);
    expect(() => hoursToMinutes("200", "body.hours", 10_000)).to.throw(/^body\.hours:/);
    expect(() => majorToMinor("1.234", "EUR", "body.amount")).to.throw(/^body\.amount:/);
    expect(() => majorToMinor("5.5", "JPY", "body.amount")).to.throw(/^body\.amount:/);
    expect(() => majorToMinor("0", "EUR", "body.amount")).to.throw(/^body\.amount:/);
    expect(() => majorToMinor("-3", "EUR", "body.amount")).to.throw(/^body\.amount:/);
  });
  it("plates compare without case, spaces or dashes", () => {
    expect(canonicalPlate("ab-123 cd")).to.equal("AB123CD");
  });
});

describe("the tariff in words (describeTariff)", () => {
  const norm = (lines: string[]) => lines.map((l) => l.replace(/[\u00a0\u202f]/g, " "));
  it("says every rule of the demo tariff in French", () => {
    const fr = norm(describeTariff(parisCentre, "fr"));
    expect(fr).to.include("Un stationnement de 15 min ou moins est gratuit.");
    expect(fr).to.include("De la 2e à la 12e heure : 1,00 € par tranche de 15 min commencée.");
    expect(fr).to.include("Forfait nuit 20 h–8 h : au plus 6,00 € de 20:00 à 08:00.");
    expect(fr).to.include("Au plus 38,00 € par tranche de 24 heures de stationnement.");
    expect(fr).to.include("Ticket perdu : au moins 40,00 €.");
  });
  it("and in English", () => {
    const en = norm(describeTariff(parisCentre, "en"));
    expect(en).to.include("Beyond 12 h: €3.00 per 1 h started.");
    expect(en).to.include("At most €300.00 per stay.");
    expect(en).to.include("Shop validation (1 h free).");
  });
});
