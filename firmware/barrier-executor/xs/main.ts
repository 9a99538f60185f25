/**
 * Entry point on Moddable XS (mcconfig builds it from manifests/barrier-executor.json). Only
 * wiring: the host provider (its SPI reaches the FPGA safety core, its Serial the gateway), the
 * manifest config, the Timer, and a boot counter kept in flash preferences.
 */
import device from "embedded:provider/builtin";
import config from "mc/config";
import Preference from "preference";
import Timer from "timer";
import { nextBootCount } from "../../common/io/boot-counter";
import { startBarrierExecutor, type BarrierDevice } from "../board";

// Per board kind and lane (see boot-counter.ts): the lin builds share one preferences store.
const boot = nextBootCount(Preference, "barrier-executor", typeof config.lane === "string" ? config.lane : "");

startBarrierExecutor({
  device: device as unknown as BarrierDevice,
  config: config as Record<string, unknown>,
  bootCount: boot,
  clock: {
    now: () => Date.now(),
    schedule: (callback, delayMs) => Timer.set(() => callback(), delayMs),
    cancel: (handle) => Timer.clear(handle as ReturnType<typeof Timer.set> | undefined),
  },
  trace: (text) => trace(text),
});
