/**
 * The live screens' HTML: the sites at a glance (/console) and one site live (/console/sites/:site):
 * occupancy, gateway and link health, weather, each lane (state, barrier and boom, presence,
 * display, fault), active alarms, the live feed with its filters, and the lane actions. Rendered
 * complete from the persisted snapshot (a reload, or a console without script, shows the truth);
 * public/console.js then follows the stream and patches the same elements by their ids.
 * Times are in the site's time zone; lane ids as the site names them.
 */
import type { OperatorRole } from "../../db/index";
import type { LaneView, SiteOverview, SiteSnapshot } from "../../flows/console-views";
import { esc, type Lang } from "../pages";
import { describeAuditRow, FEED_CATEGORIES, type FeedCategory } from "./feed-text";
import { ct, siteTime, type ConsoleTexts } from "./i18n";
import { laneActionTexts } from "./live-texts";
import { entryCard } from "./entry-card";
import { stateWord, stateWords } from "./state-words";

function statePill(state: SiteOverview["state"], t: ConsoleTexts): string {
  const cls = state === "open" ? "ok" : state === "full" ? "warn" : "bad";
  const label = state === "open" ? t.open : state === "full" ? t.full : t.closedToEntries;
  return `<span class="pill ${cls}" data-f="site_state">${esc(label)}</span>`;
}

function gatewayPill(status: "online" | "offline" | null, t: ConsoleTexts): string {
  const cls = status === "online" ? "ok" : status === "offline" ? "bad" : "";
  return `<span class="pill ${cls}" id="gateway-status" data-status="${status ?? "unknown"}"><span class="status-dot ${status === "online" ? "on" : status === "offline" ? "off" : ""}"></span>${esc(status === "online" ? t.online : status === "offline" ? t.offline : t.unknown)}</span>`;
}

function occupancyText(s: SiteOverview, t: ConsoleTexts): string {
  return `<span id="occupancy" data-occupied="${s.occupied}" data-capacity="${s.capacity ?? ""}">${s.occupied}${s.capacity !== null ? ` / ${s.capacity}` : ""}</span> ${s.capacity === null ? `<span class="muted">(${esc(t.capacity)} ?)</span>` : ""}`;
}

export function overviewBody(sites: SiteOverview[], lang: Lang): string {
  const t = ct(lang);
  if (sites.length === 0) return `<div class="card"><h1>${esc(t.sites)}</h1><p class="muted">—</p></div>`;
  const cards = sites
    .map(
      (s) => `<a class="card site-card" href="/console/sites/${esc(s.siteId)}" id="site-${esc(s.siteId)}"><h2>${esc(s.name)} <span class="muted">${esc(s.siteId)}</span></h2>
<dl class="kv"><dt>${esc(t.occupancy)}</dt><dd>${occupancyText(s, t)} ${statePill(s.state, t)}</dd><dt>${esc(t.gateway)}</dt><dd>${gatewayPill(s.gateway, t)}</dd>
<dt>${esc(t.lanes)}</dt><dd>${s.lanes}</dd><dt>${esc(t.alarms)}</dt><dd>${s.activeAlarms > 0 ? `<span class="pill bad">${s.activeAlarms}</span>` : `<span class="pill ok">0</span>`}</dd></dl></a>`,
    )
    .join("");
  return `<h1>${esc(t.sites)}</h1><div class="cols">${cards}</div>`;
}

function laneCard(l: LaneView, tz: string, lang: Lang, canAct: boolean): string {
  const t = ct(lang);
  const a = laneActionTexts(lang);
  const fault = l.fault ? `<span class="pill bad" data-f="fault">${esc(l.fault)}</span>` : `<span class="pill ok" data-f="fault" hidden></span>`;
  const presence = l.present === null ? "—" : l.present ? t.vehiclePresent : t.noVehicle;
  const actions = canAct
    ? `<div class="lane-actions"><button class="btn" type="button" data-action="open">${esc(a.open)}</button><button class="btn alt" type="button" data-action="reset">${esc(a.reset)}</button><button class="btn alt" type="button" data-action="display">${esc(a.display)}</button></div><p class="muted" data-f="command" aria-live="polite"></p>`
    : "";
  return `<section class="lane" id="lane-${esc(l.laneId)}" data-lane="${esc(l.laneId)}" data-wire="${esc(l.name)}" data-state-ts="${l.stateTs ? l.stateTs.getTime() : 0}">
<h3><span>${esc(l.name)} <span class="muted">${esc(l.kind === "exit" ? a.exitLane : a.entryLane)}</span></span>${fault}</h3>
<dl class="kv"><dt>${esc(t.state)}</dt><dd data-f="exit_state">${esc(stateWord(l.exitState, lang))}</dd>
<dt>${esc(t.barrier)}</dt><dd><span data-f="barrier_state">${esc(stateWord(l.barrierState, lang))}</span> <span class="muted" data-f="barrier_pos">${l.barrierPos === null ? "" : `${l.barrierPos} %`}</span></dd>
<dt>${esc(t.presence)}</dt><dd data-f="present" data-present="${l.present === null ? "" : String(l.present)}">${esc(presence)}</dd>
<dt>${esc(t.session)}</dt><dd data-f="session_id">${l.sessionId ? `<a href="/console/sessions/${esc(l.sessionId)}">${esc(l.sessionId)}</a>` : "—"}</dd>
<dt>${esc(a.updated)}</dt><dd class="muted" data-f="state_ts">${esc(siteTime(l.stateTs, tz, lang) || "—")}</dd></dl>
<div class="display" data-f="display" aria-label="${esc(t.display)}">${esc((l.display ?? []).join("\n"))}</div>
${actions}</section>`;
}

