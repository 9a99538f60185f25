// Entry of the lin board's worker thread: a worker does not inherit the main thread's tsx
// loader, so it registers its own before loading the TypeScript.
import { register } from "tsx/esm/api";

register();
await import("./lin-board-worker.ts");
