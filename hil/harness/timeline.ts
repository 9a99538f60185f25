/**
 * What happened in a scenario, on one time axis: per lane, sampled lane state (the gateway's
 * phase), barrier position, motor outputs and sensor inputs; and discrete events (MQTT messages,
 * serial frames, fault injections). The HTML report draws it as an inline SVG timing diagram.
 */
export interface LaneSample {
  t: number;
  phase: string;
  barrierPct: number;
  motorUp: boolean;
  motorDown: boolean;
  presence: boolean;
  vehicleUnder: boolean;
  emergency: boolean;
  fault: boolean;
}

export interface TimelineEvent {
  t: number;
  lane?: string;
  kind: "mqtt" | "serial" | "fault" | "step";
  text: string;
}

export interface TimelineData {
  durationMs: number;
  lanes: Record<string, LaneSample[]>;
  events: TimelineEvent[];
}

export class Timeline {
  readonly lanes: Record<string, LaneSample[]> = {};
  readonly events: TimelineEvent[] = [];
  readonly t0 = Date.now();

  now(): number { return Date.now() - this.t0; }

  sample(lane: string, s: Omit<LaneSample, "t">): void {
    const list = (this.lanes[lane] ??= []);
    const last = list[list.length - 1];
    const t = this.now();
    // Keep a sample only when something changed (and the boom moved by at least 1 %).
    if (last && last.phase === s.phase && Math.abs(last.barrierPct - s.barrierPct) < 1 && last.motorUp === s.motorUp && last.motorDown === s.motorDown
      && last.presence === s.presence && last.vehicleUnder === s.vehicleUnder && last.emergency === s.emergency && last.fault === s.fault) return;
    list.push({ t, ...s });
    if (list.length > 5000) list.shift();
  }

  event(kind: TimelineEvent["kind"], text: string, lane?: string): void {
    this.events.push({ t: this.now(), kind, text, ...(lane ? { lane } : {}) });
    if (this.events.length > 5000) this.events.shift();
  }

