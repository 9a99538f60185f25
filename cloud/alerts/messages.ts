/**
 * The texts sent to Telegram: one line per event, the condition's summary (English with the
 * French beside it) behind a sign an operator reads at a glance on a phone's lock screen.
 */
import type { AlertRow } from "./store";

const RAISED_SIGN: Record<string, string> = {
  executor_fault: "🚨",
  safety_alarm: "🚨",
};

export function raisedText(row: Pick<AlertRow, "kind" | "summary">): string {
  return `${RAISED_SIGN[row.kind] ?? "⚠️"} ${row.summary}`;
}

export function resolvedText(row: Pick<AlertRow, "summary" | "raisedAt" | "resolvedAt">): string {
  const took = formatDuration((row.resolvedAt ?? row.raisedAt).getTime() - row.raisedAt.getTime());
  return `✅ ${row.summary} — resolved after ${took} / résolu après ${took}`;
}

/** "<1 min", "3 min", "2 h 05", "75 h": units that read the same in English and French. */
export function formatDuration(ms: number): string {
  const min = Math.floor(Math.max(0, ms) / 60_000);
  if (min < 1) return "<1 min";
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  return h < 48 ? `${h} h ${String(min % 60).padStart(2, "0")}` : `${h} h`;
}
