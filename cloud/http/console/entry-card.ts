/**
 * The live site page's entries card (issue 18): the occupancy per pool (transient, permits,
 * reservations) against the capacity and the spaces held back, and for operators the entry
 * actions as plain forms — a count adjust, an anti-passback clear (./entry-actions.ts) and a lost
 * ticket declared at an exit lane (./lost-ticket.ts). Each needs a reason, is audited with the
 * operator, and comes back to this page.
 */
import { randomBytes } from "node:crypto";
import { esc, type Lang } from "../pages";
import type { SiteSnapshot } from "../../flows/console-views";
import { transientFree } from "../../db/occupancy";

const FR = {
  title: "Entrées",
  pool: "Compteur", transient: "visiteurs (tickets, plaques)", permit: "abonnés", reservation: "réservations",
  occupied: "présents", capacity: "Capacité", held: "places réservées aux abonnés / réservations", free: "Places libres pour les tickets",
  adjust: "Corriger le compteur", adjustHelp: "Un véhicule compté qui n'est plus là (−1), ou entré sans être compté (+1). Le compteur ne descend jamais sous 0.",
  delta: "Écart (+1 / −1)", reason: "Motif",
  passback: "Lever l'anti-retour", passbackHelp: "Le badge ou la plaque est encore compté à l'intérieur (sortie non enregistrée) : sa session est signalée et retirée du compteur, il peut entrer de nouveau.",
  method: "Identifiant", value: "Valeur", apply: "Appliquer", clear: "Lever",
  lost: "Ticket perdu", lostHelp: "Le conducteur n'a plus son ticket : la voie lui demande le tarif ticket perdu — depuis l'entrée de sa voiture si la plaque correspond à un véhicule présent, sinon le forfait.",
  lane: "Voie de sortie", plate: "Plaque (si lue ou dictée)", declare: "Déclarer",
  methods: { plate: "plaque", badge: "badge", ticket: "ticket", pin: "code PIN", reservation: "réservation" },
};
type EntryTexts = typeof FR;
const EN: EntryTexts = {
  title: "Entries",
  pool: "Count", transient: "visitors (tickets, plates)", permit: "permit holders", reservation: "reservations",
  occupied: "inside", capacity: "Capacity", held: "spaces held for permits / reservations", free: "Free spaces for tickets",
  adjust: "Adjust the count", adjustHelp: "A car counted that is not there (−1), or one that came in uncounted (+1). The count never goes below 0.",
  delta: "Difference (+1 / −1)", reason: "Reason",
  passback: "Clear anti-passback", passbackHelp: "The badge or plate is still counted inside (an exit not recorded): its session is flagged and taken off the count, and it may enter again.",
  method: "Identity", value: "Value", apply: "Apply", clear: "Clear",
  lost: "Lost ticket", lostHelp: "The driver has lost the ticket: the lane asks for the lost-ticket fee — from the car's entry when the plate matches a car inside, else the fixed fee.",
  lane: "Exit lane", plate: "Plate (if read or told)", declare: "Declare",
  methods: { plate: "plate", badge: "badge", ticket: "ticket", pin: "PIN", reservation: "reservation" },
};

export function entryCard(s: SiteSnapshot, lang: Lang, canAct: boolean): string {
  const t = lang === "en" ? EN : FR;
  const site = s.site;
  const free = transientFree(site);
  const pools = (["transient", "permit", "reservation"] as const).map((p) => `<tr data-pool="${p}"><td>${esc(t[p])}</td><td class="r" data-occupied="${site.pools[p]}">${site.pools[p]}</td></tr>`).join("");
  const action = `/console/sites/${encodeURIComponent(site.siteId)}`;
  const exitLanes = s.lanes.filter((l) => l.kind === "exit").map((l) => (/^[A-Za-z0-9._:-]{1,64}$/.test(l.name) ? l.name : l.laneId));
  const forms = canAct ? `<div class="row">${adjustForm(t, action)}${passbackForm(t, action)}${exitLanes.length ? lostTicketForm(t, action, exitLanes) : ""}</div>` : "";
  return `<div class="card" id="entries"><h2>${esc(t.title)}</h2>
<table class="grid"><thead><tr><th>${esc(t.pool)}</th><th class="r">${esc(t.occupied)}</th></tr></thead><tbody>${pools}</tbody></table>
<p>${esc(t.capacity)} ${site.capacity ?? "—"} · ${esc(t.held)} ${site.permitSpots} / ${site.reservationSpots} · ${esc(t.free)} <strong id="free-for-tickets">${free ?? "—"}</strong></p>
${forms}</div>`;
}

function adjustForm(t: EntryTexts, action: string): string {
  const pools = (["transient", "permit", "reservation"] as const).map((p) => `<option value="${p}">${esc(t[p])}</option>`).join("");
  return `<form method="post" action="${action}/occupancy" id="occupancy-adjust"><h3>${esc(t.adjust)}</h3><p class="muted">${esc(t.adjustHelp)}</p>
<label for="adjust-pool">${esc(t.pool)}</label><select id="adjust-pool" name="pool">${pools}</select>
<label for="adjust-delta">${esc(t.delta)}</label><input id="adjust-delta" name="delta" type="number" step="1" required>
<label for="adjust-reason">${esc(t.reason)}</label><input id="adjust-reason" name="reason" minlength="3" maxlength="200" required>
<button class="btn" type="submit">${esc(t.apply)}</button></form>`;
}

function passbackForm(t: EntryTexts, action: string): string {
  const methods = (Object.keys(t.methods) as (keyof EntryTexts["methods"])[]).map((m) => `<option value="${m}">${esc(t.methods[m])}</option>`).join("");
  return `<form method="post" action="${action}/passback" id="passback-clear"><h3>${esc(t.passback)}</h3><p class="muted">${esc(t.passbackHelp)}</p>
<label for="passback-method">${esc(t.method)}</label><select id="passback-method" name="method">${methods}</select>
<label for="passback-value">${esc(t.value)}</label><input id="passback-value" name="value" maxlength="64" required>
<label for="passback-reason">${esc(t.reason)}</label><input id="passback-reason" name="reason" minlength="3" maxlength="200" required>
<button class="btn danger" type="submit">${esc(t.clear)}</button></form>`;
}

function lostTicketForm(t: EntryTexts, action: string, lanes: string[]): string {
  const options = lanes.map((l) => `<option value="${esc(l)}">${esc(l)}</option>`).join("");
  // The key makes a form sent twice (a double click, a reload) declare once.
  return `<form method="post" action="${action}/lost-ticket" id="lost-ticket"><h3>${esc(t.lost)}</h3><p class="muted">${esc(t.lostHelp)}</p>
<input type="hidden" name="key" value="${randomBytes(12).toString("base64url")}">
<label for="lost-lane">${esc(t.lane)}</label><select id="lost-lane" name="lane">${options}</select>
<label for="lost-plate">${esc(t.plate)}</label><input id="lost-plate" name="plate" maxlength="20">
<label for="lost-reason">${esc(t.reason)}</label><input id="lost-reason" name="reason" minlength="3" maxlength="200" required>
<button class="btn" type="submit">${esc(t.declare)}</button></form>`;
}
