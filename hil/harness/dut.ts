/**
 * A device under test as pytest-embedded sees one: a buffered, logged serial stream with
 * `expect(pattern, timeoutMs)`. The harness taps the byte transport between the board and the
 * gateway, so it sees every frame in both directions without taking the port from the gateway;
 * each DUT writes its own log file (decoded frames, corrupted lines marked `!!`).
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { decodeFrame } from "../../firmware/common/link/frame";
import { describeMessage } from "../../firmware/common/link/messages";
import type { ByteStream } from "../../host/link/byte-stream";

export interface DutLine {
  /** ms since the scenario started */
  t: number;
  dir: "rx" | "tx";
  raw: string;
  /** Decoded frame type, or undefined for a line that does not parse (noise). */
  type?: string;
  text: string;
}

/** A tapped transport: what the board sees. `injectToBoard` / `injectFromBoard` add raw bytes (noise). */
export interface TappedTransport extends ByteStream {
  injectToBoard(bytes: Uint8Array): void;
  injectFromBoard(bytes: Uint8Array): void;
}

export class Dut {
  readonly lines: DutLine[] = [];
  private partial = { rx: "", tx: "" };
  private waiters = new Set<() => void>();

  /** `name` e.g. "L1-exit"; rx = received by the board (from the gateway), tx = sent by the board. */
  constructor(readonly name: string, readonly logPath: string, private readonly t0: () => number, private readonly onLine?: (line: DutLine) => void) {
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, `# ${name}: serial log (rx = gateway → board, tx = board → gateway)\n`);
  }

  /** Wrap the board's end of its gateway link. */
  tap(inner: ByteStream): TappedTransport {
    let receiver: (bytes: Uint8Array) => void = () => {};
    inner.setReceiver((bytes) => { this.feed("rx", bytes); receiver(bytes); });
    return {
      write: (bytes) => { this.feed("tx", bytes); inner.write(bytes); },
      setReceiver: (r) => { receiver = r; },
      close: () => inner.close(),
      injectToBoard: (bytes) => { this.feed("rx", bytes); receiver(bytes); },
      injectFromBoard: (bytes) => { this.feed("tx", bytes); inner.write(bytes); },
    };
  }

  /** Wrap the gateway's end of the link (rig target: the harness opens the real port for the
   *  gateway). Bytes the gateway writes reach the board (rx); bytes read come from it (tx). */
  tapGatewaySide(inner: ByteStream): TappedTransport {
    let receiver: (bytes: Uint8Array) => void = () => {};
    inner.setReceiver((bytes) => { this.feed("tx", bytes); receiver(bytes); });
    return {
      write: (bytes) => { this.feed("rx", bytes); inner.write(bytes); },
      setReceiver: (r) => { receiver = r; },
      close: () => inner.close(),
      injectToBoard: (bytes) => { this.feed("rx", bytes); inner.write(bytes); },
      injectFromBoard: (bytes) => { this.feed("tx", bytes); receiver(bytes); },
    };
  }

  /** Wait until a line matching `pattern` (tested against the decoded text and the raw line) arrives after index `from`. */
  async expect(pattern: RegExp | string, timeoutMs = 5000, from = 0): Promise<DutLine> {
    const re = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ;) {
      for (; i < this.lines.length; i++) {
        const l = this.lines[i];
        if (re.test(`${l.dir} ${l.text}`) || re.test(l.raw)) return l;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no serial line matching ${re} within ${timeoutMs} ms; last lines:\n  ${this.lines.slice(-10).map((l) => `${l.dir} ${l.text}`).join("\n  ")}`);
      await new Promise<void>((resolve) => {
        const w = () => { clearTimeout(t); this.waiters.delete(w); resolve(); };
        const t = setTimeout(w, Math.min(left, 100));
        this.waiters.add(w);
      });
    }
  }

  /** Decoded frames of a type in one direction. */
  frames(type: string, dir?: "rx" | "tx"): DutLine[] {
    return this.lines.filter((l) => l.type === type && (!dir || l.dir === dir));
  }

  /** Lines that did not decode (noise, corrupted frames). */
  get garbage(): DutLine[] {
    return this.lines.filter((l) => l.type === undefined);
  }

  private feed(dir: "rx" | "tx", bytes: Uint8Array): void {
    let text = this.partial[dir] + String.fromCharCode(...bytes);
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
      this.addLine(dir, text.slice(0, nl).replace(/\r$/, ""));
      text = text.slice(nl + 1);
    }
    this.partial[dir] = text.length > 4096 ? text.slice(-4096) : text;
  }

  private addLine(dir: "rx" | "tx", raw: string): void {
    const t = Date.now() - this.t0();
    const decoded = decodeFrame(raw);
    const line: DutLine = decoded.ok
      ? { t, dir, raw, type: decoded.frame.type, text: `${decoded.frame.seq} ${describeMessage(decoded.frame.type, decoded.frame.fields)}` }
      : { t, dir, raw, text: `!! ${JSON.stringify(raw.slice(0, 80))} (${decoded.error})` };
    this.lines.push(line);
    if (this.lines.length > 20_000) this.lines.shift();
    appendFileSync(this.logPath, `${(t / 1000).toFixed(3).padStart(9)} ${dir} ${line.text}\n`);
    this.onLine?.(line);
    for (const w of [...this.waiters]) w();
  }
}
