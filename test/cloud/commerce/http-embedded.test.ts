/** Issue 18's commerce pages on embedded defaults: PGlite, aedes, the Stripe test emulator. */
import { startEmbedded } from "../server/helpers";
import { commerceHttpSuite } from "./http-suite";

commerceHttpSuite("merchant, pay-page validation, reservation pages on embedded defaults (PGlite)", () => startEmbedded());
