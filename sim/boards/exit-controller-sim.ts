/**
 * A simulated exit controller: the real firmware (board layer + core) running on Node behind
 * the simulated `device` provider. Its gateway UART is a real serial device (a socat pty in
 * tests) or an in-memory cable; its field inputs — loop detector, RFID reader, keypad, help
 * button, code scanner, lost-ticket button — are driven by the harness, and its display is read
 * back from the bytes the firmware sends to the display UART. What it shares with the entry
 * terminal is in ./lane-controller-sim.ts.
 */
import { startExitController, type ExitBoard } from "../../firmware/exit-controller/board";
import type { LaneHost } from "../../firmware/exit-controller/board-common";
import { KEYPAD_LAYOUT } from "../../firmware/common/io/keypad-matrix";
import type { ByteStream } from "../../host/link/byte-stream";
import { openLaneTransport, SimulatedLaneController, type SimLaneOptions } from "./lane-controller-sim";
import type { VirtualClock } from "./virtual-clock";

export { decodeDisplayBytes, type DisplayContent } from "./lane-controller-sim";
export type SimExitOptions = SimLaneOptions;

export class SimulatedExitController extends SimulatedLaneController<ExitBoard> {
  private pressed = new Set<string>();

  private constructor(options: SimExitOptions, transport: ByteStream) {
    super(options, transport, "exit-controller");
  }

  static async start(options: SimExitOptions): Promise<SimulatedExitController> {
    const sim = new SimulatedExitController(options, await openLaneTransport(options, "simulated exit controller"));
    sim.boot();
    return sim;
  }

  private get pinConfig(): { lostButton?: number | string; keypadRows: (number | string)[]; keypadCols: (number | string)[] } {
    return this.config.pins as never;
  }

  protected override roleSerials(): [string, ByteStream][] { return []; }
  protected override roleButtons(): (number | string | undefined)[] { return [this.pinConfig.lostButton]; }

  protected override wireRoleInputs(): void {
    const { keypadRows, keypadCols } = this.pinConfig;
    // The keypad matrix: a column reads low while a pressed key's row is driven low.
    keypadCols.forEach((col, c) => this.pins.attachResolver(col, () => {
      for (let r = 0; r < 4; r++) {
        if (this.pressed.has(KEYPAD_LAYOUT[r * 3 + c]) && this.pins.level(keypadRows[r]) === 0) return 0;
      }
      return 1;
    }));
  }

  protected override startFirmware(host: LaneHost): ExitBoard { return startExitController(host); }

  // ---- field inputs, as a rig's I/O emulator would drive them

  /** Press and release each key long enough for the keypad scan to see it. */
  async typeKeys(keys: string, wait: (ms: number) => Promise<void> | void): Promise<void> {
    const scan = Number(this.config.keypadScanMs);
    for (const key of keys) {
      if (!KEYPAD_LAYOUT.includes(key)) throw new Error(`typeKeys: no key "${key}" on the keypad`);
      this.pressed.add(key);
      await wait(scan * 3);
      this.pressed.delete(key);
      await wait(scan * 3);
    }
  }

  /** The "lost ticket" button. */
  pressLost(): void {
    const { lostButton } = this.pinConfig;
    if (lostButton === undefined) throw new Error("pressLost: this lane's manifest has no pins.lostButton");
    this.press(lostButton);
  }
}

/** A `wait` for typeKeys on a virtual clock. */
export function virtualWait(clock: VirtualClock): (ms: number) => void {
  return (ms) => clock.advance(ms);
}
