/**
 * The entry lane's verbs (issue 18): a car drives onto an entry loop (its plate read or not), the
 * driver takes a ticket, presents a badge or scans a reservation; at the pay station the driver
 * scans a ticket or a merchant validation, or presses the lost-ticket key. Like the exit verbs,
 * they go through the lane's field, the site broker and the cloud's API — never SQL of their own.
 */
import { randomBytes } from "node:crypto";
import { siteTopic } from "../../contracts/mqtt-topics";
import type { EntryPhase } from "../../gateway/lane/entry-phases";
import { LaneVerbs } from "./lane-verbs";

export interface PrintedTicket { ticketId: string; code: string; qr: string; lines: string[] }

export class EntryVerbs extends LaneVerbs {
  private entryPlates = 0;

  entryPhase(laneId: string): EntryPhase {
    const lane = this.gateway.entryLanes.get(laneId);
    if (!lane) throw new Error(`lane ${laneId} is not an entry lane of this scenario`);
    return lane.snapshot().phase;
  }

  async waitEntryPhase(laneId: string, phase: EntryPhase | EntryPhase[], timeoutMs = 15_000): Promise<void> {
    const want = Array.isArray(phase) ? phase : [phase];
    await this.waitUntil(() => want.includes(this.entryPhase(laneId)), timeoutMs, `entry lane ${laneId} phase ${want.join(" or ")} (now ${this.entryPhase(laneId)})`);
  }

  /** A car drives onto the entry loop of `laneId`; the entry camera reads its plate unless `readPlate` is false. */
  async carAtEntry(laneId: string, opts: { plate?: string; readPlate?: boolean } = {}): Promise<string> {
    const lane = this.lane(laneId);
    if (lane.kind !== "entry") throw new Error(`lane ${laneId} is not an entry lane`);
    const plate = opts.plate ?? `IN-${String(++this.entryPlates).padStart(3, "0")}-${randomBytes(2).toString("hex").toUpperCase()}`;
    this.step(`car ${plate} at the entry${opts.readPlate === false ? " (plate not read)" : ""}`, laneId);
    lane.vehicle = { phase: "at_loop", plate };
    if (opts.readPlate !== false) await this.readPlate(laneId, plate);
    lane.field.presence(true);
    return plate;
  }

  /** The lane's camera reads a plate (site LAN only). */
  async readPlate(laneId: string, plate: string): Promise<void> {
    await this.gateway.services.siteBroker.publish(siteTopic("lprPlate"), JSON.stringify({ ts: Date.now(), src: `lpr-${laneId}`, lane_id: laneId, plate, confidence: 0.96 }), { qos: 1, retain: false });
  }

  /** The driver presses the entry terminal's ticket key. */
  pressTicket(laneId: string): void {
    this.step("driver presses the ticket key", laneId);
    this.fieldVerb(laneId, "pressTicket")();
  }

  /** The lane's scanner reads `text` (a ticket or a validation at the pay station, a reservation at the entry). */
  scan(laneId: string, text: string): void {
    this.step(`scanner reads ${text.slice(0, 12)}…`, laneId);
    this.fieldVerb(laneId, "scan")(text);
  }

  /** The driver presses the pay station's lost-ticket key. */
  pressLost(laneId: string): void {
    this.step("driver presses the lost-ticket key", laneId);
    this.fieldVerb(laneId, "pressLost")();
  }

  /** The tickets the entry terminal's printer printed, oldest first. */
  printed(laneId: string): readonly PrintedTicket[] {
    return this.fieldVerb(laneId, "printed")();
  }

  /** Waits for the entry terminal to print a new ticket (after `before` tickets) and returns it. */
  async ticketPrinted(laneId: string, before: number, timeoutMs = 10_000): Promise<PrintedTicket> {
    await this.waitUntil(() => this.printed(laneId).length > before, timeoutMs, `a ticket printed at ${laneId}`);
    return this.printed(laneId)[before];
  }

  /** The car drove in: it is past the boom and the gateway reported parking/entry for it. Returns that message. */
  async carEntered(laneId: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const before = this.seen("entry", laneId).length;
    await this.vehiclePasses(laneId, timeoutMs);
    await this.waitUntil(() => this.seen("entry", laneId).length > before, timeoutMs, `parking/entry from ${laneId}`);
    return this.seen("entry", laneId)[before];
  }

  /** The entry decision the cloud sent for this lane after `before` decisions. */
  async entryDecision(laneId: string, before: number, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    await this.waitUntil(() => this.seen("entry/decision", laneId).length > before, timeoutMs, `parking/entry/decision for ${laneId}`);
    return this.seen("entry/decision", laneId)[before];
  }

  private fieldVerb<K extends "pressTicket" | "scan" | "pressLost" | "printed">(laneId: string, verb: K): NonNullable<import("./lane-field").LaneField[K]> {
    const f = this.lane(laneId).field[verb];
    if (!f) throw new Error(`lane ${laneId} has no ${verb} on this target`);
    return f as NonNullable<import("./lane-field").LaneField[K]>;
  }
}