function feedRows(s: SiteSnapshot, lang: Lang, filter: { kind?: FeedCategory; lane?: string }): string {
  return s.feed
    .map((r) => describeAuditRow(r, lang))
    .filter((f) => (!filter.kind || f.category === filter.kind) && (!filter.lane || (f.laneId ?? "").toLowerCase() === filter.lane.toLowerCase()))
    .map((f) => feedRowHtml(f, s.site.timeZone, lang))
    .join("");
}

export function feedRowHtml(f: ReturnType<typeof describeAuditRow>, tz: string, lang: Lang): string {
  return `<tr class="feed-row" data-seq="${f.seq}" data-category="${f.category}" data-lane="${esc((f.laneId ?? "").toLowerCase())}"><td class="r">${esc(siteTime(new Date(f.ts), tz, lang))}</td><td><span class="pill cat-${f.category}">${esc(laneActionTexts(lang).categories[f.category])}</span></td><td>${esc(f.laneId ?? "")}</td><td>${esc(f.text)}${f.sessionId ? ` <a href="/console/sessions/${esc(f.sessionId)}">${esc(laneActionTexts(lang).open_session)}</a>` : ""}</td></tr>`;
}

function weatherBlock(s: SiteSnapshot, lang: Lang): string {
  const t = ct(lang);
  const w = s.weather?.report as Record<string, unknown> | undefined;
  const text = w ? `${typeof w.temp_c === "number" ? `${Math.round(w.temp_c)} °C` : ""} ${typeof w.description === "string" ? w.description : ""}`.trim() : "—";
  return `<dt>${esc(t.weather)}</dt><dd id="weather">${esc(text)}${s.weather ? ` <span class="muted">(${esc(siteTime(s.weather.observedAt, s.site.timeZone, lang))})</span>` : ""}</dd>`;
}

