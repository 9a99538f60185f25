/**
 * A LinkSession on any byte transport (an in-memory cable between a simulated board and the
 * gateway in the same process, used where no pty can be made). Same surface as SerialLink, so
 * the gateway runtime does not care which it has.
 */
import { asciiBytes } from "../firmware/common/link/line-buffer";
import { LinkSession, type LinkOptions } from "../firmware/common/link/session";
import type { Fields } from "../firmware/common/link/frame";
import { LinkTicker } from "./link-ticker";

export interface ByteTransport {
  write(bytes: Uint8Array): void;
  setReceiver(receiver: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

export class TransportLink {
  readonly session: LinkSession;
  private readonly ticker: LinkTicker;

  constructor(private readonly transport: ByteTransport, options: Omit<LinkOptions, "write">) {
    this.session = new LinkSession({ ...options, write: (line) => transport.write(asciiBytes(line)) });
    this.ticker = new LinkTicker(this.session, Date.now);
    transport.setReceiver((bytes) => {
      this.session.receiveBytes(bytes, Date.now());
      this.schedule();
    });
  }

  async openEventually(): Promise<boolean> {
    this.session.start(Date.now());
    this.schedule();
    return true;
  }

  send(type: string, fields: Fields): boolean {
    const ok = this.session.send(type, fields, Date.now());
    this.schedule();
    return ok;
  }

  async close(): Promise<void> {
    this.ticker.stop();
    await this.transport.close();
  }

  private schedule(): void {
    this.ticker.schedule();
  }
}
