/**
 * The recent command ids and their outcome: a bounded ring, so a command repeated by the
 * gateway (a retry with a new link sequence number, an MQTT QoS 1 duplicate upstream) acts
 * once and gets the same CMD_DONE again. The oldest id is forgotten when the ring is full.
 */
export type CommandResult = "ok" | "refused" | "fault" | "timeout";

export interface CommandRecord {
  cmd: string;
  kind: string;
  /** Undefined while the command is still running. */
  result: CommandResult | undefined;
  why: string | undefined;
}

export class CommandRing {
  private readonly records: CommandRecord[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.records = [];
    for (let i = 0; i < capacity; i++) this.records.push({ cmd: "", kind: "", result: undefined, why: undefined });
  }

  get length(): number { return this.size; }

  find(cmd: string): CommandRecord | undefined {
    for (let i = 0; i < this.size; i++) {
      const r = this.records[(this.next - 1 - i + this.capacity) % this.capacity];
      if (r.cmd === cmd) return r;
    }
    return undefined;
  }

  /** Remember a new command (overwriting the oldest when full) and return its record. */
  add(cmd: string, kind: string): CommandRecord {
    const r = this.records[this.next];
    r.cmd = cmd;
    r.kind = kind;
    r.result = undefined;
    r.why = undefined;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    return r;
  }

  /** Record the outcome of a command (no-op if it has been forgotten meanwhile). */
  finish(cmd: string, result: CommandResult, why: string | undefined): void {
    const r = this.find(cmd);
    if (r) {
      r.result = result;
      r.why = why;
    }
  }
}
