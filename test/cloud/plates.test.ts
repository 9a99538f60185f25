/**
 * One plate rule (cloud/domain/plates.ts): what a permit or a prepayment stores for a plate is
 * exactly what an entry session stores for it, however either was written. Before, permits kept
 * dots and underscores ("AB.123.CD") that entries dropped, so such a permit never matched its car.
 */
import { expect } from "chai";
import fc from "fast-check";
import { normalizeIdentity } from "../../cloud/db/sessions";
import { canonicalPlate, PLATE_FORM } from "../../cloud/domain/plates";

describe("plates: one canonical form", () => {
  it("drops case and the separators people and cameras write", () => {
    for (const written of ["ab-123-cd", "AB 123 CD", "AB.123.CD", "ab_123_cd", " AB-123 CD "]) expect(canonicalPlate(written)).to.equal("AB123CD");
  });

  it("is the form an entry session stores, for any plate an entry accepts", () => {
    const chars = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .-_".split(""));
    fc.assert(
      fc.property(fc.array(chars, { minLength: 1, maxLength: 24 }).map((a) => a.join("")), (written) => {
        const canonical = canonicalPlate(written);
        if (!PLATE_FORM.test(canonical)) return;
        expect(normalizeIdentity({ method: "plate", value: written }).value).to.equal(canonical);
        expect(canonicalPlate(canonical)).to.equal(canonical); // idempotent: stored plates compare as they are
      }),
    );
  });
});