export function siteBody(s: SiteSnapshot, lang: Lang, role: OperatorRole, filter: { kind?: FeedCategory; lane?: string }): string {
  const t = ct(lang);
  const a = laneActionTexts(lang);
  const tz = s.site.timeZone;
  const canAct = role !== "viewer";
  const g = s.gateway;
  const alarms = s.alarms.length
    ? s.alarms.map((al) => `<li data-alarm="${al.alarmId}" data-lane="${esc(al.laneId)}" data-severity="${esc(al.severity)}"><span class="pill ${al.severity === "fault" ? "bad" : "warn"}">${esc(al.code)}</span> ${esc(al.laneName)} — ${esc(al.detail ?? "")} <span class="muted">${esc(siteTime(al.raisedAt, tz, lang))}</span>${canAct ? ` <button class="btn alt" type="button" data-clear-alarm="${al.alarmId}">${esc(a.clearAlarm)}</button>` : ""}</li>`).join("")
    : "";
  const laneOptions = s.lanes.map((l) => `<option value="${esc(l.laneId)}"${filter.lane === l.laneId ? " selected" : ""}>${esc(l.name)}</option>`).join("");
  const kindOptions = FEED_CATEGORIES.map((k) => `<option value="${k}"${filter.kind === k ? " selected" : ""}>${esc(a.categories[k])}</option>`).join("");
  const entriesForm = canAct
    ? `<button class="btn ${s.site.entriesClosed ? "" : "danger"}" type="button" data-site-action="${s.site.entriesClosed ? "entries_open" : "entries_closed"}">${esc(s.site.entriesClosed ? a.reopenEntries : a.closeEntries)}</button>`
    : "";
  const lastSeq = s.feed.reduce((m, r) => Math.max(m, r.seq), 0);
  return `<div id="site" data-site="${esc(s.site.siteId)}" data-tz="${esc(tz)}" data-can-act="${canAct}" data-last-seq="${lastSeq}">
<div class="card"><h1>${esc(s.site.name)} <span class="muted">${esc(s.site.siteId)}</span> <span id="live-status" class="pill">…</span></h1>
<dl class="kv"><dt>${esc(t.occupancy)}</dt><dd>${occupancyText(s.site, t)} ${statePill(s.site.state, t)} ${entriesForm}</dd>
<dt>${esc(t.gateway)}</dt><dd>${gatewayPill(g?.status ?? null, t)} <span class="muted">${esc(t.since)} <span id="gateway-since">${esc(siteTime(g?.statusSince, tz, lang) || "—")}</span></span></dd>
<dt>${esc(t.lastHeartbeat)}</dt><dd id="heartbeat" data-ts="${g?.heartbeatTs ? g.heartbeatTs.getTime() : ""}">${esc(siteTime(g?.heartbeatTs, tz, lang) || "—")}${g?.outboxDepth ? ` · ${esc(a.backlog)} ${g.outboxDepth}` : ""}</dd>
${weatherBlock(s, lang)}<dt>${esc(t.timeZone)}</dt><dd>${esc(tz)}</dd></dl></div>
${entryCard(s, lang, canAct)}
<div class="card"><h2>${esc(t.alarms)}</h2><ul id="alarms">${alarms}</ul><p class="muted" id="no-alarm"${s.alarms.length ? " hidden" : ""}>${esc(t.noAlarm)}</p></div>
<div class="card"><h2>${esc(t.lanes)}</h2><div class="lanes" id="lanes">${s.lanes.map((l) => laneCard(l, tz, lang, canAct)).join("")}</div></div>
<div class="card"><h2>${esc(t.feed)}</h2>
<form method="get" class="row" id="feed-filter"><div><label for="kind">${esc(a.kind)}</label><select id="kind" name="kind"><option value="">${esc(t.allKinds)}</option>${kindOptions}</select></div>
<div><label for="lane">${esc(t.lane)}</label><select id="lane" name="lane"><option value="">${esc(t.allLanes)}</option>${laneOptions}</select></div><div><button class="btn alt" type="submit">${esc(a.filter)}</button></div></form>
<div class="scroll"><table class="grid" id="feed"><thead><tr><th class="r">${esc(t.when)}</th><th>${esc(a.kind)}</th><th>${esc(t.lane)}</th><th>${esc(t.what)}</th></tr></thead><tbody>${feedRows(s, lang, filter)}</tbody></table></div></div>
${liveTexts(lang)}${canAct ? actionDialog(lang) : ""}</div>`;
}

function actionDialog(lang: Lang): string {
  const t = ct(lang);
  const a = laneActionTexts(lang);
  return `<dialog id="action-dialog"><form method="dialog" id="action-form"><h2 id="action-title"></h2><p class="muted" id="action-explain"></p>
<div id="display-lines" hidden><label for="line1">${esc(a.lines)}</label><input id="line1" name="line1" maxlength="20"><input id="line2" name="line2" maxlength="20"></div>
<label for="action-reason">${esc(t.reason)}</label><input id="action-reason" name="reason" minlength="3" maxlength="200" required>
<p class="err" id="action-error" hidden></p>
<div class="row"><button class="btn alt" value="cancel" type="button" id="action-cancel">${esc(t.cancel)}</button><button class="btn danger" type="submit" id="action-confirm">${esc(t.confirm)}</button></div></form></dialog>`;
}

/** The words public/console.js writes into the page, in the page's language. */
function liveTexts(lang: Lang): string {
  const t = ct(lang);
  const a = laneActionTexts(lang);
  return `<div id="state-words" hidden data-words="${esc(JSON.stringify(stateWords(lang)))}"></div><div id="action-texts" hidden data-open="${esc(a.open)}" data-reset="${esc(a.reset)}" data-display="${esc(a.display)}" data-entries_closed="${esc(a.closeEntries)}" data-entries_open="${esc(a.reopenEntries)}"
 data-explain-open="${esc(a.explainOpen)}" data-explain-reset="${esc(a.explainReset)}" data-explain-display="${esc(a.explainDisplay)}" data-explain-entries_closed="${esc(a.explainClose)}" data-explain-entries_open="${esc(a.explainReopen)}" data-clear_alarm="${esc(a.clearAlarm)}" data-explain-clear_alarm="${esc(a.explainClearAlarm)}"
 data-sent="${esc(a.sent)}" data-done="${esc(a.ackDone)}" data-refused="${esc(a.ackRefused)}" data-fault="${esc(a.ackFault)}" data-timeout="${esc(a.ackTimeout)}" data-present="${esc(t.vehiclePresent)}" data-clear="${esc(t.noVehicle)}"
 data-online="${esc(t.online)}" data-offline="${esc(t.offline)}" data-state_open="${esc(t.open)}" data-state_full="${esc(t.full)}" data-state_closed="${esc(t.closedToEntries)}" data-live="${esc(t.live)}" data-reconnecting="${esc(t.reconnecting)}"></div>`;
}
