/**
 * Entry point on Moddable XS (mcconfig builds it from manifests/exit-controller.json). Only
 * wiring: the host provider, the manifest config, the Timer, and a boot counter kept in
 * flash preferences.
 */
import device from "embedded:provider/builtin";
import config from "mc/config";
import Preference from "preference";
import Timer from "timer";
import { nextBootCount } from "../../common/io/boot-counter";
import type { BoardDevice } from "../../common/io/board-host";
import { startExitController } from "../board";

// Per board kind and lane (see boot-counter.ts): the lin builds share one preferences store.
const boot = nextBootCount(Preference, "exit-controller", typeof config.lane === "string" ? config.lane : "");

startExitController({
  device: device as unknown as BoardDevice,
  config: config as Record<string, unknown>,
  bootCount: boot,
  clock: {
    now: () => Date.now(),
    schedule: (callback, delayMs) => Timer.set(() => callback(), delayMs),
    cancel: (handle) => Timer.clear(handle as ReturnType<typeof Timer.set> | undefined),
  },
  trace: (text) => trace(text),
});
