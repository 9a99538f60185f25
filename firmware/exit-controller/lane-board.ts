/**
 * The lane controller's entry point on any host: one board class, one firmware, two roles — the
 * manifest config's `role` ("exit" by default, "entry") picks the board layer. Both roles share
 * the link, the badge reader, the scanner, the display and the loop handling (./board-common.ts,
 * core/lane-controller.ts); each has its own steps (core/controller.ts, core/entry-controller.ts),
 * since their sequences differ in every step between "present" and "authorised".
 */
import type { LaneHost } from "./board-common";
import { startExitController, type ExitBoard } from "./board";
import { laneRole } from "./core/config";
import { startEntryTerminal, type EntryBoard } from "./entry-board";

export function startLaneController(host: LaneHost): ExitBoard | EntryBoard {
  return laneRole(host.config) === "entry" ? startEntryTerminal(host) : startExitController(host);
}
