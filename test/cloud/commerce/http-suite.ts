/**
 * The pages of issue 18's commerce on a running cloud (embedded PGlite, and PostgreSQL +
 * Mosquitto): a merchant's page (issue a code with its QR, validate a ticket, replays, bad input
 * naming the field), the pay page's validation-code form (the fee halved under a fresh link, a
 * used code refused clearly), the admin's merchants screen, and a reservation booked and paid
 * through the Stripe emulator with the prepay path, then honoured at the entry.
 */
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { createEntrySession, type Json } from "../../../cloud/db/index";
import { createMerchant, getMerchant, type MerchantRow } from "../../../cloud/db/merchants";
import { getPrepayment } from "../../../cloud/db/prepayments";
import { getReservation } from "../../../cloud/db/reservations";
import { reservationForEntry } from "../../../cloud/flows/reservations";
import { SiteClient, eventId, login, until, type TestCloud } from "../server/helpers";

const SRC = "test-gateway";
const H = 3_600_000;
const plateOf = () => `H${randomBytes(4).toString("hex").toUpperCase()}`;

/** "YYYY-MM-DDTHH:MM" of an instant on the Paris wall clock (the test sites' zone). */
function parisLocal(ms: number): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

export function commerceHttpSuite(title: string, start: (ctx: Mocha.Context) => Promise<TestCloud>): void {
  describe(title, function () {
    this.timeout(60_000);
    let t: TestCloud;
    let base: string;
    let site: SiteClient;
    let shop: { merchant: MerchantRow; token: string };

    before(async function () {
      this.timeout(180_000);
      t = await start(this);
      base = t.cloud.url;
      site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
      shop = await createMerchant(t.cloud.db.sql, { siteId: t.siteId, name: "Librairie du coin", kind: "shop", rule: "HALF", budgetMinor: 50_000 });
    });
    after(async () => {
      await site?.close();
      await t?.close();
    });

    const get = async (path: string, headers: Record<string, string> = {}) => {
      const r = await fetch(`${base}${path}`, { redirect: "manual", headers });
      return { status: r.status, location: r.headers.get("location"), html: await r.text() };
    };
    const post = async (path: string, form: Record<string, string>, headers: Record<string, string> = {}) => {
      const r = await fetch(`${base}${path}`, { method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(form).toString() });
      return { status: r.status, location: r.headers.get("location"), html: await r.text() };
    };
    const textOf = (html: string, id: string) => new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html)?.[1];

    async function enter(plate: string, entryTs: Date): Promise<string> {
      const r = await t.cloud.db.tx((tx) => createEntrySession(tx, { siteId: t.siteId, laneId: "e1", identity: { method: "plate", value: plate }, entryTs, sessionId: `s${randomBytes(8).toString("hex")}` }));
      return r.session.sessionId;
    }
    async function payReq(sessionId: string, after = 0): Promise<Record<string, Json>> {
      const r = await until(async () => site.received.filter((x) => x.key === "paymentReq" && x.payload.session_id === sessionId)[after], 15_000, "the payment request");
      return r.payload as Record<string, Json>;
    }

    describe("the merchant's page", () => {
      it("shows the merchant, its rule and budget; an unknown link is a 404 page", async () => {
        const r = await get(`/merchant/${shop.token}?lang=en`);
        expect(r.status).to.equal(200);
        expect(r.html).to.include("Librairie du coin");
        expect(textOf(r.html, "rule")).to.equal("Merchant validation −50 %");
        expect(textOf(r.html, "budget")).to.equal("€500.00");
        expect(r.html).not.to.match(/^\s*[{[]/);
        const bad = await get(`/merchant/${"x".repeat(32)}`);
        expect(bad.status).to.equal(404);
        expect(bad.html).to.match(/Lien inconnu|Unknown or disabled link/);
      });

      it("issues a one-use code shown with its SPV1 QR; the same form posted twice gives the same code", async () => {
        const key = randomBytes(12).toString("base64url");
        const a = await post(`/merchant/${shop.token}/codes?lang=fr`, { key });
        expect(a.status).to.equal(200);
        const code = textOf(a.html, "issued-code") as string;
        expect(code).to.match(/^[A-Z0-9]{12}$/);
        expect(a.html).to.match(/<div id="issued-qr" class="qr"><svg/);
        const b = await post(`/merchant/${shop.token}/codes?lang=fr`, { key });
        expect(textOf(b.html, "issued-code")).to.equal(code);
        const bad = await post(`/merchant/${shop.token}/codes`, { key: "!" });
        expect(bad.status).to.equal(400);
        expect(bad.html).to.include("key:");
      });

      it("validates a stay by plate once; bad input names the field, never a 5xx", async () => {
        const plate = plateOf();
        await enter(plate, new Date(Date.now() - 3 * H));
        const bad = await post(`/merchant/${shop.token}/validate?lang=en`, { ticket: "??" });
        expect(bad.status).to.equal(400);
        expect(textOf(bad.html, "error")).to.match(/^ticket: /);
        const none = await post(`/merchant/${shop.token}/validate?lang=en`, { ticket: plateOf() });
        expect(none.status).to.equal(404);
        expect(textOf(none.html, "error")).to.match(/^ticket: no stay/);
        const ok = await post(`/merchant/${shop.token}/validate?lang=en`, { ticket: plate.toLowerCase() });
        expect(ok.status, ok.html).to.equal(200);
        expect(textOf(ok.html, "notice")).to.match(/^Ticket validated: €\d+\.\d\d less/);
        const again = await post(`/merchant/${shop.token}/validate?lang=en`, { ticket: plate });
        expect(again.status).to.equal(409);
        expect(textOf(again.html, "error")).to.match(/Already validated/);
        const many = await post(`/merchant/${shop.token}/validate`, { ticket: "a", extra1: "b", extra2: "c" });
        expect(many.status).to.be.within(400, 499);
      });
    });

    describe("the pay page's validation form", () => {
      it("HALF halves the fee under a fresh pay link; the same code again is refused clearly; bad input names the field", async () => {
        const plate = plateOf();
        const sessionId = await enter(plate, new Date(Date.now() - 2 * H - 7 * 60_000));
        await site.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
        const first = await payReq(sessionId);
        const full = first.amount as number;
        const link = new URL(first.pay_url as string);
        const path = `${link.pathname}${link.search}`;
        const page = await get(`${path}&lang=en`);
        expect(page.status).to.equal(200);
        expect(page.html).to.include('id="validation"');

        const malformed = await post(`${link.pathname}/validate${link.search}&lang=en`, { code: "no!" });
        expect(malformed.status).to.equal(400);
        expect(textOf(malformed.html, "validation-error")).to.match(/^code: /);
        const unknown = await post(`${link.pathname}/validate${link.search}&lang=en`, { code: "ZZZZZZZZZZZZ" });
        expect(unknown.status).to.equal(409);
        expect(textOf(unknown.html, "validation-error")).to.match(/^code: Unknown code/);

        const code = textOf((await post(`/merchant/${shop.token}/codes`, { key: randomBytes(12).toString("base64url") })).html, "issued-code") as string;
        const applied = await post(`${link.pathname}/validate${link.search}&lang=en`, { code: `SPV1.${code}` });
        expect(applied.status, applied.html).to.equal(303);
        const second = await payReq(sessionId, 1);
        expect(second.amount).to.equal(full - Math.round(full / 2));
        const next = await get(new URL(applied.location as string, base).pathname + new URL(applied.location as string, base).search);
        expect(next.status).to.equal(200);
        expect(textOf(next.html, "amount")).to.equal(`€${((second.amount as number) / 100).toFixed(2)}`);
        expect((await get(`${path}&lang=en`)).status).to.equal(404); // the old link's token went with the old quote

        const nextLink = new URL(applied.location as string, base);
        const reused = await post(`${nextLink.pathname}/validate${nextLink.search}`, { code });
        expect(reused.status).to.equal(409);
        expect(textOf(reused.html, "validation-error")).to.match(/already used/i);
        expect((await getMerchant(t.cloud.db.sql, shop.merchant.merchantId)).spentMinor).to.be.greaterThan(0);
      });
    });

    describe("the admin's merchants screen", () => {
      it("creates a merchant (link shown once), refuses a rule the tariff lacks naming the field, reports the cost per merchant", async () => {
        const auth = { Authorization: `Bearer ${await login(base, t.admin.username, t.admin.password)}` };
        const list = await get(`/console/merchants?site=${t.siteId}&lang=en`, auth);
        expect(list.status, list.html).to.equal(200);
        expect(list.html).to.include("Librairie du coin");
        expect(list.html).to.include('id="total-cost"');
        const badRule = await post("/console/merchants?lang=en", { site: t.siteId, name: "Cinéma", kind: "cinema", rule: "NOPE", budget: "100" }, auth);
        expect(badRule.status).to.equal(400);
        expect(badRule.html).to.match(/id="err-rule"[^>]*>rule: NOPE is not a validation/);
        const badBudget = await post("/console/merchants?lang=en", { site: t.siteId, name: "Cinéma", kind: "cinema", rule: "CINEMA-3H", budget: "ten" }, auth);
        expect(badBudget.status).to.equal(400);
        expect(badBudget.html).to.include('id="err-budget"');
        const ok = await post("/console/merchants?lang=en", { site: t.siteId, name: "Cinéma Lux", kind: "cinema", rule: "cinema-3h", budget: "250.50" }, auth);
        expect(ok.status, ok.html).to.equal(200);
        const link = textOf(ok.html, "merchant-link") as string;
        expect(link, "the full address, to pass on to the merchant").to.match(/^https?:\/\/[^/]+\/merchant\/[A-Za-z0-9_-]{32}$/);
        expect((await get(new URL(link).pathname)).status).to.equal(200);
        expect((await get(`/console/merchants?from=yesterday`, auth)).status).to.equal(400);
        expect((await get(`/console/merchants`)).status).to.be.oneOf([302, 303, 401]);
      });
    });

    describe("reservations", () => {
      it("book and pay through the emulator: the QR and window once paid, honoured at the entry; bad input names the field", async () => {
        const form = await get(`/reservations/${t.siteId}?lang=en`);
        expect(form.status).to.equal(200);
        expect(form.html).to.include('name="from"');
        const bad = await post(`/reservations/${t.siteId}?lang=en`, { plate: "", from: "tomorrow", to: "" });
        expect(bad.status).to.equal(400);
        expect(bad.html).to.include("body.from:");
        const inverted = await post(`/reservations/${t.siteId}?lang=en`, { from: parisLocal(Date.now() + 3 * H), to: parisLocal(Date.now() + 2 * H) });
        expect(inverted.status).to.equal(400);
        expect(inverted.html).to.include("body.to:");
        expect((await get(`/reservations/no-such-site`)).status).to.equal(404);

        const plate = plateOf();
        const from = Date.now() + 60_000;
        const booked = await post(`/reservations/${t.siteId}?lang=en`, { plate, from: parisLocal(from), to: parisLocal(from + 2 * H) });
        expect(booked.status, booked.html).to.equal(303);
        expect(booked.location).to.match(/\/emulator\/pay\//);
        const [row] = await t.cloud.db.sql<{ reservationId: string; prepaymentId: string }[]>`SELECT reservation_id, prepayment_id FROM reservations WHERE plate = ${plate}`;
        const r0 = await getReservation(t.cloud.db.sql, row.reservationId);
        expect(r0.state).to.equal("pending");
        expect(r0.amount).to.be.greaterThan(0);
        const pending = await get(`/reservations/${t.siteId}/${row.reservationId}?lang=en`);
        expect(pending.html).to.include('data-result="reservation-pending"');
        expect(pending.html).not.to.include('id="qr"');

        const p = await getPrepayment(t.cloud.db.sql, row.prepaymentId);
        await t.cloud.stripe.paymentIntents.confirm(p.providerRef as string, { payment_method: "pm_card_visa" });
        await until(async () => (await getPrepayment(t.cloud.db.sql, p.prepaymentId)).state === "paid", 15_000, "the prepayment paid by the verified webhook");
        const paid = await get(`/reservations/${t.siteId}/${row.reservationId}?lang=en`);
        expect(paid.html).to.include('data-result="reservation-paid"');
        expect(paid.html).to.match(/<div id="qr" class="qr"><svg/);
        expect(textOf(paid.html, "code")).to.equal(r0.code);
        const at = new Date(from);
        const byPlate = await t.cloud.db.tx((tx) => reservationForEntry(tx, t.siteId, { method: "plate", value: plate }, at));
        expect(byPlate).to.deep.equal({ kind: "ok", reservationId: row.reservationId, plate });
        const byQr = await t.cloud.db.tx((tx) => reservationForEntry(tx, t.siteId, { method: "reservation", value: `SPR1.${r0.code}` }, at));
        expect(byQr.kind).to.equal("ok");
        expect((await get(`/reservations/${t.siteId}/rsv_${"A".repeat(24)}`)).status).to.equal(404);
      });
    });
  });
}
