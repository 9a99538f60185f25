#!/usr/bin/env node
// The `syspark` CLI. The sources are TypeScript; tsx compiles them on load so that a fresh
// clone runs without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/main.ts");
await main(process.argv);
