/**
 * What the exit flow and the webhook dispatch need from holds (issue 16 item 4), as interfaces:
 * site-events.ts and payments.ts depend on these, not on the hold modules (no import circle).
 */
import type Stripe from "stripe";
import type { Payload } from "../../contracts/mqtt-topics";
import type { SessionRow, Tx } from "../db/index";

/** The exit request's one call into holds (cloud/flows/hold-exit.ts), inside its transaction. */
export interface HoldExitHook {
  /**
   * A priced exit with a fee: if this identity has a usable hold (authorised, or expired with a
   * saved card), claim it for the session and return true — the lane hears payment/success once
   * the capture is applied, or `paymentReq` (this one) if it fails. False: the normal flow.
   * A zero fee (free stay): the hold is claimed to be released; returns false.
   */
  atExit(tx: Tx, session: SessionRow, paymentReq: Payload<"paymentReq"> | null): Promise<boolean>;
}

/** Routes the hold PaymentIntents' webhooks (metadata.kind); undefined: the normal dispatch goes on. */
export interface HoldWebhookHandler {
  onEvent(tx: Tx, event: Stripe.Event): Promise<string | undefined>;
}
