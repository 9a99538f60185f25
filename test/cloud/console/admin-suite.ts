/**
 * The console's admin screens over HTTP with an admin's session cookie, on a real database (run
 * on PGlite and on the PostgreSQL server): sites and lanes (a lane's name keeps its case), the
 * spaces held back for permits and reservations (bounded by the capacity, a change published to
 * the entry displays as the site's state), a bad
 * time zone refused next to its field, the tariff preview priced exactly as priceStay prices
 * (compared with direct calls), publication of version n + 1 with its audit row, a double submit
 * publishing once, an invalid document listed per field with nothing written, permit plans and
 * the access list through their flows, operators (add, role, disable, the last admin kept), and
 * viewers and operators refused (403) on every admin route.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { findAuditEntries, findOperatorByUsername, getAccessList, insertTariff, listLanes, listPermitPlans, listTariffs, type Database, type Json } from "../../../cloud/db/index";
import { getSiteAdmin } from "../../../cloud/db/site-admin";
import { consoleAdminRouter } from "../../../cloud/http/console/admin";
import { sampleStays } from "../../../cloud/flows/site-admin";
import type { AuditMode } from "../../../cloud/server/audit-chain";
import { parseTariff, priceStay } from "../../../cloud/tariffs/index";
import { parisCentreDocument } from "../../../cloud/tariffs/examples/paris-centre";
import { TOPICS, toCloudTopic, type Payload } from "../../../contracts/mqtt-topics";
import { startAdminFront, textOf, valueOf, type AdminFront } from "./admin-fixture";

const rnd = () => randomBytes(3).toString("hex");

/** Every admin route of the router, with its methods (walked from the router's own stack). */
function adminRoutes(f: AdminFront): { method: string; path: string; roles: readonly string[] | undefined }[] {
  const router = consoleAdminRouter(f.deps) as unknown as { stack: { route?: { path: string; methods: Record<string, boolean>; stack: { handle: { allowedRoles?: readonly string[] } }[] } }[] };
  return router.stack.flatMap((layer) => {
    if (!layer.route) return [];
    const roles = layer.route.stack.map((l) => l.handle.allowedRoles).find((r) => r !== undefined);
    return Object.keys(layer.route.methods).map((m) => ({ method: m.toUpperCase(), path: layer.route?.path as string, roles }));
  });
}

