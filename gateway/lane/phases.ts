/**
 * The lane's phases and the moves between them, in one table (as the cloud keeps its state
 * machines in cloud/domain/state-machines.ts): the orchestrator changes phase only through
 * `LaneOrchestrator.enter`, which checks this table, and a test drives random event sequences to
 * prove no other move is ever attempted.
 *
 *   idle ─vehicle─▶ identifying ─exit/req─▶ awaiting_cloud ─payment/req─▶ awaiting_payment
 *        ╲                 ╲                        ╲                            │
 *         ╲                 ╰──── offline badge/PIN, zero fee, success ──▶ authorised ─both keys─▶ opening ─▶ open
 *          ╰──────────────────── operator override (any phase with a vehicle) ──╯
 *   any ─executor fault / link down─▶ fault ─cleared─▶ idle | identifying
 *   any but fault ─flow ends (vehicle gone, denied, exited)─▶ idle | identifying
 *
 * A gateway restarted mid-exit takes a flow back from the controller's re-sync (idle or
 * identifying → awaiting_payment / awaiting_cloud), and an operator's override authorises the
 * car on the loop whatever the lane was doing with it.
 */
export const PHASES = ["idle", "identifying", "awaiting_cloud", "awaiting_payment", "authorised", "opening", "open", "fault"] as const;
export type Phase = (typeof PHASES)[number];

/** From → the phases it may move to. Staying in the same phase is always allowed. */
export const LANE_TRANSITIONS: Readonly<Record<Phase, readonly Phase[]>> = Object.freeze({
  idle: ["identifying", "awaiting_cloud", "awaiting_payment", "authorised", "fault"],
  identifying: ["idle", "awaiting_cloud", "awaiting_payment", "authorised", "fault"],
  awaiting_cloud: ["idle", "identifying", "awaiting_payment", "authorised", "fault"],
  awaiting_payment: ["idle", "identifying", "awaiting_cloud", "authorised", "fault"],
  authorised: ["idle", "identifying", "opening", "open", "fault"],
  opening: ["idle", "identifying", "authorised", "open", "fault"],
  open: ["idle", "identifying", "authorised", "fault"],
  fault: ["idle", "identifying"],
} satisfies Record<Phase, readonly Phase[]>);

export function canEnter(from: Phase, to: Phase): boolean {
  return from === to || LANE_TRANSITIONS[from].includes(to);
}
