/**
 * The MCU's path to the FPGA safety core on a real board: SPI, through the core's SPI-to-CSR
 * bridge. Structural subsets of ECMA-419 `embedded:io/spi` (the real `device.io.SPI`
 * satisfies them, the Node simulator supplies its own) and the bus adapter that turns register
 * reads and writes into SPI frames.
 *
 * Frame (5 bytes, mode 0, MSB first, one frame per chip-select assertion):
 *   byte 0: bit 7 = 1 write / 0 read, bits 6..4 reserved (0), bits 3..0 = CSR address
 *   bytes 1..4: write → the 32-bit value, big-endian; read → the bridge shifts out the
 *               register latched at the end of byte 0, big-endian (the MCU sends zeros).
 * A write is one `csr_we` cycle in the core (CTRL bits are write-one pulses); a read has no
 * side effect. The frame buffer is allocated once (bounded memory).
 */

export interface SpiIO {
  /** Full duplex, in place: the buffer's bytes go out, the bytes read replace them. */
  transfer(buffer: ArrayBuffer | ArrayBufferView): void;
  close(): void;
}

export interface SpiOptions {
  port?: number | string;
  clock: number | string;
  out?: number | string;
  in?: number | string;
  select?: number | string;
  active?: 0 | 1;
  hz: number;
  mode?: number;
}

export interface SpiClass {
  new (options: SpiOptions): SpiIO;
}

/** Register access to the safety core: SPI on the board, the cycle-accurate model in simulation. */
export interface CoreBus {
  read(addr: number): number;
  write(addr: number, value: number): void;
}

export const SPI_FRAME_BYTES = 5;
export const SPI_WRITE = 0x80;

export class SpiCoreBus implements CoreBus {
  private readonly frame = new Uint8Array(SPI_FRAME_BYTES);

  constructor(private readonly spi: SpiIO) {}

  read(addr: number): number {
    const f = this.frame;
    f[0] = addr & 0x0f;
    f[1] = 0; f[2] = 0; f[3] = 0; f[4] = 0;
    this.spi.transfer(f);
    return ((f[1] << 24) | (f[2] << 16) | (f[3] << 8) | f[4]) >>> 0;
  }

  write(addr: number, value: number): void {
    const f = this.frame;
    f[0] = SPI_WRITE | (addr & 0x0f);
    f[1] = (value >>> 24) & 0xff;
    f[2] = (value >>> 16) & 0xff;
    f[3] = (value >>> 8) & 0xff;
    f[4] = value & 0xff;
    this.spi.transfer(f);
  }

  close(): void {
    this.spi.close();
  }
}

/** The other end of the wire, for simulators: decode one frame and answer it in place. */
export function serveSpiFrame(frame: Uint8Array, bus: CoreBus): void {
  if (frame.length !== SPI_FRAME_BYTES) return;
  const addr = frame[0] & 0x0f;
  if (frame[0] & SPI_WRITE) {
    bus.write(addr, ((frame[1] << 24) | (frame[2] << 16) | (frame[3] << 8) | frame[4]) >>> 0);
    return;
  }
  const v = bus.read(addr);
  frame[1] = (v >>> 24) & 0xff;
  frame[2] = (v >>> 16) & 0xff;
  frame[3] = (v >>> 8) & 0xff;
  frame[4] = v & 0xff;
}
