// Loaded into a part under test with NODE_OPTIONS="--import <this file>" (node refuses --cpu-prof
// there): the first SIGUSR2 starts V8's CPU profiler, the second stops it and writes the profile
// to $SYSPARK_BENCH_CPU_PROF_FILE, so that the profile covers the bench's load window only.
// Plain JavaScript: it is loaded before any TypeScript loader.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import process from "node:process";

const file = process.env.SYSPARK_BENCH_CPU_PROF_FILE;
if (file) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on("SIGUSR2", () => {
    if (!running) {
      running = true;
      session.post("Profiler.enable", () => session.post("Profiler.setSamplingInterval", { interval: 500 }, () => session.post("Profiler.start")));
      return;
    }
    running = false;
    session.post("Profiler.stop", (err, result) => {
      writeFileSync(file, err ? JSON.stringify({ error: String(err) }) : JSON.stringify(result.profile));
    });
  });
}
