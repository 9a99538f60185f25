/**
 * What the entry terminal's 4×20 display shows in each state: French first, English second, as
 * on the exit (./display.ts). While a ticket is out, its QR code (`SPK1.<id>`) stays on the
 * display until the vehicle has driven in: a phone can photograph it, which is the ticket when
 * the printer failed.
 */
import type { ExitState } from "../../common/link/messages";
import { fit, type Screen } from "./display";

export type SiteState = "open" | "full" | "closed";

export interface EntryScreenContext {
  lane: string;
  site?: SiteState;
  free?: number;
  message?: string;
  /** The ticket being issued or issued: its QR text and short code. */
  ticketQr?: string;
  ticketCode?: string;
  /** The ticket is being printed (not yet out). */
  printing?: boolean;
  /** The printer failed: the display QR is the ticket. */
  printFailed?: boolean;
  fault?: string;
}

function screen(a: string, b = "", c = "", d = "", qr?: string): Screen {
  const s: Screen = { lines: [fit(a), fit(b), fit(c), fit(d)] };
  if (qr !== undefined) s.qr = qr;
  return s;
}

/** "12345678" → "1234 5678": two groups are easier to read off paper and type on a keypad. */
export function groupCode(code: string): string {
  return code.length === 8 ? code.substring(0, 4) + " " + code.substring(4) : code;
}

function idle(ctx: EntryScreenContext): Screen {
  if (ctx.site === "closed") return screen("FERME", "Car park closed", "", "");
  if (ctx.site === "full") return screen("COMPLET", "Car park full", "Abonnes: badge", "Permit: badge");
  const free = ctx.free !== undefined ? "Places libres: " + String(ctx.free) : "Entree voie " + ctx.lane;
  return screen("SysPark  Entree", free, ctx.free !== undefined ? "Free spaces" : "Entry lane " + ctx.lane, "");
}

/** The refusal the terminal shows at once when the ticket button is pressed on a full or closed site. */
export function siteRefusal(site: SiteState | undefined): string | undefined {
  return site === "full" ? "COMPLET / Full" : site === "closed" ? "FERME / Closed" : undefined;
}

export function entryScreenFor(state: ExitState, ctx: EntryScreenContext): Screen {
  const code = ctx.ticketCode ? "Code " + groupCode(ctx.ticketCode) : "";
  switch (state) {
    case "idle": return idle(ctx);
    case "present":
      if (ctx.site === "full" || ctx.site === "closed") return screen(ctx.site === "full" ? "COMPLET / Full" : "FERME / Closed", "Lecture plaque...", "Badge abonne", "Permit badge");
      return screen("Bonjour / Hello", "Lecture plaque...", "Ticket: bouton/badge", "Ticket: button/badge");
    case "identifying":
      if (ctx.printing) return screen("Prenez votre ticket", "Take your ticket", code, "Impression/Printing", ctx.ticketQr);
      return screen("Un instant...", ctx.message ?? "Please wait", "", "");
    case "authorised":
      if (ctx.printFailed) return screen("Ticket sur l'ecran", "Photo du QR code", code, "Photo this QR code", ctx.ticketQr);
      if (ctx.ticketQr) return screen("Gardez votre ticket", "Keep your ticket", code, "Ouverture/Opening", ctx.ticketQr);
      return screen(ctx.message ?? "Bienvenue / Welcome", "Entree autorisee", "Ouverture...", "Opening...");
    case "opening": return screen("Ouverture barriere", "Barrier opening", code, "", ctx.ticketQr);
    case "passing": return screen("Avancez / Drive in", "Bonne visite !", code, "", ctx.ticketQr);
    case "done": return screen("Merci / Thank you", "A bientot", "", "");
    case "denied": return screen("Entree refusee", "Entry refused", ctx.message ?? "", "Aide / Help: bouton");
    case "fault": return screen("Hors service", "Out of order", "Code " + (ctx.fault ?? "?"), "Aide / Help: bouton");
    case "restricted": return screen("Appelez l'operateur", "Call the operator", "Bouton aide", "Help button");
    case "awaiting_payment": return screen("Un instant...", "Please wait", "", "");
  }
}
