/**
 * The words for the values the lanes and the flows report (exit states, barrier states, barrier
 * results, command answers, who decided an exit, refund states), French and English: a console
 * in French never shows "awaiting_payment" or "opened". A value without a word is shown as it is.
 */
import type { Lang } from "../pages";

const FR: Record<string, string> = {
  // exit controller (firmware/common/link/messages.ts EXIT_STATES)
  idle: "au repos", present: "véhicule présent", identifying: "identification", awaiting_payment: "attente du paiement", authorised: "sortie autorisée",
  opening: "ouverture", passing: "passage", done: "terminé", denied: "refusée", fault: "défaut", restricted: "mode restreint",
  // barrier (BARRIER_STATES)
  closed: "fermée", open: "ouverte", closing: "fermeture", stopped: "arrêtée", safe: "sécurité",
  // barrier results, answers, deciders, refund states
  opened: "ouverte", timeout: "sans réponse", not_opened: "non ouverte", refused: "refusée", cloud: "cloud", offline_badge: "badge hors ligne",
  offline_pin: "code hors ligne", override: "ouverture manuelle", emergency: "urgence", succeeded: "effectué", requested: "demandé", pending: "en cours",
  failed: "échoué", canceled: "annulé", waived: "créance abandonnée", paid_elsewhere: "payé par ailleurs", plate: "plaque", badge: "badge", ticket: "ticket", pin: "code", operator: "opérateur", reset: "réarmement",
};

const EN: Record<string, string> = {
  idle: "idle", present: "vehicle present", identifying: "identifying", awaiting_payment: "awaiting payment", authorised: "exit authorised",
  opening: "opening", passing: "passing", done: "done", denied: "denied", fault: "fault", restricted: "restricted mode",
  closed: "closed", open: "open", closing: "closing", stopped: "stopped", safe: "safe state",
  opened: "opened", timeout: "no answer", not_opened: "not opened", refused: "refused", cloud: "cloud", offline_badge: "offline badge",
  offline_pin: "offline PIN", override: "manual opening", emergency: "emergency", succeeded: "succeeded", requested: "requested", pending: "pending",
  failed: "failed", canceled: "canceled", waived: "waived", paid_elsewhere: "paid elsewhere", plate: "plate", badge: "badge", ticket: "ticket", pin: "PIN", operator: "operator", reset: "fault reset",
};

export function stateWord(value: string | null | undefined, lang: Lang): string {
  if (value === null || value === undefined || value === "") return "—";
  return (lang === "en" ? EN : FR)[value] ?? value;
}

/** The whole dictionary, for the page script (a data attribute on the live page). */
export function stateWords(lang: Lang): Record<string, string> {
  return lang === "en" ? EN : FR;
}
