/**
 * The admin and revenue screens in a real browser, and what every console page owes the operator
 * (issue 17): a lane added keeps its case in the live view, a tariff change shows its preview
 * before it is published, spaces held back for permits and reservations lower the entries card's
 * free spaces, a merchant is created with its link shown once, the revenue chart renders, no page scrolls sideways on a phone, no page
 * logs a CSP violation, French and English switch and stay, times are in the site's zone.
 */
import { join } from "node:path";
import { expect } from "chai";
import type { Page } from "playwright-core";
import { PHONE, SHOTS_DIR, SITE, eventId, parisTime, shoot, sidewaysOverflow, type ConsoleWorld } from "./fixture";
import { until } from "../cloud/server/helpers";
import type { PaidCar } from "./live-scenarios";

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
/** A window that holds today in every zone (the revenue's days are the site's local days). */
export const revenueWindow = () => `from=${day(-1)}&to=${day(1)}`;

export function adminScenarios(w: () => ConsoleWorld, car: () => PaidCar | undefined): void {
  let admin: Page;

  it("4a. admin: add a lane — its name keeps its case in the list and in the live view", async () => {
    const world = w();
    ({ page: admin } = await world.login("admin"));
    await admin.click('header nav a[href="/console/admin"]');
    await admin.click(`a[href="/console/admin/sites/${SITE}/lanes"]`);
    await admin.fill("#add-lane [name=lane_id]", "Sortie-Nord");
    await admin.selectOption("#add-lane [name=kind]", "exit");
    await Promise.all([admin.waitForURL((u) => u.searchParams.get("notice") === "lane_added"), admin.click("#add-lane button[type=submit]")]);
    expect(await admin.locator("#notice").innerText()).to.equal("Voie ajoutée.");
    const row = admin.locator('#lane-list tr[data-lane="sortie-nord"]');
    expect(await row.locator(".lane-name").innerText()).to.equal("Sortie-Nord");
    await shoot(admin, "4a-admin-lanes");

    await admin.goto(`${world.base}/console/sites/${SITE}`);
    await admin.waitForSelector('#live-status[data-state="live"]');
    expect(await admin.locator("#lane-sortie-nord").getAttribute("data-wire")).to.equal("Sortie-Nord");
    expect(await admin.locator("#lane-sortie-nord h3").innerText()).to.match(/^Sortie-Nord sortie/);
    // The site names it with its case on the wire; the page follows it by that lane.
    await world.publish("laneState", { ts: Date.now(), lane_id: "Sortie-Nord", exit_state: "identifying", barrier_state: "closed", display: ["SORTIE NORD"] }, "Sortie-Nord");
    await admin.locator('#lane-sortie-nord [data-f="exit_state"]', { hasText: "identification" }).waitFor();
  });

  it("4b. admin: change a tariff — the preview table first, then publish: the new version is listed", async () => {
    const world = w();
    await admin.goto(`${world.base}/console/admin/sites/${SITE}/tariffs`);
    const versions = await admin.locator("#tariff-versions tbody tr").count();
    const latest = Math.max(...(await admin.locator("#tariff-versions tbody tr").evaluateAll((rows) => rows.map((r) => Number((r as unknown as { dataset: { version: string } }).dataset.version)))));
    const doc = JSON.parse(await admin.inputValue("#f-document")) as { elements: { price_components: { price_per_step: number }[] }[] };
    expect(doc.elements[0].price_components[0].price_per_step).to.be.a("number");
    doc.elements[0].price_components[0].price_per_step += 10; // the first hour: +0,10 € per quarter
    await admin.fill("#f-document", JSON.stringify(doc, null, 2));
    await admin.click("#preview");
    await admin.waitForSelector("#tariff-preview");
    const samples = await admin.locator("#tariff-preview tbody tr").count();
    expect(samples, "sample stays priced").to.be.greaterThan(0);
    const diffs = await admin.locator("#tariff-preview td.diff").evaluateAll((cells) => cells.map((c) => Number((c as unknown as { dataset: { diff: string } }).dataset.diff)));
    expect(diffs.some((d) => d > 0), `some stay costs more: ${JSON.stringify(diffs)}`).to.equal(true);
    expect(await admin.locator("#tariff-versions tbody tr").count(), "a preview writes nothing").to.equal(versions);
    await shoot(admin, "4b-tariff-preview");
    await Promise.all([admin.waitForURL((u) => u.searchParams.get("notice") === "tariff_published"), admin.click("#publish")]);
    expect(await admin.locator(`#tariff-versions tr[data-version="${latest + 1}"]`).count()).to.equal(1);
    expect(await admin.locator("#tariff-versions tbody tr").count()).to.equal(versions + 1);
    await shoot(admin, "4c-tariff-published");
    // The other admin screens, for the operators' guide (docs/operators.md).
    await admin.goto(`${world.base}/console/admin/sites/${SITE}/permits`);
    await shoot(admin, "4d-admin-permits");
    await admin.goto(`${world.base}/console/admin/operators`);
    expect(await admin.locator("main").innerText()).to.contain(world.users.viewer.username);
    await shoot(admin, "4e-admin-operators");
  });

  it("4f. admin: spaces held back for permits and reservations lower the entries card's free spaces; a merchant created, its link shown once", async () => {
    const world = w();
    await admin.goto(`${world.base}/console/admin/sites/${SITE}`);
    const capacity = Number(await admin.inputValue("#f-capacity"));
    expect(capacity, "the demo site has a capacity").to.be.greaterThan(15);
    await admin.fill("#f-permit_spots", "10");
    await admin.fill("#f-reservation_spots", "5");
    await Promise.all([admin.waitForURL((u) => u.searchParams.get("notice") === "site_saved"), admin.click("#edit-site button[type=submit]")]);
    expect(await admin.inputValue("#f-permit_spots")).to.equal("10");
    await shoot(admin, "4f-admin-site-spaces");

    await admin.goto(`${world.base}/console/sites/${SITE}`);
    await admin.waitForSelector('#live-status[data-state="live"]');
    const inside = await admin.locator("#entries [data-occupied]").evaluateAll((cells) => cells.map((c) => Number((c as unknown as { dataset: { occupied: string } }).dataset.occupied)));
    const card = await admin.locator("#entries").innerText();
    expect(card).to.contain("10 / 5");
    // No pool over its held-back spaces here: every car inside beyond them is a ticket's space.
    const [transient, permit, reservation] = inside;
    const used = transient + Math.max(0, permit - 10) + Math.max(0, reservation - 5);
    expect(await admin.locator("#free-for-tickets").innerText()).to.equal(String(capacity - 15 - used));
    await admin.locator("#entries").screenshot({ path: join(SHOTS_DIR, "4g-entries-card-wall.png") });

    await admin.goto(`${world.base}/console/merchants`);
    await admin.fill("#add-merchant [name=name]", "Cinéma Rivoli");
    await admin.selectOption("#add-merchant [name=kind]", "cinema");
    await admin.fill("#add-merchant [name=rule]", "CINEMA-3H");
    await admin.fill("#add-merchant [name=budget]", "250");
    await admin.click("#add-merchant button[type=submit]");
    await admin.waitForSelector("#merchant-link");
    expect(await admin.locator("#merchant-link").innerText()).to.match(/^https?:\/\/[^/]+\/merchant\/[A-Za-z0-9_-]{20,}$/);
    expect(await admin.locator("#merchants tbody").innerText()).to.contain("Cinéma Rivoli");
    await shoot(admin, "4h-merchants");
    // The link is shown once: the report page never shows it again.
    await admin.goto(`${world.base}/console/merchants`);
    expect(await admin.locator("#merchant-link").count()).to.equal(0);
  });

  it("5. revenue: the page renders its totals and the chart image", async function () {
    const world = w();
    if (!car()) this.skip(); // needs the paid exit of scenario 2
    await admin.goto(`${world.base}/console/revenue?${revenueWindow()}`);
    await admin.waitForSelector("#revenue-chart");
    const chart = (await admin.locator("#revenue-chart").evaluate((img) => {
      const i = img as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number };
      return { complete: i.complete, w: i.naturalWidth, h: i.naturalHeight };
    })) as { complete: boolean; w: number; h: number };
    expect(chart.complete && chart.w > 100 && chart.h > 50, `chart drawn: ${JSON.stringify(chart)}`).to.equal(true);
    expect(await admin.locator("#revenue-totals").innerText()).to.contain("EUR");
    expect(await admin.locator("#revenue-rows tbody tr").count()).to.be.greaterThan(0);
    await shoot(admin, "5-revenue");
  });

  it("7. phone layout: at 390 px no console page scrolls sideways (the live site with a long feed, admin tariffs, revenue…)", async () => {
    const world = w();
    // A long feed, with long words: plates, alarm details, a lane name.
    for (let i = 0; i < 25; i++) {
      await world.publish("sensorError", { ts: Date.now(), event_id: eventId(), lane_id: "L1", code: `OBSTRUCTION_LONG_CODE_${i}`, severity: i % 3 === 0 ? "alarm" : "warning", detail: `beam cut while closing, lane L1, vehicle ${"W".repeat(40)} ${i}` });
      await world.publish("entry", { ts: Date.now(), event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: `LONGPLATE${String(i).padStart(3, "0")}XYZ` } });
    }
    // Processed before the page opens: the page shows what it rendered and what the stream sends after it connects.
    await until(async () => (await world.t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM sessions WHERE identity_value = 'LONGPLATE024XYZ'`)[0].n === 1, 15_000, "the last entry processed");
    const { page: op } = await world.login("operator", PHONE);
    await op.goto(`${world.base}/console/sites/${SITE}`);
    await op.waitForSelector('#live-status[data-state="live"]');
    await op.locator('#feed tr[data-category="entry"]', { hasText: "LONGPLATE024XYZ" }).waitFor();
    expect(await op.locator("#feed tbody tr").count()).to.be.greaterThan(40);
    const paths = ["/console", `/console/sites/${SITE}`, `/console/revenue?${revenueWindow()}`];
    const adminPaths = ["/console/admin", "/console/admin/sites", `/console/admin/sites/${SITE}`, `/console/admin/sites/${SITE}/lanes`, `/console/admin/sites/${SITE}/tariffs`, `/console/admin/sites/${SITE}/permits`, "/console/admin/operators", "/console/merchants"];
    const extra = car() ? ["/console/search", `/console/search?q=${car()!.plate}`, `/console/sessions/${car()!.sessionId}`] : [];
    const wide: string[] = [];
    for (const [p, path] of [...paths, ...extra].map((x) => [op, x] as const).concat(adminPaths.map((x) => [admin, x] as const))) {
      await p.setViewportSize(PHONE);
      const r = await p.goto(`${world.base}${path}`);
      if (r?.status() === 404 && path.startsWith("/console/se")) continue; // search / session pages not mounted yet
      expect(r?.status(), path).to.equal(200);
      const o = await sidewaysOverflow(p);
      if (o.scrollWidth > PHONE.width) wide.push(`${path}: scrollWidth ${o.scrollWidth} (${o.widest})`);
    }
    await op.goto(`${world.base}/console/sites/${SITE}`);
    await shoot(op, "7-phone-site-long-feed");
    await admin.setViewportSize(PHONE);
    await admin.goto(`${world.base}/console/admin/sites/${SITE}/tariffs`);
    await admin.screenshot({ path: join(SHOTS_DIR, "7-phone-admin-tariffs.png"), fullPage: true });
    expect(wide, "pages wider than a phone").to.deep.equal([]);
  });

  it("8. no console page logs a CSP violation or a script error; French and English switch and stay; times in the site's zone", async () => {
    const world = w();
    const { page: p } = await world.login("admin");
    // English by ?lang=en, then kept by the cookie on the next pages.
    await p.goto(`${world.base}/console/sites/${SITE}?lang=en`);
    await p.waitForSelector('#live-status[data-state="live"]');
    expect(await p.getAttribute("html", "lang")).to.equal("en");
    expect(await p.locator("header nav").innerText()).to.match(/Live[\s\S]*Search[\s\S]*Revenue[\s\S]*Admin/);
    expect(await p.locator("#live-status").innerText()).to.equal("live");
    const ts = Date.now();
    await world.publish("laneState", { ts, lane_id: "E1", exit_state: "idle", barrier_state: "closed" }, "E1");
    await p.locator('#lane-e1 [data-f="state_ts"]', { hasText: parisTime(ts, "en") }).waitFor();
    expect(parisTime(ts, "en"), "Paris is not UTC").not.to.equal(parisTime(ts, "en", "UTC"));
    await shoot(p, "8a-site-english");
    // The shared consumers persist it on their own path: wait for it before reading it back after a reload.
    await until(async () => (await world.t.cloud.db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM lane_status WHERE site_id = ${SITE} AND lane_id = 'e1' AND state_ts = ${new Date(ts)}`)[0].n === 1, 15_000, "the E1 state persisted");
    await p.goto(`${world.base}/console/revenue?${revenueWindow()}`);
    expect(await p.getAttribute("html", "lang")).to.equal("en");
    await p.goto(`${world.base}/console/admin/sites/${SITE}/tariffs`);
    expect(await p.getAttribute("html", "lang")).to.equal("en");
    await p.reload();
    // A reload renders the same instant from the database, in Paris time.
    await p.goto(`${world.base}/console/sites/${SITE}`);
    expect(await p.locator('#lane-e1 [data-f="state_ts"]').innerText()).to.equal(parisTime(ts, "en"));
    await p.click("header a.lang");
    expect(await p.getAttribute("html", "lang")).to.equal("fr");
    expect(await p.locator("header nav").innerText()).to.match(/En direct[\s\S]*Recherche[\s\S]*Recettes[\s\S]*Administration/);
    expect(await p.locator('#lane-e1 [data-f="state_ts"]').innerText()).to.equal(parisTime(ts, "fr"));
    await p.goto(`${world.base}/console`);
    expect(await p.getAttribute("html", "lang")).to.equal("fr");
    // Every page of every scenario so far, and these, watched from the first one on.
    expect(world.problems, "CSP violations and script errors seen").to.deep.equal([]);
  });
}
