/**
 * The hold page for real Stripe (Payment Element): the hold's client secret and the return page
 * go to Stripe.js, the amount shown is the server's, in the page's language.
 */
import { expect } from "chai";
import { holdElementPage } from "../../../cloud/http/hold-pages";

describe("hold page with Stripe's Payment Element (real Stripe mode)", () => {
  it("confirms the hold's client secret and comes back to the hold's return page, in French or English", () => {
    const v = { publishableKey: "pk_test_abc", clientSecret: "pi_123_secret_xyz", returnUrl: "https://park.example/hold/paris-centre/hold_AAAAAAAAAAAAAAAAAAAA/return?lang=fr", upTo: "38,00 €" };
    const fr = holdElementPage("fr", v);
    expect(fr).to.contain('elements({clientSecret:"pi_123_secret_xyz",locale:"fr"})');
    expect(fr).to.contain(`return_url:${JSON.stringify(v.returnUrl)}`);
    expect(fr).to.match(/<html lang="fr">/);
    expect(fr).to.contain("Autoriser ma carte");
    expect(fr).to.contain("38,00 €");
    expect(holdElementPage("en", v)).to.contain("Authorise my card");
  });
});
