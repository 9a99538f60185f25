/**
 * The barrier executor's tunables. They come from the manifest's `config` block (read with
 * `mc/config` on XS, read from the same manifest file by the Node simulator): lane id, timings,
 * the SPI wiring to the safety core — never constants in code. A bad config refuses to start,
 * naming the exact key.
 */
import { configFields, type ConfigFields, type LinkTimingConfig, type SerialPortConfig } from "../../common/io/config-fields";

export type { LinkTimingConfig, SerialPortConfig };

const fields: ConfigFields = configFields("barrier-executor");
const { num, pin, obj, serial, linkTiming } = fields;

export interface SpiConfig {
  /** SPI controller (host) port number or name. */
  port: number | string;
  clock: number | string;
  out: number | string;
  in: number | string;
  select: number | string;
  hz: number;
  mode: number;
}

export interface BarrierConfig {
  lane: string;
  fwVersion: string;
  /** The safety core's heartbeat is written this often; must sit well inside its watchdog window. */
  heartbeatMs: number;
  /** The core's STATUS register is read this often. */
  pollMs: number;
  /** Nominal full travel time of the boom, for the position estimate between the limit switches. */
  travelMs: number;
  /** Once a vehicle has passed, the lane must stay clear this long before the boom closes by itself. */
  autoCloseDelayMs: number;
  /** Close by itself when the barrier was opened for a vehicle that never passed (0 = never). */
  noPassCloseMs: number;
  /** An OPEN or CLOSE not completed within this time ends with CMD_DONE timeout. */
  commandTimeoutMs: number;
  /** How many recent command ids are remembered (idempotence window). */
  cmdHistory: number;
  link: LinkTimingConfig;
  spi: SpiConfig;
  gatewaySerial: SerialPortConfig;
}

/** Validate the raw manifest config at start-up: a board with a bad config refuses to run. */
export function parseBarrierConfig(raw: Record<string, unknown>): BarrierConfig {
  const lane = fields.lane(raw);
  const fwVersion = raw.fwVersion === undefined ? "0.0.0" : raw.fwVersion;
  if (typeof fwVersion !== "string" || !/^[A-Za-z0-9._:-]{1,24}$/.test(fwVersion)) fields.fail("fwVersion", `expected a version id, got ${JSON.stringify(fwVersion)}`);
  const link = obj(raw.link, "link");
  const spi = obj(raw.spi, "spi");
  const config: BarrierConfig = {
    lane,
    fwVersion,
    heartbeatMs: num(raw, "heartbeatMs", 5, 10000, ""),
    pollMs: num(raw, "pollMs", 1, 1000, ""),
    travelMs: num(raw, "travelMs", 500, 60000, ""),
    autoCloseDelayMs: num(raw, "autoCloseDelayMs", 0, 600000, ""),
    noPassCloseMs: num(raw, "noPassCloseMs", 0, 3600000, ""),
    commandTimeoutMs: num(raw, "commandTimeoutMs", 1000, 600000, ""),
    cmdHistory: num(raw, "cmdHistory", 1, 256, ""),
    link: linkTiming(link),
    spi: {
      port: pin(spi.port, "spi.port"),
      clock: pin(spi.clock, "spi.clock"),
      out: pin(spi.out, "spi.out"),
      in: pin(spi.in, "spi.in"),
      select: pin(spi.select, "spi.select"),
      hz: num(spi, "hz", 1000, 50000000, "spi."),
      mode: num(spi, "mode", 0, 3, "spi."),
    },
    gatewaySerial: serial(raw.gatewaySerial, "gatewaySerial"),
  };
  if (config.pollMs > config.heartbeatMs) fields.fail("pollMs", `must not exceed heartbeatMs (${config.heartbeatMs}), got ${config.pollMs}`);
  if (config.commandTimeoutMs < config.travelMs) fields.fail("commandTimeoutMs", `must be at least travelMs (${config.travelMs}), got ${config.commandTimeoutMs}`);
  return config;
}
