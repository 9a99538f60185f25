/**
 * One virtual clock for the whole simulated site — boards, plant, gateway, cloud, brokers, Stripe
 * emulator and the scenario itself — so minutes of lane time run in a fraction of a second.
 *
 * How: `Date`, `setTimeout` and `setInterval` are replaced process-wide (@sinonjs/fake-timers), so
 * every part keeps its own, unmodified timing code. A driver, on the real event loop, decides when
 * virtual time moves, like a discrete-event simulator:
 * - while the site is idle (no socket read or write, no pending file-system or network request, no
 *   crypto job, no byte in flight on a tracked cable, for two loop turns in a row), it jumps straight
 *   to the next timer and fires it;
 * - while the site is busy, virtual time follows the wall clock (it never runs slower than real
 *   time, so a part that keeps itself busy cannot starve the timers, and work takes the time it
 *   really takes);
 * - `realTime(fn)` paces virtual time on the wall clock while `fn` runs, for work the driver cannot
 *   see (a socat child starting, a rig's power switch).
 * `setImmediate`, `process.nextTick`, microtasks and `performance.now()` stay real: I/O libraries
 * yield with them, and wall-time measurements (the bench, mocha's timeouts) use them.
 */
import * as FakeTimers from "@sinonjs/fake-timers";
import crypto from "node:crypto";
import { syncBuiltinESMExports } from "node:module";
import diagnostics from "node:diagnostics_channel";
import net from "node:net";

/** Active libuv requests (not handles): work under way whose completion the site is waiting for. */
const REQUESTS = new Set([
  "FSReqCallback", "FSReqPromise", "FileHandleCloseReq", "WriteWrap", "SimpleWriteWrap", "ShutdownWrap",
  "ConnectWrap", "PipeConnectWrap", "GetAddrInfoReqWrap", "GetNameInfoReqWrap", "QueryReqWrap",
]);

const realSetImmediate = setImmediate;
const realSetTimeout = setTimeout;
const turn = () => new Promise<void>((resolve) => realSetImmediate(resolve));
const realSleep = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

export interface SiteClockStats {
  /** Virtual ms elapsed since install. */
  virtualMs: number;
  /** Wall ms elapsed since install. */
  wallMs: number;
  /** Times the driver jumped ahead to the next timer while the site was idle. */
  jumps: number;
  /** Virtual ms covered by those jumps (the rest followed the wall clock while the site worked). */
  jumpedMs: number;
}

let installed: SiteClock | undefined;

/** The site clock in force, if any (the harness adds in-flight counters to it). */
export function currentSiteClock(): SiteClock | undefined { return installed; }

export class SiteClock {
  private readonly clock: ReturnType<typeof FakeTimers.install>;
  private activity = 0;
  private cryptoJobs = 0;
  private holds = 0;
  private readonly inflight = new Set<() => number>();
  private readonly restore: (() => void)[] = [];
  private running = true;
  private readonly loop: Promise<void>;
  private readonly wall0 = performance.now();
  private readonly virtual0: number;
  private jumps = 0;
  private jumpedMs = 0;

