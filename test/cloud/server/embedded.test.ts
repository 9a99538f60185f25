/** The cloud end to end on embedded defaults: PGlite, in-process aedes, the Stripe test emulator. */
import { startEmbedded } from "./helpers";
import { cloudSuite } from "./suite";

cloudSuite("cloud on embedded defaults (PGlite, aedes, Stripe test emulator)", () => startEmbedded(), { cli: true });
