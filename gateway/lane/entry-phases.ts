/**
 * The entry lane's phases and the moves between them, in one table (as ./phases.ts does for the
 * exit): `EntryOrchestrator.enter` is the only place the phase changes and it checks this table;
 * a test drives random event sequences to prove no other move is ever attempted.
 *
 *   idle ─vehicle─▶ identifying ─entry/req─▶ awaiting_cloud ─admit─▶ admitted ─both keys─▶ opening ─▶ open
 *                        ╰──── offline permit / ticket, operator override ─────╯
 *   any ─executor fault / link down─▶ fault ─cleared─▶ idle | identifying
 *   any but fault ─flow ends (vehicle gone, refused, entered)─▶ idle | identifying
 */
export const ENTRY_PHASES = ["idle", "identifying", "awaiting_cloud", "admitted", "opening", "open", "fault"] as const;
export type EntryPhase = (typeof ENTRY_PHASES)[number];

/** From → the phases it may move to. Staying in the same phase is always allowed. */
export const ENTRY_TRANSITIONS: Readonly<Record<EntryPhase, readonly EntryPhase[]>> = Object.freeze({
  idle: ["identifying", "fault"],
  identifying: ["idle", "awaiting_cloud", "admitted", "fault"],
  awaiting_cloud: ["idle", "identifying", "admitted", "fault"],
  admitted: ["idle", "identifying", "opening", "open", "fault"],
  opening: ["idle", "identifying", "open", "fault"],
  open: ["idle", "identifying", "fault"],
  fault: ["idle", "identifying"],
} satisfies Record<EntryPhase, readonly EntryPhase[]>);

export function canEnterEntryPhase(from: EntryPhase, to: EntryPhase): boolean {
  return from === to || ENTRY_TRANSITIONS[from].includes(to);
}
