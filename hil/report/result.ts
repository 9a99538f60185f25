/** One scenario's outcome, as the runner records it and the reports (JUnit, HTML) show it. */
import type { TimelineData } from "../harness/timeline";

export interface ScenarioResult {
  title: string;
  fullTitle: string;
  suite: string;
  state: "passed" | "failed" | "infra" | "skipped";
  durationMs: number;
  error?: { name: string; message: string; stack?: string };
  /** Failures before the final attempt (the scenario was retried): a flaky scenario when it then passed. */
  retried?: string[];
  timeline?: TimelineData;
  logs: { name: string; path: string }[];
  laneTimeMs: number;
}
