/**
 * The entry ticket as printed: what the exit reads back. The QR code carries `SPK1.<ticket id>`
 * (contracts/ticket.ts: the exit's scanner or a phone), the 8-digit short code is printed big
 * under it for the exit keypad, with the lane and, when the board's clock is set, the time.
 */
import { EscPosBuilder } from "../../common/io/escpos";
import { groupCode } from "./entry-display";

export const TICKET_QR_PREFIX = "SPK1.";

export interface TicketToPrint {
  id: string;
  code?: string;
  lane: string;
  /** Board time (ms since the epoch); not printed before 2020 (a clock never set). */
  now: number;
}

const CLOCK_SET_AFTER = Date.UTC(2020, 0, 1);

function two(n: number): string { return (n < 10 ? "0" : "") + String(n); }

/** "2026-11-21 08:00 UTC": the board has no time zone, so the ticket says which time it is. */
export function ticketTime(now: number): string | undefined {
  if (!(now >= CLOCK_SET_AFTER)) return undefined;
  const d = new Date(now);
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())} UTC`;
}

/** The receipt's bytes, or undefined if it does not fit the builder (never printed half). */
export function encodeTicket(t: TicketToPrint): Uint8Array | undefined {
  const b = new EscPosBuilder(512);
  b.init().align("center").bold(true).size(2, 2).line("SysPark").size(1, 1).bold(false);
  b.line("Ticket d'entree / Entry ticket").line("");
  b.qr(TICKET_QR_PREFIX + t.id, 6, "M").line("");
  if (t.code) b.line("Code").bold(true).size(2, 2).line(groupCode(t.code)).size(1, 1).bold(false);
  b.line("Voie / Lane " + t.lane);
  const time = ticketTime(t.now);
  if (time) b.line(time);
  b.line("Gardez ce ticket / Keep this ticket").feed(3).partialCut();
  return b.overflow ? undefined : b.bytes();
}
