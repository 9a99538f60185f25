/**
 * THE byte stream of the project: what a serial link, a simulated board's UART or a peripheral
 * (RFID reader, display) reads from and writes to — a real serial device, a pty, an in-memory
 * cable (host/link/streams.ts). Everything that carries bytes takes this one interface, so a pty,
 * a USB adapter and an in-process pair are all the same to the code above it.
 */
export interface ByteStream {
  write(bytes: Uint8Array): void;
  /** Registers the single consumer of received bytes (a later call replaces it). */
  setReceiver(receiver: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

/** A stream that is opened first and may come and go: a serial device that can be unplugged. */
export interface DeviceStream extends ByteStream {
  readonly isOpen: boolean;
  /** Opens the device; throws naming it if it cannot. */
  open(): Promise<void>;
  /** Like open(), but a device that is not there yet is retried in the background; resolves to
   *  whether it is open now. */
  openEventually(): Promise<boolean>;
}