  data(): TimelineData {
    return { durationMs: this.now(), lanes: this.lanes, events: this.events };
  }
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const PHASE_COLOURS: Record<string, string> = {
  idle: "#e5e7eb", identifying: "#fde68a", awaiting_cloud: "#fcd34d", awaiting_payment: "#fdba74", authorised: "#86efac",
  opening: "#4ade80", open: "#22c55e", fault: "#f87171",
};

/** An SVG timing diagram (no script, no network): one block of rows per lane, then the messages. */
export function timelineSvg(data: TimelineData, width = 1100): string {
  const left = 130, right = 10, rowH = 18, gap = 4;
  const span = Math.max(1, data.durationMs);
  const x = (t: number) => left + ((width - left - right) * Math.max(0, Math.min(t, span))) / span;
  const parts: string[] = [];
  let y = 20;
  // time axis
  const step = niceStep(span / 10);
  for (let t = 0; t <= span; t += step) {
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="12" x2="${x(t).toFixed(1)}" y2="100%" stroke="#f1f5f9"/><text x="${x(t).toFixed(1)}" y="10" font-size="9" text-anchor="middle" fill="#64748b">${(t / 1000).toFixed(step < 1000 ? 1 : 0)} s</text>`);
  }
  const label = (text: string) => parts.push(`<text x="4" y="${y + rowH - 5}" font-size="11" fill="#0f172a">${esc(text)}</text>`);
  for (const [lane, samples] of Object.entries(data.lanes)) {
    if (!samples.length) continue;
    const end = (i: number) => (i + 1 < samples.length ? samples[i + 1].t : span);
    // lane state: coloured segments with the phase name
    label(`${lane} lane state`);
    samples.forEach((s, i) => {
      if (i > 0 && samples[i - 1].phase === s.phase) return;
      let j = i;
      while (j + 1 < samples.length && samples[j + 1].phase === s.phase) j++;
      const x0 = x(s.t), x1 = x(end(j));
      parts.push(`<rect data-row="phase" x="${x0.toFixed(1)}" y="${y}" width="${Math.max(0.5, x1 - x0).toFixed(1)}" height="${rowH}" fill="${PHASE_COLOURS[s.phase] ?? "#c7d2fe"}" stroke="#fff"><title>${esc(s.phase)} at ${(s.t / 1000).toFixed(2)} s</title></rect>`);
      if (x1 - x0 > 40) parts.push(`<text x="${(x0 + 3).toFixed(1)}" y="${y + rowH - 5}" font-size="10">${esc(s.phase)}</text>`);
    });
    y += rowH + gap;
    // barrier position: a polyline 0..100 %
    const h = rowH * 2;
    label(`${lane} barrier %`);
    const pts = samples.map((s, i) => `${x(s.t).toFixed(1)},${(y + h - (h * s.barrierPct) / 100).toFixed(1)}${i + 1 < samples.length ? ` ${x(samples[i + 1].t).toFixed(1)},${(y + h - (h * s.barrierPct) / 100).toFixed(1)}` : ""}`);
    pts.push(`${x(span).toFixed(1)},${(y + h - (h * samples[samples.length - 1].barrierPct) / 100).toFixed(1)}`);
    parts.push(`<rect x="${left}" y="${y}" width="${width - left - right}" height="${h}" fill="#f8fafc"/><polyline data-row="barrier" points="${pts.join(" ")}" fill="none" stroke="#2563eb" stroke-width="1.5"/>`);
    y += h + gap;
    // digital rows
    const digital: [string, (s: LaneSample) => boolean, string][] = [
      ["motor up", (s) => s.motorUp, "#16a34a"], ["motor down", (s) => s.motorDown, "#ea580c"],
      ["presence loop", (s) => s.presence, "#7c3aed"], ["under boom", (s) => s.vehicleUnder, "#0891b2"],
      ["emergency", (s) => s.emergency, "#dc2626"], ["fault", (s) => s.fault, "#b91c1c"],
    ];
    for (const [name, get, colour] of digital) {
      label(`${lane} ${name}`);
      const lo = y + rowH - 3, hi = y + 3;
      const pts2: string[] = [];
      samples.forEach((s, i) => {
        const v = get(s) ? hi : lo;
        pts2.push(`${x(s.t).toFixed(1)},${v}`, `${x(end(i)).toFixed(1)},${v}`);
      });
      parts.push(`<polyline data-row="${esc(name)}" points="${pts2.join(" ")}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
      y += rowH;
    }
    y += gap * 2;
  }
  // messages: one tick per event, coloured by kind, text in a tooltip; the first few labelled
  const colours: Record<TimelineEvent["kind"], string> = { mqtt: "#2563eb", serial: "#94a3b8", fault: "#dc2626", step: "#0f172a" };
  for (const kind of ["step", "fault", "mqtt", "serial"] as const) {
    const evs = data.events.filter((e) => e.kind === kind);
    label(kind === "mqtt" ? "MQTT messages" : kind === "serial" ? "serial frames" : kind === "fault" ? "faults injected" : "scenario steps");
    for (const e of evs) {
      parts.push(`<line data-row="${kind}" x1="${x(e.t).toFixed(1)}" y1="${y + 2}" x2="${x(e.t).toFixed(1)}" y2="${y + rowH - 2}" stroke="${colours[kind]}" stroke-width="${kind === "serial" ? 1 : 2}"><title>${esc(`${(e.t / 1000).toFixed(3)} s ${e.lane ? `[${e.lane}] ` : ""}${e.text}`)}</title></line>`);
    }
    y += rowH;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${width}" height="${y + 6}" viewBox="0 0 ${width} ${y + 6}" font-family="sans-serif">${parts.join("")}</svg>`;
}

function niceStep(raw: number): number {
  const steps = [100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000];
  return steps.find((s) => s >= raw) ?? 600_000;
}
