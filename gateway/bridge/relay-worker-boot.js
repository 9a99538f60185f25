// Entry of the relay's worker thread. A worker does not inherit the main thread's tsx loader
// (bin/syspark.js registers it programmatically), so it registers its own before loading the
// TypeScript.
import { register } from "tsx/esm/api";

register();
await import("./relay-worker.ts");
