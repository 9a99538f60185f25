/**
 * What the 4×20 display shows in each state (French first, English second: the car park's
 * customers are both). Plain ASCII: character LCDs have no accents.
 */
import type { ExitState } from "../../common/link/messages";

export const DISPLAY_COLS = 20;
export const DISPLAY_ROWS = 4;

export interface Screen {
  lines: [string, string, string, string];
  /** Pay URL the QR code shows, when payment is awaited. */
  qr?: string;
}

export function fit(text: string): string {
  let out = "";
  for (let i = 0; i < text.length && out.length < DISPLAY_COLS; i++) {
    const c = text.charCodeAt(i);
    out += c >= 0x20 && c <= 0x7e ? text[i] : "?";
  }
  return out;
}

function screen(a: string, b = "", c = "", d = ""): Screen {
  return { lines: [fit(a), fit(b), fit(c), fit(d)] };
}

/** 1250 EUR-cents → "12,50 EUR" (French decimal comma; the currency code stays unambiguous). */
export function formatMoney(amount: number, currency: string): string {
  const major = Math.floor(amount / 100);
  const minor = amount % 100;
  return `${major},${minor < 10 ? "0" : ""}${minor} ${currency}`;
}

export interface ScreenContext {
  lane: string;
  amount?: number;
  currency?: string;
  payUrl?: string;
  label?: string;
  message?: string;
  pinLength?: number;
  fault?: string;
}

export function screenFor(state: ExitState, ctx: ScreenContext): Screen {
  switch (state) {
    case "idle": return screen("SysPark  Sortie", "Exit lane " + ctx.lane, "", "");
    case "present": return screen("Bonjour / Hello", "Lecture plaque...", "Badge ou PIN #", "Badge or PIN #");
    case "identifying": return screen("Identification...", ctx.message ?? "Please wait", "Badge ou PIN #", ctx.pinLength ? "PIN " + "*".repeat(ctx.pinLength) : "Badge or PIN #");
    case "awaiting_payment": {
      const s = screen("A payer / To pay", formatMoney(ctx.amount ?? 0, ctx.currency ?? "EUR") + (ctx.label ? " " + ctx.label : ""), ctx.message ?? "Scannez le QR code", ctx.message ? "Reessayez / Retry" : "Scan the QR code");
      s.qr = ctx.payUrl;
      return s;
    }
    case "authorised": return screen("Paiement accepte", "Payment accepted", "Ouverture...", "Opening...");
    case "opening": return screen("Ouverture barriere", "Barrier opening", "", "");
    case "passing": return screen("Bonne route !", "Drive safely!", "Avancez / Drive on", "");
    case "done": return screen("Merci / Thank you", "A bientot", "", "");
    case "denied": return screen("Sortie refusee", "Exit refused", ctx.message ?? "", "Aide / Help: bouton");
    case "fault": return screen("Hors service", "Out of order", "Code " + (ctx.fault ?? "?"), "Aide / Help: bouton");
    case "restricted": return screen("Appelez l'operateur", "Call the operator", "Bouton aide", "Help button");
  }
}