export function adminSuite(title: string, opts: { open(ctx: Mocha.Context): Promise<Database>; close(db: Database): Promise<void>; auditMode: AuditMode }): void {
  describe(title, function () {
    this.timeout(60_000);
    let db: Database;
    let f: AdminFront;
    const tag = rnd();
    const siteOf = () => `s-${rnd()}`;

    before(async function () {
      this.timeout(120_000);
      db = await opts.open(this);
      f = await startAdminFront(db, opts.auditMode, tag);
    });
    after(async () => {
      await f?.close();
      if (db) await opts.close(db);
    });

    const addSite = async (siteId: string, extra: Record<string, string> = {}) =>
      f.post("/console/admin/sites", { site_id: siteId, name: `Parking ${siteId}`, time_zone: "Europe/Paris", currency: "EUR", capacity: "120", latitude: "48.85", longitude: "2.35", company: "Parkings Test SA", address: "1 rue du Test, Paris", siret: "123 456 789 00012", vat_id: "FR12123456789", ...extra });

    /** A site with the Paris tariff as version 1, in force since 2025. */
    async function siteWithTariff(): Promise<string> {
      const siteId = siteOf();
      expect((await addSite(siteId)).status).to.equal(303);
      await insertTariff(db.sql, { siteId, version: 1, effectiveFrom: new Date(parisCentreDocument.effective_from), document: parisCentreDocument as unknown as Json });
      return siteId;
    }

    it("adds a site (303 with a notice, audited with the admin's name) and changes its name, capacity, time zone and legal details", async () => {
      const siteId = siteOf();
      const r = await addSite(siteId);
      expect(r.status).to.equal(303);
      expect(r.location).to.equal(`/console/admin/sites/${siteId}?notice=site_added`);
      const page = await f.get(r.location as string);
      expect(page.status).to.equal(200);
      expect(page.html).to.include('id="notice"');
      expect(valueOf(page.html, "company")).to.equal("Parkings Test SA");
      const row = await getSiteAdmin(db.sql, siteId);
      expect(row).to.include({ name: `Parking ${siteId}`, timeZone: "Europe/Paris", currency: "EUR", capacity: 120, latitude: 48.85, longitude: 2.35 });
      expect(row.legal).to.deep.equal({ company: "Parkings Test SA", address: "1 rue du Test, Paris", siret: "123 456 789 00012", vat_id: "FR12123456789" });
      const [added] = (await findAuditEntries(db.sql, { kind: "site.added" })).filter((a) => (a.payload as { site_id: string }).site_id === siteId);
      expect(added.payload).to.include({ operator: f.users.admin.username, operator_id: f.users.admin.operatorId, via: "console" });

      const e = await f.post(`/console/admin/sites/${siteId}`, { name: "Renamed", time_zone: "America/New_York", capacity: "", latitude: "", longitude: "", company: "", address: "", siret: "", vat_id: "" });
      expect(e.status).to.equal(303);
      expect(await getSiteAdmin(db.sql, siteId)).to.include({ name: "Renamed", timeZone: "America/New_York", capacity: null, latitude: null });
      expect((await getSiteAdmin(db.sql, siteId)).legal).to.deep.equal({});
      const [updated] = (await findAuditEntries(db.sql, { kind: "site.updated" })).filter((a) => (a.payload as { site_id: string }).site_id === siteId);
      expect((updated.payload as { changed: Record<string, Json> }).changed).to.have.keys("name", "time_zone", "capacity", "latitude", "longitude", "legal");
      expect((await f.get("/console/admin/sites")).html).to.include(`data-site="${siteId}"`);
    });

    it("refuses a bad time zone next to its field (400, values kept, nothing written), and a taken id (409)", async () => {
      const siteId = siteOf();
      const r = await addSite(siteId, { time_zone: "Europe/Pariss", name: "Kept <name>" });
      expect(r.status).to.equal(400);
      expect(r.html).to.match(/class="field-error" id="err-time_zone"/);
      expect(textOf(r.html, "err-time_zone")).to.match(/unknown time zone "Europe\/Pariss"/);
      expect(valueOf(r.html, "name")).to.equal("Kept <name>");
      expect(valueOf(r.html, "time_zone")).to.equal("Europe/Pariss");
      const lower = await addSite(siteId, { time_zone: "europe/paris" });
      expect(textOf(lower.html, "err-time_zone")).to.match(/must be spelled "Europe\/Paris"/);
      expect((await f.get(`/console/admin/sites/${siteId}`)).status).to.equal(404);
      const bad = await addSite("Not An Id", { capacity: "-3", latitude: "91" });
      expect(bad.status).to.equal(400);
      for (const field of ["site_id", "capacity", "latitude"]) expect(bad.html).to.include(`id="err-${field}"`);
      expect((await addSite(siteId)).status).to.equal(303);
      const again = await addSite(siteId);
      expect(again.status).to.equal(409);
      expect(textOf(again.html, "err-site_id")).to.match(/already taken/);
    });

    it("holds back permit and reservation spaces: saved and audited, a change publishes the site's state (relay woken), a sum over the capacity refused next to its field", async () => {
      const siteId = siteOf();
      const states = async () => (await db.sql<{ payload: Payload<"siteState"> }[]>`SELECT payload FROM outbox WHERE topic = ${toCloudTopic(siteId, TOPICS.siteState.topic)} ORDER BY id`).map((r) => r.payload);
      let wakes = 0;
      const wake = f.deps.wake;
      f.deps.wake = () => void wakes++;
      try {
        expect((await addSite(siteId, { capacity: "20", permit_spots: "6", reservation_spots: "4" })).status).to.equal(303);
        expect(await getSiteAdmin(db.sql, siteId)).to.include({ capacity: 20, permitSpots: 6, reservationSpots: 4 });
        expect((await states()).map((p) => [p.state, p.capacity, p.src])).to.deep.equal([["open", 20, "test-cloud"]]);
        const page = await f.get(`/console/admin/sites/${siteId}`);
        expect([valueOf(page.html, "permit_spots"), valueOf(page.html, "reservation_spots")]).to.deep.equal(["6", "4"]);
        expect(page.html).to.include('id="help-permit_spots"').and.include('id="help-reservation_spots"');

        const edit = { name: "Spots", time_zone: "Europe/Paris", capacity: "20", permit_spots: "12", reservation_spots: "8" };
        wakes = 0;
        expect((await f.post(`/console/admin/sites/${siteId}`, edit)).status).to.equal(303);
        expect(await getSiteAdmin(db.sql, siteId)).to.include({ permitSpots: 12, reservationSpots: 8 });
        // Every space held back: no ticket fits, the entry displays hear "full".
        expect((await states()).map((p) => p.state)).to.deep.equal(["open", "full"]);
        expect(wakes).to.equal(1);
        const [updated] = (await findAuditEntries(db.sql, { kind: "site.updated" })).filter((a) => (a.payload as { site_id: string }).site_id === siteId);
        expect((updated.payload as { changed: Record<string, Json> }).changed).to.deep.include({ permit_spots: { from: 6, to: 12 }, reservation_spots: { from: 4, to: 8 } });

        // A change that leaves the free count alone publishes nothing.
        expect((await f.post(`/console/admin/sites/${siteId}`, { ...edit, name: "Renamed only" })).status).to.equal(303);
        expect(await states()).to.have.length(2);

        const over = await f.post(`/console/admin/sites/${siteId}`, { ...edit, reservation_spots: "9" });
        expect(over.status).to.equal(400);
        expect(textOf(over.html, "err-reservation_spots")).to.match(/together exceed the capacity \(20\)/);
        expect(valueOf(over.html, "reservation_spots")).to.equal("9");
        const permitsOver = await f.post(`/console/admin/sites/${siteId}`, { ...edit, permit_spots: "21", reservation_spots: "0" });
        expect(textOf(permitsOver.html, "err-permit_spots")).to.match(/at most the capacity \(20\)/);
        const notWhole = await f.post(`/console/admin/sites/${siteId}`, { ...edit, permit_spots: "2.5", reservation_spots: "-1" });
        expect(notWhole.status).to.equal(400);
        for (const field of ["permit_spots", "reservation_spots"]) expect(textOf(notWhole.html, `err-${field}`)).to.match(/whole number/);
        expect(await getSiteAdmin(db.sql, siteId)).to.include({ name: "Renamed only", capacity: 20, permitSpots: 12, reservationSpots: 8 });
        expect(await states()).to.have.length(2);

        const refusedSite = siteOf();
        const refusedAdd = await addSite(refusedSite, { capacity: "10", permit_spots: "8", reservation_spots: "3" });
        expect(refusedAdd.status).to.equal(400);
        expect(refusedAdd.html).to.include('id="err-reservation_spots"');
        expect((await f.get(`/console/admin/sites/${refusedSite}`)).status).to.equal(404);
        // Without a capacity nothing bounds them.
        expect((await f.post(`/console/admin/sites/${siteId}`, { ...edit, capacity: "", permit_spots: "50" })).status).to.equal(303);
        expect((await states()).at(-1)).to.not.have.property("capacity");
      } finally {
        f.deps.wake = wake;
      }
    });

    it("adds a lane as the site names it (the name keeps its case, the id is lowercase), renames it, refuses a duplicate", async () => {
      const siteId = siteOf();
      await addSite(siteId);
      const r = await f.post(`/console/admin/sites/${siteId}/lanes`, { lane_id: "Sortie.A", kind: "exit" });
      expect(r.status).to.equal(303);
      const [lane] = await listLanes(db.sql, siteId);
      expect(lane).to.include({ laneId: "sortie-a", name: "Sortie.A", kind: "exit" });
      const page = await f.get(`/console/admin/sites/${siteId}/lanes`);
      expect(page.html).to.include('data-lane="sortie-a"').and.include(">Sortie.A<");
      const dup = await f.post(`/console/admin/sites/${siteId}/lanes`, { lane_id: "SORTIE:A", kind: "exit" });
      expect(dup.status).to.equal(409);
      expect(dup.html).to.include('id="err-lane_id"');
      const ren = await f.post(`/console/admin/sites/${siteId}/lanes/sortie-a`, { name: "Sortie A (Rivoli)", kind: "entry" });
      expect(ren.status).to.equal(303);
      expect((await listLanes(db.sql, siteId))[0]).to.include({ laneId: "sortie-a", name: "Sortie A (Rivoli)", kind: "entry" });
      const empty = await f.post(`/console/admin/sites/${siteId}/lanes/sortie-a`, { name: " ", kind: "exit" });
      expect(empty.status).to.equal(400);
      expect(empty.html).to.include('id="err-name"');
      expect((await f.post(`/console/admin/sites/${siteId}/lanes/nope`, { name: "x", kind: "exit" })).status).to.equal(404);
      expect((await findAuditEntries(db.sql, { kind: "lane.updated" })).some((a) => (a.payload as { site_id: string }).site_id === siteId)).to.equal(true);
    });

    it("previews a new version: each sample priced exactly as priceStay prices it, beside the version in force, nothing written", async () => {
      const siteId = await siteWithTariff();
      const page = await f.get(`/console/admin/sites/${siteId}/tariffs`);
      expect(page.html).to.include('data-version="1"');
      const key = valueOf(page.html, "key") as string;
      expect(key).to.match(/^[A-Za-z0-9_-]{16,64}$/);
      const doc = structuredClone(parisCentreDocument) as unknown as { elements: { price_components: { price_per_step: number }[] }[] };
      doc.elements[0].price_components[0].price_per_step = 150;
      const form = { key, base_version: "1", document: JSON.stringify(doc, null, 2), effective_from: "2031-03-10T08:00", sample_entry: "2031-03-14T18:30", sample_exit: "2031-03-15T01:10" };
      const r = await f.post(`/console/admin/sites/${siteId}/tariffs/preview`, form);
      expect(r.status).to.equal(200);
      const eff = new Date("2031-03-10T07:00:00Z"); // 08:00 in Paris (winter time)
      const next = parseTariff({ ...doc, version: 2, effective_from: eff.toISOString() });
      const current = parseTariff(parisCentreDocument);
      const samples = [...sampleStays("Europe/Paris", eff), { key: "custom", entry: new Date("2031-03-14T17:30:00Z"), exit: new Date("2031-03-15T00:10:00Z") }];
      expect(samples.map((s) => s.key)).to.deep.equal(["10min", "45min", "2h", "5h30", "overnight", "26h", "custom"]);
      for (const s of samples) {
        const row = new RegExp(`<tr data-sample="${s.key}">([\\s\\S]*?)</tr>`).exec(r.html)?.[1] ?? "";
        const amounts = [...row.matchAll(/data-amount="(\d+)"/g)].map((m) => Number(m[1]));
        const mine = priceStay({ tariff: next, entry: s.entry, exit: s.exit }).amount;
        const before = priceStay({ tariff: current, entry: s.entry, exit: s.exit }).amount;
        expect(amounts, s.key).to.deep.equal([mine, before]);
        expect(row).to.include(`data-diff="${mine - before}"`);
      }
      expect(r.html).to.match(/<tr data-sample="2h">[\s\S]*?data-diff="120"/); // the first hour, 4 quarters at +0.30 €
      expect(valueOf(r.html, "key")).to.equal(key); // the same form, its values kept
      expect(await listTariffs(db.sql, siteId)).to.have.length(1);
    });

    it("an invalid document: every error listed with its path (400), the text kept, nothing written nor audited", async () => {
      const siteId = await siteWithTariff();
      const doc = structuredClone(parisCentreDocument) as unknown as Record<string, unknown> & { elements: { price_components: { price_per_step: unknown }[] }[] };
      doc.elements[1].price_components[0].price_per_step = 1.5;
      doc.currency = "USD";
      delete doc.name;
      const text = JSON.stringify(doc);
      for (const action of ["preview", "publish"]) {
        const r = await f.post(`/console/admin/sites/${siteId}/tariffs/${action}`, { key: `k${rnd()}${rnd()}${rnd()}${rnd()}`, base_version: "1", document: text });
        expect(r.status, action).to.equal(400);
        const table = /id="tariff-errors"[\s\S]*?<\/table>/.exec(r.html)?.[0] ?? "";
        const paths = [...table.matchAll(/<code>([^<]*)<\/code>/g)].map((m) => m[1]);
        expect(paths, action).to.include.members(["elements[1].price_components[0].price_per_step", "name", "currency"]);
        expect(r.html).to.include('id="err-document"');
        expect(r.html).to.include("&quot;price_per_step&quot;:1.5");
      }
      const notJson = await f.post(`/console/admin/sites/${siteId}/tariffs/preview`, { key: "k".repeat(20), base_version: "1", document: "{ not json" });
      expect(notJson.status).to.equal(400);
      expect(notJson.html).to.include("<code>(document)</code>");
      const badTime = await f.post(`/console/admin/sites/${siteId}/tariffs/preview`, { key: "k".repeat(20), base_version: "1", document: JSON.stringify(parisCentreDocument), effective_from: "tomorrow" });
      expect(badTime.status).to.equal(400);
      expect(badTime.html).to.include('id="err-effective_from"');
      expect(await listTariffs(db.sql, siteId)).to.have.length(1);
      expect((await findAuditEntries(db.sql, { kind: "tariff.published" })).filter((a) => (a.payload as { site_id: string }).site_id === siteId)).to.have.length(0);
    });

    it("publishes version n + 1 from a chosen time, audited with the admin and the version; a double submit publishes once", async () => {
      const siteId = await siteWithTariff();
      const page = await f.get(`/console/admin/sites/${siteId}/tariffs`);
      const form = { key: valueOf(page.html, "key") as string, base_version: valueOf(page.html, "base_version") as string, document: JSON.stringify(parisCentreDocument), effective_from: "2031-01-01T00:00" };
      expect(form.base_version).to.equal("1");
      const [a, b] = await Promise.all([f.post(`/console/admin/sites/${siteId}/tariffs/publish`, form), f.post(`/console/admin/sites/${siteId}/tariffs/publish`, form)]);
      expect([a.status, b.status]).to.deep.equal([303, 303]);
      expect([a.location, b.location].sort()).to.deep.equal([`/console/admin/sites/${siteId}/tariffs?notice=tariff_published`, `/console/admin/sites/${siteId}/tariffs?notice=tariff_replayed`]);
      const third = await f.post(`/console/admin/sites/${siteId}/tariffs/publish`, form);
      expect(third.location).to.match(/tariff_replayed$/);
      const versions = await listTariffs(db.sql, siteId);
      expect(versions.map((v) => v.version)).to.deep.equal([1, 2]);
      expect(versions[1].effectiveFrom.toISOString()).to.equal("2030-12-31T23:00:00.000Z");
      expect(versions[1].document).to.include({ version: 2, effective_from: "2030-12-31T23:00:00.000Z" });
      const audits = (await findAuditEntries(db.sql, { kind: "tariff.published" })).filter((x) => (x.payload as { site_id: string }).site_id === siteId);
      expect(audits).to.have.length(1);
      expect(audits[0].payload).to.include({ version: 2, operator: f.users.admin.username, operator_id: f.users.admin.operatorId, idempotency_key: form.key, tariff_id: versions[1].tariffId });
      // A form opened before that publication (base version 1, another key) is refused, not published over it.
      const stale = await f.post(`/console/admin/sites/${siteId}/tariffs/publish`, { ...form, key: "another-key-0123456789" });
      expect(stale.status).to.equal(409);
      expect(textOf(stale.html, "err-document")).to.match(/version 2 was published/);
      const listed = await f.get(`/console/admin/sites/${siteId}/tariffs`);
      expect(listed.html).to.include('data-version="2"');
      expect(valueOf(listed.html, "base_version")).to.equal("2");
      // Now, the default: in force at once.
      const now = await f.post(`/console/admin/sites/${siteId}/tariffs/publish`, { ...form, key: "now-key-0123456789abc", base_version: "2", effective_from: "" });
      expect(now.status).to.equal(303);
      const v3 = (await listTariffs(db.sql, siteId))[2];
      expect(v3.version).to.equal(3);
      expect(Math.abs(v3.effectiveFrom.getTime() - Date.now())).to.be.below(60_000);
      const past = await f.post(`/console/admin/sites/${siteId}/tariffs/publish`, { ...form, key: "past-key-0123456789ab", base_version: "3", effective_from: "2020-01-01T00:00" });
      expect(past.status).to.equal(400);
      expect(past.html).to.include('id="err-effective_from"');
    });

    it("permit plans and the access list through their flows: saved, audited, refused per field", async () => {
      const siteId = siteOf();
      await addSite(siteId);
      const base = `/console/admin/sites/${siteId}/permits`;
      const ok = await f.post(`${base}/plans`, { plan_id: `${siteId}-m`, name: "Mensuel", period: "month", amount: "8900", currency: "EUR", benefit: "free", max_permits: "30", active: "on" });
      expect(ok.status).to.equal(303);
      expect((await listPermitPlans(db.sql, siteId)).map((p) => p.planId)).to.deep.equal([`${siteId}-m`]);
      expect((await findAuditEntries(db.sql, { kind: "permit_plan.set" })).some((a) => (a.payload as { site_id: string }).site_id === siteId)).to.equal(true);
      const bad = await f.post(`${base}/plans`, { plan_id: "x", name: "Remise", period: "month", amount: "12.5", currency: "EUR", benefit: "free", max_permits: "3" });
      expect(bad.status).to.equal(400);
      expect(bad.html).to.include('id="err-amount"');
      expect(valueOf(bad.html, "amount")).to.equal("12.5");
      const noPercent = await f.post(`${base}/plans`, { plan_id: "x", name: "Remise", period: "month", amount: "1250", currency: "EUR", benefit: "discount", max_permits: "3" });
      expect(noPercent.status).to.equal(400);
      expect(noPercent.html).to.include('id="err-discount_percent"');
      const usd = await f.post(`${base}/plans`, { plan_id: "x", name: "Dollars", period: "month", amount: "1250", currency: "USD", benefit: "free", max_permits: "3" });
      expect(usd.status).to.equal(400);
      expect(textOf(usd.html, "err-currency")).to.match(/site's currency EUR/);
      expect(await listPermitPlans(db.sql, siteId)).to.have.length(1);
      const added = await f.post(`${base}/access`, { kind: "badge", badge_uid: "04:a1:b2:c3", label: "Gardien", subscriber: "on" });
      expect(added.status).to.equal(303);
      expect((await getAccessList(db.sql, siteId)).entries.map((e) => e.entryId)).to.deep.equal(["04A1B2C3"]);
      const badPin = await f.post(`${base}/access`, { kind: "pin", pin: "12", label: "Livreur" });
      expect(badPin.status).to.equal(400);
      expect(badPin.html).to.include('id="err-pin"');
      expect((await f.post(`${base}/access/04A1B2C3/revoke`, {})).status).to.equal(303);
      expect((await getAccessList(db.sql, siteId)).entries).to.have.length(0);
      expect((await findAuditEntries(db.sql, { kind: "access.revoked" })).some((a) => (a.payload as { operator: string }).operator === f.users.admin.username)).to.equal(true);
    });

    it("operators: added with a password or a generated one shown once, role changed, disabled; the last admin is kept", async () => {
      const name = `op-${rnd()}`;
      const set = await f.post("/console/admin/operators", { username: name, role: "viewer", password: "a long password 1" });
      expect(set.status).to.equal(303);
      const made = await findOperatorByUsername(db.sql, name);
      expect(made).to.include({ role: "viewer", disabled: false });
      expect((await f.deps.auth.login(name, "a long password 1", "127.0.0.9")).ok).to.equal(true);
      const gen = await f.post("/console/admin/operators", { username: `gen-${name}`, role: "operator", password: "" });
      expect(gen.status).to.equal(201);
      const password = textOf(gen.html, "initial-password") as string;
      expect(password).to.have.length.above(15);
      expect((await f.deps.auth.login(`gen-${name}`, password, "127.0.0.9")).ok).to.equal(true);
      expect((await f.get("/console/admin/operators")).html).to.not.include(password);
      const short = await f.post("/console/admin/operators", { username: `s-${name}`, role: "viewer", password: "short" });
      expect(short.status).to.equal(400);
      expect(short.html).to.include('id="err-password"');
      expect((await f.post("/console/admin/operators", { username: name, role: "viewer", password: "" })).status).to.equal(409);

      const id = String(made?.operatorId);
      expect((await f.post(`/console/admin/operators/${id}`, { action: "role", role: "operator" })).status).to.equal(303);
      expect(await findOperatorByUsername(db.sql, name)).to.include({ role: "operator" });
      expect((await f.post(`/console/admin/operators/${id}`, { action: "disable" })).status).to.equal(303);
      expect(await findOperatorByUsername(db.sql, name)).to.include({ disabled: true });
      expect((await f.deps.auth.login(name, "a long password 1", "127.0.0.9")).ok).to.equal(false);
      const kinds = new Set((await findAuditEntries(db.sql, { kind: "operator.role_changed" })).concat(await findAuditEntries(db.sql, { kind: "operator.disabled" })).filter((a) => (a.payload as { username: string }).username === name).map((a) => a.kind));
      expect([...kinds].sort()).to.deep.equal(["operator.disabled", "operator.role_changed"]);
      expect((await f.post(`/console/admin/operators/${id}`, { action: "role", role: "boss" })).status).to.equal(400);
      expect((await f.post("/console/admin/operators/999999", { action: "disable" })).status).to.equal(404);
    });

    it("the last enabled admin cannot be demoted nor disabled (409)", async function () {
      const admins = (await db.sql<{ operatorId: number }[]>`SELECT operator_id FROM operators WHERE role = 'admin' AND NOT disabled`).map((r) => Number(r.operatorId));
      if (admins.length !== 1) this.skip(); // another suite's admin shares this database
      const r = await f.post(`/console/admin/operators/${f.users.admin.operatorId}`, { action: "disable" });
      expect(r.status).to.equal(409);
      const d = await f.post(`/console/admin/operators/${f.users.admin.operatorId}`, { action: "role", role: "viewer" });
      expect(d.status).to.equal(409);
      expect(await findOperatorByUsername(db.sql, f.users.admin.username)).to.include({ role: "admin", disabled: false });
    });

    it("every admin route is guarded for admins only: viewers and operators get 403, nobody logged in goes to the login, a foreign Origin is refused", async () => {
      const siteId = await siteWithTariff();
      const routes = adminRoutes(f);
      expect(routes.length).to.be.at.least(17);
      const fill = (p: string) => p.replace(":site", siteId).replace(":lane", "l1").replace(":permit", "pmt_abcdefgh12").replace(":entry", "04A1B2C3").replace(":id", String(f.users.viewer.operatorId));
      for (const r of routes) {
        expect(r.roles, `${r.method} ${r.path}`).to.deep.equal(["admin"]);
        for (const role of ["viewer", "operator"] as const) {
          const got = r.method === "POST" ? await f.post(fill(r.path), { name: "x", role: "admin", action: "disable" }, role) : await f.get(fill(r.path), role);
          expect(got.status, `${role} ${r.method} ${r.path}`).to.equal(403);
          expect(got.html).to.include('id="refusal"');
        }
        const anon = await fetch(`${f.base}${fill(r.path)}`, { method: r.method, redirect: "manual", headers: r.method === "POST" ? { Origin: f.base } : {} });
        expect(anon.status, `anonymous ${r.method} ${r.path}`).to.equal(303);
        expect(anon.headers.get("location")).to.match(/^\/login\?next=/);
      }
      expect(await findOperatorByUsername(db.sql, f.users.viewer.username)).to.include({ role: "viewer", disabled: false });
      const foreign = await f.post("/console/admin/sites", { site_id: siteOf(), name: "x", time_zone: "Europe/Paris", currency: "EUR" }, "admin", { Origin: "http://evil.example" });
      expect(foreign.status).to.equal(403);
    });
  });
}
