// SysPark operators' console, in the browser (served as a file: the CSP allows no inline script).
// The page arrives complete from the server; this script follows the site's event stream and
// patches the same elements, and drives the lane actions (reason, confirmation, cmd_id, ack).
// Plain ES2020, no build step, no library.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // Forms that change something ask first (admin screens: data-confirm="…").
  document.addEventListener("submit", (e) => {
    const f = e.target;
    if (f instanceof HTMLFormElement && f.dataset.confirm && !window.confirm(f.dataset.confirm)) e.preventDefault();
  });

  const siteEl = $("#site");
  if (!siteEl) return;
  const site = siteEl.dataset.site;
  const lang = document.body.dataset.lang || "fr";
  const texts = ($("#action-texts") || { dataset: {} }).dataset;
  const pending = new Map(); // cmd_id → the lane element that sent it
  const wordsEl = $("#state-words");
  const words = wordsEl ? JSON.parse(wordsEl.dataset.words || "{}") : {};
  const word = (v) => (v === undefined || v === null || v === "" ? "—" : words[v] || v);
  /** The last event shown, for the event → screen measurement (test/console, bench console). */
  window.sysparkLive = { shown: 0, last: null };

  function markShown(type, data) {
    window.sysparkLive.shown += 1;
    window.sysparkLive.last = { type, sentAt: data.sentAt, shownAt: Date.now(), data };
    document.dispatchEvent(new CustomEvent("syspark:shown", { detail: window.sysparkLive.last }));
  }

  function setField(root, name, text) {
    const el = $(`[data-f="${name}"]`, root);
    if (el) el.textContent = text;
    return el;
  }

  function laneOf(data) {
    return data.laneKey ? document.getElementById(`lane-${data.laneKey}`) : null;
  }

  function clearAlarmsOf(laneKey, severities) {
    $$(`#alarms li[data-lane="${CSS.escape(laneKey)}"]`).forEach((li) => {
      if (severities.includes(li.dataset.severity)) li.remove();
    });
    const none = $("#no-alarm");
    if (none) none.hidden = $$("#alarms li").length > 0;
  }

  function onLane(d) {
    const lane = laneOf(d);
    if (!lane) return void window.location.reload(); // a lane the page does not know yet
    // The catch-up at the stream's start may be older than what the page shows: keep the newer.
    if (typeof d.ts === "number" && Number(lane.dataset.stateTs || 0) > d.ts) return;
    if (typeof d.ts === "number") lane.dataset.stateTs = String(d.ts);
    setField(lane, "exit_state", word(d.exit_state));
    setField(lane, "barrier_state", word(d.barrier_state));
    setField(lane, "barrier_pos", typeof d.barrier_pos === "number" ? `${d.barrier_pos} %` : "");
    setField(lane, "display", (d.display || []).join("\n"));
    setField(lane, "state_ts", d.when || "");
    if (typeof d.present === "boolean") {
      const p = setField(lane, "present", d.present ? texts.present : texts.clear);
      if (p) p.dataset.present = String(d.present);
    }
    const fault = $('[data-f="fault"]', lane);
    if (fault) {
      fault.textContent = d.fault || "";
      fault.hidden = !d.fault;
      fault.className = d.fault ? "pill bad" : "pill ok";
    }
    const session = $('[data-f="session_id"]', lane);
    if (session) {
      session.textContent = "";
      if (d.session_id) {
        const a = document.createElement("a");
        a.href = `/console/sessions/${encodeURIComponent(d.session_id)}`;
        a.textContent = d.session_id;
        session.appendChild(a);
      } else session.textContent = "—";
    }
    // The same rule as the server (cloud/domain/lane-alarms.ts severitiesClearedBy).
    if (!d.fault) clearAlarmsOf(d.laneKey, d.barrier_state === "closed" ? ["fault", "alarm"] : ["fault"]);
    markShown("lane", d);
  }

  function onPresence(d) {
    const lane = laneOf(d);
    if (!lane) return;
    const el = setField(lane, "present", d.present ? texts.present : texts.clear);
    if (el) el.dataset.present = String(d.present);
    markShown("presence", d);
  }

  function onGateway(d) {
    if (d.kind === "gatewayStatus") {
      const pill = $("#gateway-status");
      if (pill) {
        pill.dataset.status = d.status;
        pill.className = `pill ${d.status === "online" ? "ok" : "bad"}`;
        pill.textContent = "";
        const dot = document.createElement("span");
        dot.className = `status-dot ${d.status === "online" ? "on" : "off"}`;
        pill.append(dot, d.status === "online" ? texts.online : texts.offline);
      }
      const since = $("#gateway-since");
      if (since && d.when) since.textContent = d.when;
    } else {
      const hb = $("#heartbeat");
      if (hb) {
        hb.dataset.ts = String(d.ts);
        hb.textContent = d.when || "";
      }
    }
    markShown("gateway", d);
  }

  function onAlarm(d) {
    if (d.severity !== "alarm" && d.severity !== "fault") return;
    const ul = $("#alarms");
    if (!ul) return;
    const li = document.createElement("li");
    li.dataset.lane = d.laneKey || "";
    li.dataset.severity = d.severity;
    const pill = document.createElement("span");
    pill.className = `pill ${d.severity === "fault" ? "bad" : "warn"}`;
    pill.textContent = d.code;
    const lane = laneOf(d);
    li.append(pill, ` ${lane ? lane.dataset.wire : d.lane_id} — ${d.detail || ""} `);
    const when = document.createElement("span");
    when.className = "muted";
    when.textContent = d.when || "";
    li.appendChild(when);
    if (siteEl.dataset.canAct === "true" && d.alarm_id) {
      const b = document.createElement("button");
      b.className = "btn alt";
      b.type = "button";
      b.dataset.clearAlarm = String(d.alarm_id);
      b.textContent = texts.clear_alarm || "×";
      li.append(" ", b);
    }
    ul.prepend(li);
    const none = $("#no-alarm");
    if (none) none.hidden = true;
    markShown("alarm", d);
  }

  function onAck(d) {
    const lane = pending.get(d.cmd_id) || laneOf(d);
    if (lane) {
      const label = texts[d.result] || d.result;
      const el = setField(lane, "command", `${label}${d.detail ? ` — ${d.detail}` : ""} (${d.cmd_id})`);
      if (el) {
        el.dataset.cmd = d.cmd_id;
        el.dataset.result = d.result;
      }
    }
    pending.delete(d.cmd_id);
    markShown("ack", d);
  }

  function onMeteo(d) {
    const el = $("#weather");
    if (el) el.textContent = `${Math.round(d.temp_c)} °C ${d.description || ""}`.trim();
    markShown("meteo", d);
  }

  function onOccupancy(d) {
    const el = $("#occupancy");
    if (el) {
      el.textContent = d.capacity === null || d.capacity === undefined ? String(d.occupied) : `${d.occupied} / ${d.capacity}`;
      el.dataset.occupied = String(d.occupied);
    }
    const pill = $('[data-f="site_state"]');
    if (pill) {
      pill.textContent = texts[`state_${d.state}`] || d.state;
      pill.className = `pill ${d.state === "open" ? "ok" : d.state === "full" ? "warn" : "bad"}`;
      pill.dataset.state = d.state;
    }
    markShown("occupancy", d);
  }

  function onFeed(d) {
    const body = $("#feed tbody");
    if (!body || body.querySelector(`tr[data-seq="${d.seq}"]`)) return;
    const kind = ($("#kind") || {}).value || "";
    const laneFilter = ($("#lane") || {}).value || "";
    if ((kind && d.category !== kind) || (laneFilter && d.laneKey !== laneFilter)) return;
    const tr = document.createElement("tr");
    tr.className = "feed-row fresh";
    tr.dataset.seq = String(d.seq);
    tr.dataset.category = d.category;
    tr.dataset.lane = d.laneKey || "";
    const cells = [d.when, null, d.laneId || "", null];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      if (i === 0) td.className = "r";
      if (i === 1) {
        const pill = document.createElement("span");
        pill.className = `pill cat-${d.category}`;
        pill.textContent = d.categoryLabel || d.category;
        td.appendChild(pill);
      } else if (i === 3) {
        td.textContent = d.text;
        if (d.sessionId) {
          const a = document.createElement("a");
          a.href = `/console/sessions/${encodeURIComponent(d.sessionId)}`;
          a.textContent = d.sessionLabel || "→";
          td.append(" ", a);
        }
      } else td.textContent = c;
      tr.appendChild(td);
    });
    body.prepend(tr);
    while (body.rows.length > 200) body.deleteRow(-1);
    markShown("feed", d);
  }

  const status = $("#live-status");
  function connect() {
    const es = new EventSource(`/api/console/sites/${encodeURIComponent(site)}/stream?lang=${lang}&after=${siteEl.dataset.lastSeq || 0}`);
    const on = (type, fn) => es.addEventListener(type, (ev) => {
      try {
        fn(JSON.parse(ev.data));
      } catch (err) {
        console.warn("console: event not shown", type, err);
      }
    });
    on("hello", () => {
      if (status) {
        status.textContent = texts.live || "live";
        status.className = "pill ok";
        status.dataset.state = "live";
      }
    });
    on("lane", onLane);
    on("presence", onPresence);
    on("gateway", onGateway);
    on("alarm", onAlarm);
    on("ack", onAck);
    on("meteo", onMeteo);
    on("feed", onFeed);
    on("occupancy", onOccupancy);
    es.onerror = () => {
      if (status) {
        status.textContent = texts.reconnecting || "…";
        status.className = "pill warn";
        status.dataset.state = "reconnecting";
      }
    };
  }
  connect();

  // Lane and site actions: a dialog asks for the reason (and the text), then the command goes with a cmd_id.
  const dialog = $("#action-dialog");
  if (!dialog) return;
  let current = null;
  function ask(action, lane, alarmId) {
    current = { action, lane, alarmId };
    $("#action-title").textContent = (lane ? `${lane.dataset.wire} — ` : "") + (texts[action] || action);
    $("#action-explain").textContent = texts[`explain-${action}`.replace(/-([a-z])/g, (_m, c) => c.toUpperCase())] || "";
    $("#display-lines").hidden = action !== "display";
    $("#line1").required = action === "display";
    $("#action-error").hidden = true;
    $("#action-reason").value = "";
    dialog.showModal();
    $("#action-reason").focus();
  }
  $$("[data-action]").forEach((b) => b.addEventListener("click", () => ask(b.dataset.action, b.closest(".lane"))));
  $$("[data-site-action]").forEach((b) => b.addEventListener("click", () => ask(b.dataset.siteAction, null)));
  $("#alarms").addEventListener("click", (e) => {
    const b = e.target instanceof Element ? e.target.closest("[data-clear-alarm]") : null;
    if (b) ask("clear_alarm", null, b.dataset.clearAlarm);
  });
  $("#action-cancel").addEventListener("click", () => dialog.close());
  $("#action-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current) return;
    const { action, lane, alarmId } = current;
    const cmdId = `web_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`;
    const reason = $("#action-reason").value;
    let url, body;
    if (lane) {
      url = `/api/console/sites/${encodeURIComponent(site)}/lanes/${encodeURIComponent(lane.dataset.wire)}/commands`;
      body = { action, reason, cmd_id: cmdId };
      if (action === "display") body.lines = [$("#line1").value, $("#line2").value].filter((l) => l.length > 0);
    } else if (action === "clear_alarm") {
      url = `/api/console/sites/${encodeURIComponent(site)}/alarms/${encodeURIComponent(alarmId)}/clear`;
      body = { reason };
    } else {
      url = `/api/console/sites/${encodeURIComponent(site)}/entries`;
      body = { closed: action === "entries_closed", reason, cmd_id: cmdId };
    }
    const confirmBtn = $("#action-confirm");
    confirmBtn.disabled = true;
    try {
      const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
      const j = await r.json().catch(() => ({}));
      if (!r.ok) {
        const err = $("#action-error");
        err.textContent = j.error || `HTTP ${r.status}`;
        err.hidden = false;
        return;
      }
      dialog.close();
      if (action === "clear_alarm") {
        const li = $(`#alarms li[data-alarm="${CSS.escape(String(alarmId))}"]`);
        if (li) li.remove();
        const none = $("#no-alarm");
        if (none) none.hidden = $$("#alarms li").length > 0;
        return;
      }
      if (!lane) return void window.location.reload();
      pending.set(j.cmd_id, lane);
      const el = setField(lane, "command", `${action === "display" ? texts.sent.replace(/,.*$/, "") : texts.sent} (${j.cmd_id})`);
      if (el) {
        el.dataset.cmd = j.cmd_id;
        el.dataset.result = "sent";
      }
    } finally {
      confirmBtn.disabled = false;
    }
  });
})();