  private constructor(start: number) {
    this.clock = FakeTimers.install({ now: start, toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"], loopLimit: 1_000_000 });
    this.virtual0 = start;
    this.mendRefresh();
    this.instrument();
    this.loop = this.drive();
  }

  /** Replace the process's clock. One at a time. */
  static install(start = Date.now()): SiteClock {
    if (installed) throw new Error("a site clock is already installed");
    installed = new SiteClock(start);
    return installed;
  }

  /** A counter of units in flight outside this process's view (bytes inside a socat pair): while > 0 the site is busy. */
  track(inFlight: () => number): () => void {
    this.inflight.add(inFlight);
    return () => this.inflight.delete(inFlight);
  }

  /** Run `fn` with virtual time paced on the wall clock (work the driver cannot see). */
  async realTime<T>(fn: () => Promise<T>): Promise<T> {
    this.holds++;
    try { return await fn(); } finally { this.holds--; }
  }

  get stats(): SiteClockStats {
    return { virtualMs: this.clock.now - this.virtual0, wallMs: performance.now() - this.wall0, jumps: this.jumps, jumpedMs: this.jumpedMs };
  }

  async uninstall(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const r of this.restore.reverse()) r();
    syncBuiltinESMExports();
    this.clock.uninstall();
    if (installed === this) installed = undefined;
  }

  /**
   * `timeout.refresh()` in @sinonjs/fake-timers 15.5 (its timer heap came in 15.2) sets the new
   * deadline before it takes the timer out of the heap, and the removal compares the heap's last
   * timer, moved into the freed slot, with that new deadline instead of the old one: the moved
   * timer can stay above earlier ones, the heap stops being ordered, and the clock fires a later
   * timer first — then `Date.now()` goes back to the earlier ones. Aedes (both MQTT brokers of
   * the site) refreshes each client's keep-alive timer at every packet. In the HIL library this
   * made virtual time run 15 s (the bridge's keep-alive) ahead and come back: the barrier's FPGA
   * model, caught up to the time ahead, stood still for 15 s, so an OPEN left the core in
   * OPENING at 0 % until the executor's command timeout (the "known flaky scenario").
   * Taking the timer out of the heap at its old deadline first keeps the heap ordered; the
   * library's own removal then finds it gone and only re-inserts it.
   */
  private mendRefresh(): void {
    // The clock's internals, read at each call: the library creates (and may replace) them lazily.
    const internals = this.clock as unknown as { timers?: unknown; timerHeap?: { remove?: unknown } } & Record<"setTimeout" | "setInterval", (...args: unknown[]) => unknown>;
    const takeOut = (id: number) => {
      const timers = internals.timers, heap = internals.timerHeap;
      // Without a heap (another version) the next timer is found by a scan: nothing to mend.
      if (!(timers instanceof Map) || !heap || typeof heap.remove !== "function") return;
      const timer: unknown = timers.get(id);
      if (timer) (heap.remove as (t: unknown) => boolean).call(heap, timer);
    };
    for (const name of ["setTimeout", "setInterval"] as const) {
      const schedule = internals[name];
      internals[name] = function (this: unknown, ...args: unknown[]) {
        const handle = schedule.apply(this, args) as { refresh?: () => unknown } | undefined;
        const refresh = handle?.refresh;
        if (handle && typeof refresh === "function") {
          handle.refresh = function (this: unknown) {
            takeOut(Number(handle));
            return refresh.call(this);
          };
        }
        return handle;
      };
      // uninstall() reads `hadOwnProperty` off the clock's own function: put it back first.
      this.restore.push(() => { internals[name] = schedule; });
    }
  }

  /** Count every socket read and write, and every crypto job in the thread pool. */
  private instrument(): void {
    const bump = () => { this.activity++; };
    const job = (delta: 1 | -1) => { this.cryptoJobs += delta; if (delta < 0) this.activity++; };
    const proto = net.Socket.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of ["push", "write"]) {
      const had = Object.prototype.hasOwnProperty.call(proto, name), original = proto[name];
      proto[name] = function (this: unknown, ...args: unknown[]) {
        bump();
        return original.apply(this, args);
      };
      this.restore.push(() => { if (had) proto[name] = original; else delete proto[name]; });
    }
    const c = crypto as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of ["scrypt", "pbkdf2", "generateKeyPair", "randomFill"]) {
      const original = c[name];
      c[name] = function (this: unknown, ...args: unknown[]) {
        const cb = args[args.length - 1];
        if (typeof cb !== "function") return original.apply(this, args);
        job(1);
        let done = false;
        args[args.length - 1] = (...res: unknown[]) => { if (!done) { done = true; job(-1); } return (cb as (...r: unknown[]) => unknown)(...res); };
        try { return original.apply(this, args); } catch (err) { if (!done) { done = true; job(-1); } throw err; }
      };
      this.restore.push(() => { c[name] = original; });
    }
    // ESM `import { scrypt } from "node:crypto"` bindings follow the patched module object.
    syncBuiltinESMExports();
    // Nagle's algorithm may hold a small segment in the kernel until the peer's delayed ACK
    // (tens of ms), where no counter sees it: a ping "lost" that long while virtual time jumps.
    // Every socket of the simulated site sends at once instead (a transport setting, not behaviour).
    const noDelay = ({ socket }: { socket: net.Socket }) => { socket.setNoDelay(true); };
    for (const channel of ["net.client.socket", "net.server.socket"]) {
      diagnostics.subscribe(channel, noDelay as (m: unknown) => void);
      this.restore.push(() => diagnostics.unsubscribe(channel, noDelay as (m: unknown) => void));
    }
  }

  private waitingOnWork(): boolean {
    if (this.cryptoJobs > 0) return true;
    for (const f of this.inflight) if (f() > 0) return true;
    // `_getActiveRequests` lists requests only (cheap); the documented call also lists every handle.
    const p = process as unknown as { _getActiveRequests?: () => object[] };
    if (p._getActiveRequests) return p._getActiveRequests().length > 0;
    for (const r of process.getActiveResourcesInfo()) if (REQUESTS.has(r)) return true;
    return false;
  }

  private async drive(): Promise<void> {
    let seen = -1, quiet = 0, silentJump = false, waitingSince: number | undefined, synced = performance.now();
    while (this.running) {
      // Waiting on another process or the thread pool: spin on loop turns at first (socat moves a
      // line in ~0.1 ms), then let the loop block (a timer is >= 1 ms) so the wait does not burn a core.
      const working = this.waitingOnWork();
      if (working) waitingSince ??= performance.now(); else waitingSince = undefined;
      await (working && performance.now() - waitingSince! > 2 ? realSleep(0) : turn());
      const changed = this.activity !== seen;
      seen = this.activity;
      const now = performance.now();
      if (changed || working || this.waitingOnWork() || this.holds > 0) {
        quiet = 0;
        silentJump = false;
        // Busy: virtual time follows the wall clock (never slower than real time).
        const lag = now - synced;
        // Whole ms only; the remainder carries over, so busy stretches never lose time.
        if (lag >= 1) { const ms = Math.floor(lag); synced += ms; this.fire(() => this.clock.tick(ms)); }
        continue;
      }
      // Two quiet turns after work (a read may start more); one after a timer that did nothing visible.
      if (++quiet < (silentJump ? 1 : 2)) continue;
      quiet = 0;
      if (this.clock.countTimers() === 0) { await realSleep(1); synced = performance.now(); continue; }
      const before = this.clock.now;
      this.fire(() => this.clock.next());
      // Fired out of order (a timer library bug, see mendRefresh): say so here rather than let a
      // part that keeps its own time (the FPGA model) drift away from the site.
      if (this.clock.now < before) this.fire(() => { throw new Error(`site clock: virtual time went back ${before - this.clock.now} ms (a timer fired out of order)`); });
      silentJump = true;
      this.jumps++;
      this.jumpedMs += this.clock.now - before;
      synced = performance.now();
    }
  }

  /** A timer callback that throws must not stop the clock: report it as an uncaught exception would be. */
  private fire(advance: () => void): void {
    try { advance(); } catch (err) { process.nextTick(() => { throw err; }); }
  }
}
