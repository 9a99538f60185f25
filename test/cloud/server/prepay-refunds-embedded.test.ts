/** Unused prepayments refunded (issue 16) on embedded defaults: PGlite, aedes, the Stripe test emulator. */
import { startEmbedded } from "./helpers";
import { prepayRefundsSuite } from "./prepay-refunds-suite";

prepayRefundsSuite("prepayment refunds on embedded defaults (PGlite)", () => startEmbedded());
