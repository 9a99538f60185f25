/**
 * What an identity arranged before its exit (issue 16): an active permit for its plate, a
 * prepayment, a card held at entry — and what was declared or presented for the session on its
 * way out (issue 18: a validation, a lost ticket, a reservation). The exit request asks once, in ONE round trip, before calling
 * the modules that own each (flows/permits.ts, prepay.ts, hold-exit.ts): most exits have none, and
 * the pay-at-exit path must not pay for them (`bench cloud`: three or four extra round trips per
 * exit request, inside its transaction, had cut the paid exits per commit by a fifth).
 *
 * Each flag is a SUPERSET of what its module looks for (any prepayment of the plate, any hold of
 * the identity): false means the module would certainly find nothing, so skipping it changes no
 * outcome; true only means "ask the module", which decides (and locks) as before.
 */
import type { Q } from "./types";

export interface Prearranged {
  /** An active permit for the plate (activePermitOfPlate). */
  permit: boolean;
  /** A prepayment of the plate at this site, or one this session already consumed (lockPrepaymentForSession). */
  prepaid: boolean;
  /** A hold of the identity at this site, or a claim of this session still being captured (findUsableHold, refreshPendingClaim). */
  hold: boolean;
  /** A merchant validation, a lost-ticket declaration or a reservation for this session (flows/pricing-extras.ts). */
  extras: boolean;
}

export async function prearrangedFor(
  q: Q,
  /** plate: the session's plate in its canonical form (domain/plates.ts), null for a badge or ticket. */
  input: { siteId: string; sessionId: string; identityMethod: string; identityValue: string; plate: string | null },
): Promise<Prearranged> {
  const [row] = await q<Prearranged[]>`
    SELECT
      ${input.plate}::text IS NOT NULL AND EXISTS (SELECT 1 FROM permits WHERE site_id = ${input.siteId} AND plate = ${input.plate} AND status = 'active') AS permit,
      EXISTS (SELECT 1 FROM prepayments WHERE consumed_session_id = ${input.sessionId})
        OR (${input.plate}::text IS NOT NULL AND EXISTS (SELECT 1 FROM prepayments WHERE site_id = ${input.siteId} AND plate = ${input.plate})) AS prepaid,
      EXISTS (SELECT 1 FROM hold_authorizations WHERE site_id = ${input.siteId} AND identity_method = ${input.identityMethod} AND identity_value = ${input.identityValue})
        OR EXISTS (SELECT 1 FROM hold_authorizations WHERE exit_session_id = ${input.sessionId} AND exit_state = 'pending') AS hold,
      EXISTS (SELECT 1 FROM session_validations WHERE session_id = ${input.sessionId})
        OR EXISTS (SELECT 1 FROM lost_ticket_declarations WHERE session_id = ${input.sessionId})
        OR EXISTS (SELECT 1 FROM reservations WHERE session_id = ${input.sessionId}) AS extras`;
  return row;
}
