/**
 * Board layer of the barrier executor: wires the pure state machine to ECMA-419 I/O — the
 * gateway UART (`device.io.Serial`) and the FPGA safety core on SPI (`device.io.SPI`, through
 * SpiCoreBus and the core's register map). The limit switches, the obstruction sensor, the
 * over-current comparator and the emergency input are wired to the FPGA, not to the MCU: the
 * MCU only sees them through the STATUS register. It takes the host's `device`, the manifest
 * config and a clock, so the very same code runs on the MCU (xs/main.ts), in the Moddable
 * Linux simulator (xs/lin-provider.ts) and in the Node simulator (sim/boards).
 */
import type { BoardClock, SerialClass, SerialIO, Trace } from "../common/io/board-host";
import { LinkSession } from "../common/link/session";
import { writeSerialLine } from "../common/link/serial-write";
import { parseBarrierConfig } from "./core/config";
import { BarrierExecutor } from "./core/executor";
import { RegisterCore } from "./core/safety-core";
import { SpiCoreBus, type SpiClass } from "./spi-bus";

/** What the barrier executor needs from its host provider. */
export interface BarrierDevice {
  io: { Serial: SerialClass; SPI: SpiClass };
}

export interface BarrierBoard {
  executor: BarrierExecutor;
  link: LinkSession;
  close(): void;
}

function bytesOf(data: ArrayBuffer | number | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  if (typeof data === "number") return new Uint8Array([data]);
  return new Uint8Array(data);
}

export function startBarrierExecutor(host: { device: BarrierDevice; config: Record<string, unknown>; clock: BoardClock; bootCount: number; trace?: Trace }): BarrierBoard {
  const { device, clock } = host;
  const config = parseBarrierConfig(host.config);
  const { Serial, SPI } = device.io;
  const trace = host.trace ?? (() => {});
  let wakeTimer: unknown;

  const spi = new SPI({ ...config.spi, active: 0 });
  const bus = new SpiCoreBus(spi);
  const gateway: SerialIO = new Serial({
    ...config.gatewaySerial, format: "buffer",
    onReadable() { link.receiveBytes(bytesOf(this.read()), clock.now()); reschedule(); },
  });
  const link: LinkSession = new LinkSession({
    self: { kind: "barrier-executor", fw: config.fwVersion, boot: host.bootCount, lane: config.lane },
    receives: "down",
    timing: config.link,
    write: (line) => writeSerialLine(gateway, line),
    onMessage: (type, fields, now) => executor.onMessage(type, fields, now),
    onPeerHello: (_fields, now) => executor.onPeerHello(now),
    onLinkChange: (up) => trace(`link ${up ? "up" : "down"}\n`),
    onGiveUp: (type) => trace(`link: gave up on ${type}\n`),
  });
  const executor: BarrierExecutor = new BarrierExecutor(config, new RegisterCore(bus), {
    send: (type, fields) => { link.send(type, fields, clock.now()); },
  });

  function reschedule(): void {
    if (wakeTimer !== undefined) clock.cancel(wakeTimer);
    const now = clock.now();
    const next = Math.min(link.nextDeadline(), executor.nextDeadline());
    wakeTimer = clock.schedule(wake, Math.max(0, Math.min(next - now, 60000)));
  }
  function wake(): void {
    wakeTimer = undefined;
    const now = clock.now();
    link.tick(now);
    executor.tick(now);
    reschedule();
  }

  const now = clock.now();
  link.start(now);
  executor.start(now);
  reschedule();
  trace(`barrier-executor ${config.fwVersion} lane ${config.lane} boot ${host.bootCount}\n`);

  return {
    executor, link,
    close() {
      clock.cancel(wakeTimer);
      wakeTimer = undefined;
      gateway.close();
      bus.close();
    },
  };
}
