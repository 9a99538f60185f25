/**
 * The safety core as the executor sees it, over its register map (fpga/regmap.ts — the one
 * source of truth shared with the RTL, the model and the co-simulation): STATUS decoded into a
 * `CoreStatus`, commands as write-one pulses to CTRL, the identity and the watchdog window
 * read back at start-up. The bus is SPI on a board and the cycle-accurate model in simulation.
 */
import { CORE_ID, CTRL, FAULT_NAMES, REG, STATE_NAMES, STATUS } from "../fpga/regmap";
import type { CoreBus } from "../spi-bus";
import type { CoreCommand, CoreDriver, CoreIdentity, CoreStatus } from "./core-status";

const COMMAND_BITS: Readonly<Record<CoreCommand, number>> = Object.freeze({
  open: CTRL.OPEN,
  close: CTRL.CLOSE,
  stop: CTRL.STOP,
  reset: CTRL.FAULT_RESET,
  heartbeat: CTRL.HEARTBEAT,
});

/** Fault code as sent on the link: the register map's name, upper-case (OVER_CURRENT, …). */
export function faultName(code: number): string | undefined {
  if (code === 0) return undefined;
  const name = FAULT_NAMES[code];
  return name === undefined ? `FAULT_${code}` : name.toUpperCase();
}

export function decodeStatus(word: number): CoreStatus {
  const bit = (mask: number) => (word & mask) !== 0;
  const faultCode = (word & STATUS.FAULT_CODE_MASK) >>> STATUS.FAULT_CODE_SHIFT;
  return {
    state: STATE_NAMES[word & STATUS.STATE_MASK],
    fault: bit(STATUS.FAULT),
    motorUp: bit(STATUS.MOTOR_UP),
    motorDown: bit(STATUS.MOTOR_DOWN),
    brake: bit(STATUS.BRAKE),
    limOpen: bit(STATUS.LIMIT_OPEN),
    limClosed: bit(STATUS.LIMIT_CLOSED),
    obstruction: bit(STATUS.OBSTRUCTION),
    overCurrent: bit(STATUS.OVER_CURRENT),
    emergency: bit(STATUS.EMERGENCY),
    sensorOk: bit(STATUS.SENSOR_OK),
    heartbeatOk: bit(STATUS.HEARTBEAT_OK),
    closeInhibit: bit(STATUS.CLOSE_INHIBIT),
    obstructionSeen: bit(STATUS.OBSTRUCTION_SEEN),
    revUp: bit(STATUS.REVERSE_UP),
    faultCode,
    faultName: faultName(faultCode),
  };
}

export class RegisterCore implements CoreDriver {
  constructor(private readonly bus: CoreBus) {}

  identify(): CoreIdentity {
    const id = this.bus.read(REG.ID) >>> 0;
    const clockHz = this.bus.read(REG.CFG_CLK_HZ) >>> 0;
    const perMs = clockHz / 1000;
    // Same register-map major version (the low byte is the minor version).
    const compatible = (id & 0xffffff00) === ((CORE_ID & 0xffffff00) >>> 0) && clockHz > 0;
    return {
      id,
      compatible,
      watchdogMs: compatible ? (this.bus.read(REG.CFG_WATCHDOG) >>> 0) / perMs : 0,
      runTimeoutMs: compatible ? (this.bus.read(REG.CFG_RUN_TIMEOUT) >>> 0) / perMs : 0,
    };
  }

  status(): CoreStatus {
    return decodeStatus(this.bus.read(REG.STATUS));
  }

  command(command: CoreCommand): void {
    this.bus.write(REG.CTRL, COMMAND_BITS[command]);
  }
}
