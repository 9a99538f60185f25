/**
 * What the harness can do to a lane's field and read back from it — the same verbs on every
 * target: the simulator's pins and plant (sim), the field-I/O channel of boards on XS (xs), a rig's
 * I/O emulator (rig).
 */
export interface LaneField {
  presence(on: boolean): void;
  vehicleUnder(on: boolean): void;
  badge(uid: string): void;
  typeKeys(keys: string): Promise<void>;
  jam(on: boolean): void;
  emergency(on: boolean): void;
  freezeHeartbeat(on: boolean): void;
  reset(board: "exit" | "barrier"): Promise<void>;
  /** What the plant says (sim, xs), or undefined when only the gateway's view is known (rig). */
  observe(): { boomPct: number; motorUp: boolean; motorDown: boolean; coreState: string; presence: boolean; vehicleUnder: boolean; emergency: boolean } | undefined;
  /** The exit display's lines, where the harness reads them back (sim, xs). */
  display?(): string[];
  /** The pay station's or the entry terminal's QR / barcode scanner reads `text` (sim). */
  scan?(text: string): void;
  /** The pay station's lost-ticket key (sim). */
  pressLost?(): void;
  /** Entry terminal (sim): the ticket key, and the tickets its printer printed. */
  pressTicket?(): void;
  printed?(): readonly { ticketId: string; code: string; qr: string; lines: string[] }[];
}
