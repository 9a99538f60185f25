/**
 * An audit row as an operator reads it in the live feed and on a session page: a category
 * (entry, exit, payment, alarm, override, action), where it happened (site, lane as the site
 * names it) and one sentence in the operator's language — never the raw JSON. Unknown kinds
 * still read as "kind: key value, …" with their scalar fields, so a new kind is never hidden.
 */
import type { Json } from "../../db/index";
import { formatMoney } from "../../tariffs/index";
import type { Lang } from "../pages";
import { stateWord } from "./state-words";

export type FeedCategory = "entry" | "exit" | "payment" | "alarm" | "override" | "action" | "other";
export const FEED_CATEGORIES: readonly FeedCategory[] = ["entry", "exit", "payment", "alarm", "override", "action", "other"];

export interface AuditRowLike {
  seq: number;
  ts: Date;
  kind: string;
  sessionId: string | null;
  payload: Json;
}

export interface FeedItem {
  seq: number;
  ts: string;
  kind: string;
  category: FeedCategory;
  siteId: string | null;
  laneId: string | null;
  sessionId: string | null;
  text: string;
}

export function categoryOf(kind: string): FeedCategory {
  if (kind === "session.entry" || kind.startsWith("entry")) return "entry";
  if (kind === "session.closed" || (kind.startsWith("exit") && kind !== "exit.override_claimed")) return "exit";
  if (/^(payment|refund|receipt|prepayment|hold|permit|invoice|credit_note)\b/.test(kind)) return "payment";
  if (kind.startsWith("alarm") || kind === "session.flagged") return "alarm";
  if (kind.startsWith("override") || kind === "barrier.ack" || kind === "exit.override_claimed") return "override";
  if (/^(site|lane|tariff|operator|access|command|console|session\.resolved|alert)\b/.test(kind)) return "action";
  return "other";
}

const LABELS: Record<Lang, Record<string, string>> = {
  fr: {
    "session.entry": "Entrée", "session.closed": "Sortie", "session.flagged": "Session signalée", "exit.unknown_identity": "Identité inconnue en sortie",
    "exit.not_passed": "Sortie non franchie", "exit.left": "Véhicule reparti sans sortir", "exit.unmatched": "Sortie sans session", "exit.request_repeated": "Demande de sortie répétée",
    "exit.no_tariff": "Pas de tarif en vigueur", "exit.override_claimed": "Sortie sur ouverture manuelle", "payment.requested": "Paiement demandé", "payment.validated": "Paiement validé",
    "payment.late": "Paiement tardif", "payment.abandoned": "Paiement abandonné", "payment.amount_mismatch": "Montant incohérent", "payment.provider_unavailable": "Prestataire de paiement injoignable",
    "refund.requested": "Remboursement demandé", "override.open": "Ouverture manuelle", "override.reset": "Réarmement", "barrier.ack": "Réponse de la voie",
    "alarm.sensor_gate": "Alarme", "command.display": "Message afficheur", "command.entries_closed": "Entrées fermées", "command.entries_open": "Entrées rouvertes",
    "session.resolved": "Session régularisée", "alarm.cleared": "Alarme acquittée",
  },
  en: {
    "session.entry": "Entry", "session.closed": "Exit", "session.flagged": "Session flagged", "exit.unknown_identity": "Unknown identity at the exit",
    "exit.not_passed": "Exit not passed", "exit.left": "Vehicle left the lane", "exit.unmatched": "Exit without a session", "exit.request_repeated": "Exit request repeated",
    "exit.no_tariff": "No tariff in force", "exit.override_claimed": "Exit by manual opening", "payment.requested": "Payment requested", "payment.validated": "Payment validated",
    "payment.late": "Late payment", "payment.abandoned": "Payment abandoned", "payment.amount_mismatch": "Amount mismatch", "payment.provider_unavailable": "Payment provider unreachable",
    "refund.requested": "Refund requested", "override.open": "Manual opening", "override.reset": "Fault reset", "barrier.ack": "Lane answered",
    "alarm.sensor_gate": "Alarm", "command.display": "Display message", "command.entries_closed": "Entries closed", "command.entries_open": "Entries reopened",
    "session.resolved": "Session resolved", "alarm.cleared": "Alarm cleared",
  },
};

/** Fields an operator wants to read, in this order; ids and hashes stay on the session page. */
const SHOWN = ["identity_value", "plate", "code", "severity", "detail", "action", "result", "barrier_result", "decided_by", "operator", "reason", "status", "outcome", "version", "lines", "resolution"] as const;
/** Fields whose values are states, worded in the operator's language (state-words.ts). */
const WORDED = new Set<string>(["action", "result", "barrier_result", "decided_by", "status", "outcome", "resolution"]);

/** When the event happened at the site, when the row says (an event queued offline arrives later): else when it was recorded. */
function eventTime(row: AuditRowLike, p: Record<string, Json>): Date {
  for (const k of ["ts", "exit_ts", "entry_ts", "override_ts"]) {
    const v = p[k];
    if (typeof v === "string" || typeof v === "number") {
      const d = new Date(v);
      if (!Number.isNaN(d.getTime())) return d;
    }
  }
  return row.ts;
}

function str(v: Json | undefined): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join(" / ");
  return null;
}

export function describeAuditRow(row: AuditRowLike, lang: Lang): FeedItem {
  const p = (row.payload && typeof row.payload === "object" && !Array.isArray(row.payload) ? row.payload : {}) as Record<string, Json>;
  const label = LABELS[lang][row.kind] ?? row.kind;
  const parts: string[] = [];
  const amount = typeof p.amount === "number" && typeof p.currency === "string" ? formatMoney(p.amount, p.currency, lang) : null;
  if (amount) parts.push(amount);
  for (const k of SHOWN) {
    const v = str(p[k]);
    if (v === null || v === "") continue;
    if (k === "reason" || k === "detail") parts.push(lang === "fr" ? `« ${v} »` : `“${v}”`);
    else parts.push(WORDED.has(k) ? stateWord(v, lang) : v);
  }
  return {
    seq: row.seq,
    ts: eventTime(row, p).toISOString(),
    kind: row.kind,
    category: categoryOf(row.kind),
    siteId: str(p.site_id),
    laneId: str(p.lane_id),
    sessionId: row.sessionId ?? str(p.session_id),
    text: parts.length ? `${label} — ${parts.join(" · ")}`.slice(0, 300) : label,
  };
}
