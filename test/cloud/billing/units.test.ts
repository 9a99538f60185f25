/**
 * The small pure pieces of billing and the driver's pages: how an identity and a card are
 * printed, document numbers, the years of a site's clock, text the PDF fonts can print, and the
 * emulator's money per locale.
 */
import { expect } from "chai";
import Stripe from "stripe";
import { cardOfPaymentIntent } from "../../../cloud/billing/card";
import { brandName, shownIdentity } from "../../../cloud/billing/identity";
import { formatNumber, yearIn } from "../../../cloud/billing/numbering";
import { pdfText } from "../../../cloud/billing/render-pdf";
import { formatRate } from "../../../cloud/billing/vat";
import { formatLocalizedAmount } from "../../../stripe-emulator/money";

describe("billing and driver-page formatting", () => {
  it("prints a plate in full, a badge or ticket masked to its last 4", () => {
    expect(shownIdentity("plate", "AB123CD")).to.equal("AB123CD");
    expect(shownIdentity("badge", "04A1B2C3D4")).to.equal("•••• C3D4");
    expect(shownIdentity("ticket", "T-000123")).to.equal("•••• 0123");
    expect(shownIdentity("badge", "ABCD")).to.equal("••••");
    expect(brandName("visa")).to.equal("Visa");
    expect(brandName("somecard")).to.equal("somecard");
  });

  it("numbers documents R-/F-/A-<year>-<6 digits> and keeps counting past 999999", () => {
    expect(formatNumber("receipt", 2026, 42)).to.equal("R-2026-000042");
    expect(formatNumber("invoice", 2027, 1)).to.equal("F-2027-000001");
    expect(formatNumber("credit_note", 2026, 1_234_567)).to.equal("A-2026-1234567");
  });

  it("takes the year on the site's clock", () => {
    expect(yearIn(new Date("2026-12-31T23:30:00Z"), "Europe/Paris")).to.equal(2027);
    expect(yearIn(new Date("2027-01-01T03:00:00Z"), "America/New_York")).to.equal(2026);
  });

  it("keeps PDF text within what the standard fonts print (WinAnsi)", () => {
    expect(pdfText("9,80\u202f€ — 20 h–8 h")).to.equal("9,80 € — 20 h–8 h");
    expect(pdfText("20:00 → 08:00")).to.equal("20:00 -> 08:00");
    expect(pdfText("Visa •••• 4242 · é à ç Œ")).to.equal("Visa •••• 4242 · é à ç Œ");
    expect(pdfText("停车")).to.equal("??");
  });

  it("formats VAT rates per language", () => {
    expect(formatRate(2000, "fr")).to.equal("20 %");
    expect(formatRate(550, "fr")).to.equal("5,5 %");
    expect(formatRate(550, "en")).to.equal("5.5%");
  });

  it("the emulator's pages format money per locale (no float: exact minor units)", () => {
    expect(formatLocalizedAmount(980, "eur", "fr")).to.equal("9,80\u00a0€");
    expect(formatLocalizedAmount(980, "eur", "en")).to.equal("€9.80");
    expect(formatLocalizedAmount(123456789, "eur", "en")).to.equal("€1,234,567.89");
    expect(formatLocalizedAmount(500, "jpy", "en")).to.equal("JP¥500");
    expect(formatLocalizedAmount(5, "usd", "fr")).to.equal("0,05\u00a0$US");
  });

  it("a provider out of reach gives no card (the receipt goes without the card line), never an error", async () => {
    const unreachable = new Stripe("sk_test_unreachable", { host: "127.0.0.1", port: 1, protocol: "http" });
    expect(await cardOfPaymentIntent(unreachable, "pi_123")).to.equal(null);
    expect(await cardOfPaymentIntent(unreachable, null)).to.equal(null);
  });
});
