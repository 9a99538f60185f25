/** What the entry scenarios share (not a scenario file: the runner loads *.scenario.ts only). */
import { expect } from "chai";
import { getSession } from "../../cloud/db/index";
import { siteOccupancy } from "../../cloud/db/site-status";
import { getSiteAdmin } from "../../cloud/db/site-admin";
import { DEMO_SITE } from "../../cloud/server/seed";
import { ticketQr } from "../../contracts/ticket";
import type { LaneSet } from "../harness/env";
import type { PrintedTicket } from "../harness/entry-verbs";
import { payOnCardPage } from "./lib";


/** The site's occupancy as the cloud counts it. */
export async function occupied(h: LaneSet): Promise<number> {
  const o = await siteOccupancy(h.cloud.db.sql, DEMO_SITE.siteId);
  if (!o) throw new Error("the demo site has no occupancy");
  return o.occupied;
}

/** A car takes a ticket at the entry (its plate read or not) and drives in; returns the ticket, the session and the entry message. */
export async function ticketEntry(h: LaneSet, entry: string, opts: { readPlate?: boolean; plate?: string } = {}): Promise<{ ticket: PrintedTicket; sessionId: string; plate: string; entry: Record<string, unknown> }> {
  const plate = await h.carAtEntry(entry, { readPlate: opts.readPlate ?? false, ...(opts.plate ? { plate: opts.plate } : {}) });
  // A plate read makes the entry ticketless: the driver who wants a ticket presses the key first.
  await h.waitEntryPhase(entry, ["identifying", "awaiting_cloud"]);
  const before = h.printed(entry).length;
  h.pressTicket(entry);
  const ticket = await h.ticketPrinted(entry, before);
  expect(ticket.qr).to.equal(ticketQr(ticket.ticketId));
  expect(ticket.code).to.match(/^[0-9]{8}$/);
  const msg = await h.carEntered(entry);
  expect(msg.identity).to.deep.equal({ method: "ticket", value: ticket.ticketId });
  const sessionId = await sessionOfEntry(h, msg);
  return { ticket, sessionId, plate, entry: msg };
}

/** The cloud's session for a parking/entry message (named in it, or found by its ticket / identity). */
export async function sessionOfEntry(h: LaneSet, msg: Record<string, unknown>): Promise<string> {
  const identity = msg.identity as { value: string };
  let sessionId: string | undefined;
  await h.waitUntil(async () => {
    sessionId = typeof msg.session_id === "string" ? ((await getSession(h.cloud.db.sql, msg.session_id).catch(() => undefined)) ? msg.session_id : undefined) : await h.sessionOf(identity.value);
    return sessionId !== undefined;
  }, 10_000, `the cloud's session for the entry of ${identity.value}`);
  return sessionId!;
}


/** The demo merchant issues a one-use validation code on its page (the page's link is its credential). */
export async function merchantCode(h: LaneSet): Promise<string> {
  const page = h.cloud.demoMerchantUrl;
  if (!page) throw new Error("the run's cloud did not seed the demo merchant (its page link is shown once, at the first start)");
  h.step("the shop issues a validation code on its merchant page");
  const form = await (await fetch(`${page}?lang=en`)).text();
  const key = /name="key" value="([^"]+)"/.exec(form)?.[1];
  if (!key) throw new Error("the merchant page has no issue form");
  const issued = await fetch(`${page}/codes?lang=en`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ key }).toString() });
  const html = await issued.text();
  expect(issued.status, html.slice(0, 300)).to.equal(200);
  const code = /id="issued-code">([A-Z0-9]+)</.exec(html)?.[1];
  if (!code) throw new Error("the merchant page shows no issued code");
  return code;
}

/** A local "YYYY-MM-DDTHH:MM" in the site's zone (what a datetime-local field sends). */
function parisLocal(ms: number): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Paris", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/** A driver books and prepays a stay on /reservations (the card page of the Stripe emulator); returns its code once paid. */
export async function bookReservation(h: LaneSet, plate: string, fromMs: number, toMs: number): Promise<{ reservationId: string; code: string }> {
  h.step(`driver books a space for ${plate} on /reservations`);
  const form = await fetch(`${h.cloud.url}/reservations/${DEMO_SITE.siteId}?lang=en`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ plate, from: parisLocal(fromMs), to: parisLocal(toMs) }).toString() });
  if (!form.ok) throw new Error(`reservation form answered ${form.status}: ${(await form.text()).slice(0, 300)}`);
  const paid = await payOnCardPage(form.url);
  const reservationId = /\/reservations\/[a-z0-9-]+\/(rsv_[A-Za-z0-9_-]+)/.exec(paid.url)?.[1];
  if (!reservationId) throw new Error(`the card page did not come back to the reservation (${paid.url})`);
  let code = "";
  await h.waitUntil(async () => {
    const page = await (await fetch(`${h.cloud.url}/reservations/${DEMO_SITE.siteId}/${reservationId}?lang=en`)).text();
    code = /id="code">([A-Z0-9]+)</.exec(page)?.[1] ?? "";
    return code !== "";
  }, 15_000, "the reservation confirmed (paid)");
  return { reservationId, code };
}

/** The site's spaces set by an admin on the console's site form: capacity and the spaces held back for permits and reservations. */
export async function setSpaces(h: LaneSet, spaces: { capacity: number; permit_spots: number; reservation_spots: number }): Promise<void> {
  const admin = h.cloud.firstAdmin;
  if (!admin) throw new Error("the cloud has no first admin to log in with");
  h.step(`admin sets capacity ${spaces.capacity}, ${spaces.permit_spots} held for permits, ${spaces.reservation_spots} for reservations`);
  const login = await fetch(`${h.cloud.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
  const { token } = (await login.json()) as { token: string };
  const s = await getSiteAdmin(h.cloud.db.sql, DEMO_SITE.siteId);
  const legal = (s.legal ?? {}) as Record<string, string>;
  const fields = { name: s.name, time_zone: s.timeZone, latitude: String(s.latitude ?? ""), longitude: String(s.longitude ?? ""), company: legal.company ?? "", address: legal.address ?? "", siret: legal.siret ?? "", vat_id: legal.vat_id ?? "", capacity: String(spaces.capacity), permit_spots: String(spaces.permit_spots), reservation_spots: String(spaces.reservation_spots) };
  const r = await fetch(`${h.cloud.url}/console/admin/sites/${DEMO_SITE.siteId}`, { method: "POST", redirect: "manual", headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
  expect(r.status, (await r.text()).slice(0, 400)).to.equal(303);
}
