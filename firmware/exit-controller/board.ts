/**
 * Board layer of the exit controller: wires the pure state machine to ECMA-419 I/O. It takes
 * the host's `device`, the manifest config and a clock, so the very same code runs on the MCU
 * (xs/main.ts) and in the Node simulator (sim/boards). The parts both roles have are wired by
 * ./board-common.ts; the exit adds its keypad and the lost-ticket button.
 */
import type { DigitalIO } from "../common/io/board-host";
import { KeypadMatrix } from "../common/io/keypad-matrix";
import type { LinkSession } from "../common/link/session";
import { guard, startLane, type LaneHost } from "./board-common";
import { parseExitConfig } from "./core/config";
import { ExitController } from "./core/controller";

export interface ExitBoard {
  role: "exit";
  controller: ExitController;
  link: LinkSession;
  close(): void;
}

export function startExitController(host: LaneHost): ExitBoard {
  const config = parseExitConfig(host.config);
  const lane = startLane(host, {
    board: "exit-controller",
    role: "exit",
    config,
    attach({ Digital, clock, trace, ports, reschedule }) {
      const controller = new ExitController(config, ports);
      let scanTimer: unknown;
      const keypad = new KeypadMatrix(Digital, config.pins.keypadRows, config.pins.keypadCols, (key) => {
        controller.key(key, clock.now());
        reschedule();
      });
      // The pay station's lost-ticket button, where the manifest fits one.
      const lostPin = config.pins.lostButton;
      const lost: DigitalIO | undefined = lostPin === undefined ? undefined : new Digital({
        pin: lostPin, mode: Digital.InputPullUp, edge: Digital.Falling,
        onReadable() { guard(trace, "lost button", () => controller.button("lost", clock.now())); reschedule(); },
      });
      function scan(): void {
        guard(trace, "keypad", () => keypad.scan());
        scanTimer = clock.schedule(scan, config.keypadScanMs);
      }
      return {
        controller,
        start: scan,
        close() {
          clock.cancel(scanTimer);
          keypad.close();
          lost?.close();
        },
      };
    },
  });
  return { role: "exit", ...lane };
}
