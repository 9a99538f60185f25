/**
 * Search and the session page (issue 17), as an operator: find the car of scenario 2 by its
 * plate, open its session page (payments, audit rows with their chain check), refund part of it
 * from the page's form, and see the refund listed; a viewer sees the page without the form.
 */
import { expect } from "chai";
import { formatMoney } from "../../cloud/tariffs/index";
import { shoot, type ConsoleWorld } from "./fixture";
import type { PaidCar } from "./live-scenarios";

export function sessionScenarios(w: () => ConsoleWorld, car: () => PaidCar | undefined): void {
  it("9. search and session page: find the car by plate, open its session, refund part of it from the page, see the refund listed", async function () {
    const world = w();
    const c = car();
    if (!c) this.skip(); // needs the paid exit of scenario 2
    const paid = c as PaidCar;
    const { page } = await world.login("operator");
    await page.click('header nav a[href="/console/search"]');
    await page.waitForURL((u) => u.pathname === "/console/search");
    await page.fill("#f-q", paid.plate.toLowerCase()); // as typed at a counter: the case does not matter
    await Promise.all([page.waitForURL((u) => u.searchParams.get("q") === paid.plate.toLowerCase()), page.click("#search-form button[type=submit]")]);
    const hit = page.locator("#results tbody tr", { hasText: paid.plate });
    expect(await hit.count(), "the car is found by its plate").to.equal(1);
    expect(await hit.innerText()).to.contain(formatMoney(paid.amount, "EUR", "fr"));
    await shoot(page, "9a-search");

    await Promise.all([page.waitForURL((u) => u.pathname === `/console/sessions/${paid.sessionId}`), hit.locator(`a[href="/console/sessions/${paid.sessionId}"]`).click()]);
    expect(await page.locator("#session").getAttribute("data-status")).to.equal("closed");
    expect(await page.locator("#session h1").innerText()).to.contain(paid.plate);
    expect(await page.locator("#payments tbody tr").count()).to.equal(1);
    expect(await page.locator("#chain").getAttribute("data-verified")).to.equal("true");
    const audit = await page.locator("#audit tbody").innerText();
    expect(audit).to.contain("Entrée").and.contain("Paiement validé").and.contain("Sortie");
    expect(await page.locator("#refunds").count(), "no refund yet").to.equal(0);

    // A partial refund from the page: the form asks to confirm (window.confirm), then the page lists it.
    await page.fill("#r-amount", "1,00");
    await page.fill("#r-reason", "geste commercial : attente à la borne");
    page.once("dialog", (d) => void d.accept());
    await Promise.all([page.waitForURL((u) => /^refund(_pending)?$/.test(u.searchParams.get("done") ?? "")), page.click("#refund-form button[type=submit]")]);
    expect(await page.locator("#notice").innerText()).to.match(/Remboursement (enregistré|demandé)/);
    const refund = page.locator("#refunds tbody tr");
    expect(await refund.count()).to.equal(1);
    const row = await refund.innerText();
    expect(row).to.contain(formatMoney(100, "EUR", "fr")).and.contain("geste commercial").and.contain(world.users.operator.username);
    const [db] = await world.t.cloud.db.sql<{ amount: number; requestedBy: string }[]>`SELECT r.amount, r.requested_by FROM refunds r JOIN payments p USING (payment_id) WHERE p.session_id = ${paid.sessionId}`;
    expect(db).to.include({ amount: 100, requestedBy: world.users.operator.username });
    expect(await page.locator("#audit tbody").innerText(), "the refund is in the session's audit").to.contain("Remboursement demandé");
    await shoot(page, "9b-session-refunded");

    // A viewer reads the same page but has no form to act with.
    const { page: v } = await world.login("viewer");
    await v.goto(`${world.base}/console/sessions/${paid.sessionId}`);
    expect(await v.locator("#refunds tbody tr").count()).to.equal(1);
    expect(await v.locator("#refund-form, #resolve-form").count()).to.equal(0);
    expect(world.problems, "CSP violations and script errors seen").to.deep.equal([]);
  });
}
