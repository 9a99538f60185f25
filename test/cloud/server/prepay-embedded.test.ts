/** Estimate and prepay (issue 16 items 2 and 3) on embedded defaults: PGlite, aedes, the Stripe test emulator. */
import { startEmbedded } from "./helpers";
import { prepaySuite } from "./prepay-suite";

prepaySuite("estimate and prepay on embedded defaults (PGlite)", () => startEmbedded());
