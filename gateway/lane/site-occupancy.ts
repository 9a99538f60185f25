/**
 * The car park's occupancy as this gateway knows it, for the entry lanes while the cloud is
 * unreachable: the cloud's last parking/site/state (state, occupied, capacity, free) plus the entries
 * and exits this gateway reported after that message's time. The cloud stays the source of truth:
 * each newer site state replaces the base and drops the local moves it already counts (those
 * before its `ts`; a retained state re-delivered after an outage keeps the moves of the outage).
 * Kept in a small JSON file in the data directory, written atomically, so a gateway killed
 * offline still knows it is full when it starts again.
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { schemas, type Payload } from "../../contracts/mqtt-topics";
import { writeFileAtomic } from "./atomic-file";

/** Local moves kept at most (about a busy day offline); older ones fold into the base count. */
const MAX_MOVES = 20_000;

export type SiteStateName = Payload<"siteState">["state"];
/** What the entry terminals show and the offline policy decides on. */
export interface SiteView {
  state: SiteStateName;
  /** Free spaces, when the cloud gave a capacity. */
  free?: number;
}

const ts = z.number().int().nonnegative();
const persisted = z.strictObject({
  site: z.strictObject({ ts, state: schemas.siteState.shape.state, occupied: ts.optional(), capacity: ts.optional(), free: ts.optional() }).optional(),
  moves: z.array(z.strictObject({ ts, delta: z.union([z.literal(1), z.literal(-1)]) })).max(MAX_MOVES),
});
type Persisted = z.infer<typeof persisted>;

export class SiteOccupancy {
  private data: Persisted = { moves: [] };
  /** Why the file was not used (corrupt): the gateway logs it and starts from the cloud's next state. */
  readonly warning?: string;

  constructor(private readonly file: string) {
    if (!existsSync(file)) return;
    try {
      const parsed = persisted.safeParse(JSON.parse(readFileSync(file, "utf8")));
      if (parsed.success) this.data = parsed.data;
      else this.warning = `occupancy file ${file} ignored: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`;
    } catch (err) {
      this.warning = `occupancy file ${file} ignored: ${(err as Error).message}`;
    }
  }

  /** The cloud's retained state. False for one older than what the gateway already holds. */
  onSiteState(m: Pick<Payload<"siteState">, "ts" | "state" | "occupied" | "capacity" | "free">): boolean {
    if (this.data.site && m.ts < this.data.site.ts) return false;
    this.data = {
      site: { ts: m.ts, state: m.state, ...(m.occupied !== undefined ? { occupied: m.occupied } : {}), ...(m.capacity !== undefined ? { capacity: m.capacity } : {}), ...(m.free !== undefined ? { free: m.free } : {}) },
      moves: this.data.moves.filter((mv) => mv.ts > m.ts),
    };
    this.save();
    return true;
  }

  /** A vehicle entered (parking/entry emitted) or left (exit/done with passed) at `at`. */
  onMove(delta: 1 | -1, at: number): void {
    this.data.moves.push({ ts: at, delta });
    if (this.data.moves.length > MAX_MOVES) {
      const oldest = this.data.moves.shift()!;
      if (this.data.site?.occupied !== undefined) this.data.site.occupied = Math.max(0, this.data.site.occupied + oldest.delta);
      if (this.data.site?.free !== undefined) this.data.site.free = Math.max(0, this.data.site.free - oldest.delta);
    }
    this.save();
  }

  view(): SiteView {
    const site = this.data.site;
    // Never told anything: nothing says the car park is full or closed.
    if (!site) return { state: "open" };
    const net = this.data.moves.reduce((n, mv) => n + mv.delta, 0);
    // The cloud's free spaces for tickets (held-back spaces excluded) when it said them; every car
    // counted here since takes one (a permit's too: the gateway cannot tell its pool — it errs full).
    let free: number | undefined;
    if (site.free !== undefined) free = Math.max(0, site.free - net);
    else if (site.capacity !== undefined && site.occupied !== undefined) free = Math.max(0, site.capacity - Math.max(0, site.occupied + net));
    if (site.state === "closed") return { state: "closed", ...(free !== undefined ? { free } : {}) };
    // The cloud's "full" holds until more cars left than came in since (its pools may keep spaces back).
    const full = free === 0 || (site.state === "full" && net >= 0);
    return { state: full ? "full" : "open", ...(free !== undefined ? { free } : {}) };
  }

  private save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.data));
  }
}
