/**
 * What every board's XS entry point (firmware/<board>/xs/main.ts) hands its board layer: the
 * host provider, the manifest config, the Timer as the board clock, trace() as its diagnostics,
 * and a boot counter kept in flash preferences — per board kind and lane, since the lin builds of
 * both boards share one preferences store (see ../io/boot-counter.ts).
 *
 * Not preloaded (the manifests list it under `modules` only): it imports the host provider, whose
 * lin version opens the simulator's serial devices when it loads.
 */
import device from "embedded:provider/builtin";
import config from "mc/config";
import Preference from "preference";
import Timer from "timer";
import { nextBootCount, type BoardKind } from "../io/boot-counter";
import type { BoardClock, Trace } from "../io/board-host";

export interface XsHost<Device> {
  device: Device;
  config: Record<string, unknown>;
  clock: BoardClock;
  bootCount: number;
  trace: Trace;
}

/** The host of a board of `kind` (`exit-controller`, `barrier-executor`): counts this boot. */
export function xsHost<Device>(kind: BoardKind): XsHost<Device> {
  const lane = typeof config.lane === "string" ? config.lane : "";
  return {
    device: device as unknown as Device,
    config: config as Record<string, unknown>,
    bootCount: nextBootCount(Preference, kind, lane),
    clock: {
      now: () => Date.now(),
      schedule: (callback, delayMs) => Timer.set(() => callback(), delayMs),
      cancel: (handle) => Timer.clear(handle as ReturnType<typeof Timer.set> | undefined),
    },
    trace: (text) => trace(text),
  };
}
