/** Texts a lane shows on the exit controller's character display. */

export const FAILURE_TEXT: Record<string, string> = {
  declined: "Carte refusee", canceled: "Paiement annule", insufficient_funds: "Fonds insuffisants",
  authentication_required: "Authentification", expired: "Paiement expire", provider_unreachable: "Paiement indispo.",
};

/** 7500 s → "2h05". */
export function formatDuration(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  const h = Math.floor(minutes / 60), m = minutes % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}` : `${m} min`;
}

/** Display text for a character LCD: accents removed, ASCII only, 20 columns. */
export function ascii(text: string): string {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[^\x20-\x7e]/g, "?").slice(0, 20);
}

export function idText(text: string): string {
  return text.replace(/[^A-Za-z0-9._:-]/g, "_").slice(0, 32) || "operator";
}
