/**
 * The virtual site clock: time jumps while nothing is in flight, and waits for what is (a TCP
 * round trip between two sockets of the process, a crypto job in the thread pool, bytes a tracked
 * cable still carries) so that no timer fires ahead of work that would have come first.
 */
import { expect } from "chai";
import { scrypt } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import { SiteClock } from "../../hil/harness/site-clock";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("hil site clock", () => {
  const nativeSetTimeout = setTimeout;
  let clock: SiteClock | undefined;
  afterEach(async () => { await clock?.uninstall(); clock = undefined; });

  it("jumps over an idle hour of timers instead of waiting for it, firing them in order", async () => {
    clock = SiteClock.install(Date.UTC(2026, 10, 21, 8));
    const fired: number[] = [];
    const t0 = Date.now(), wall0 = performance.now();
    const interval = setInterval(() => fired.push(Date.now() - t0), 60_000);
    await sleep(3_600_001);
    clearInterval(interval);
    expect(Date.now() - t0).to.equal(3_600_001);
    expect(fired).to.deep.equal(Array.from({ length: 60 }, (_, i) => (i + 1) * 60_000));
    expect(performance.now() - wall0, "an hour of lane time is not waited for").to.be.below(30_000);
    expect(clock.stats.jumps).to.be.at.least(60);
  });

  it("fires timers in deadline order when one is refreshed (a broker's keep-alive), so time never goes back", async () => {
    clock = SiteClock.install(Date.UTC(2026, 10, 21, 8));
    const t0 = Date.now();
    const fired: [string, number][] = [];
    const at = (name: string) => () => fired.push([name, Date.now() - t0]);
    // The smallest case found of @sinonjs/fake-timers 15.5 keeping its heap out of order after a
    // refresh: at 41 ms the first timer refreshes the 51 ms one (now due at 92 ms); the 61 ms
    // timer then sat below the 71 ms one, which fired first, and time went back to 61 ms.
    setTimeout(at("d"), 71);
    let refreshed: NodeJS.Timeout | undefined = undefined;
    setTimeout(() => { at("a")(); refreshed!.refresh(); }, 41);
    refreshed = setTimeout(at("refreshed"), 51);
    setTimeout(at("c"), 61);
    await sleep(100);
    expect(fired).to.deep.equal([["a", 41], ["c", 61], ["d", 71], ["refreshed", 92]]);
  });

  it("lets a request/response between two sockets of the process finish before the next timer", async () => {
    clock = SiteClock.install();
    const server: Server = createServer((s) => s.on("data", (d) => s.write(d))); // echo, small segments
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    const client: Socket = connect(port, "127.0.0.1");
    await new Promise<void>((r) => client.once("connect", () => r()));
    // While bytes are in flight the clock may only follow the wall clock (under load that can
    // be a few ms): it must never jump to the pending timer in the middle of the exchange.
    let timerFired = false;
    const timer = setTimeout(() => { timerFired = true; }, 60_000);
    for (let i = 0; i < 20; i++) {
      const echoed = new Promise<string>((r) => client.once("data", (d) => r(d.toString())));
      client.write(`ping ${i}`);
      expect(await echoed).to.equal(`ping ${i}`);
    }
    expect(timerFired, "no jump to the next timer during the round trips").to.equal(false);
    const { virtualMs, wallMs } = clock.stats;
    expect(virtualMs, "lane time moved no faster than the wall clock").to.be.at.most(Math.ceil(wallMs) + 1);
    clearTimeout(timer);
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("does not jump while a crypto job runs in the thread pool", async () => {
    clock = SiteClock.install();
    const t0 = Date.now();
    let late = false;
    const timer = setTimeout(() => { late = true; }, 60_000);
    await new Promise<void>((resolve, reject) => scrypt("secret", "salt", 32, { N: 1 << 14 }, (err) => (err ? reject(err) : resolve())));
    expect(late, "the minute-long timer did not fire during the job").to.equal(false);
    expect(Date.now() - t0, "virtual time followed the wall clock while the job ran").to.be.below(60_000);
    clearTimeout(timer);
  });

  it("holds while a tracked cable has bytes in flight, and restores the real timers on uninstall", async () => {
    clock = SiteClock.install();
    let inFlight = 1;
    const untrack = clock.track(() => inFlight);
    const t0 = Date.now();
    const done = sleep(10_000);
    await new Promise<void>((r) => nativeSetTimeout(r, 50)); // real 50 ms: the cable is "busy"
    expect(Date.now() - t0, "no jump while bytes are in flight").to.be.below(5_000);
    inFlight = 0;
    await done;
    untrack();
    await clock.uninstall();
    clock = undefined;
    expect(setTimeout).to.equal(nativeSetTimeout);
    clock = SiteClock.install(); // a new one can be installed once the first is gone
    expect(() => SiteClock.install()).to.throw(/already installed/);
  });
});
