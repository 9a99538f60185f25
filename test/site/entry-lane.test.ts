/**
 * The site's entry lane (`syspark up`, E1) on in-memory board links and an in-memory database:
 * a car whose plate the camera does not read comes to the entry, the driver takes a ticket from
 * the live page, the terminal prints it, the car drives in and the cloud opens its session; the
 * same car is sent to exit L1, where the pay station's scanner reads its ticket's QR and the
 * cloud lets that session out (a few seconds in: within the grace period, nothing to pay). The live page's entry and exit buttons refuse bad bodies with a 400
 * naming the field.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entryView, siteView, startSitePage } from "../../sim/site/page";
import { startSite, type Site } from "../../sim/site/site";
import { waitFor } from "../gateway/helpers";

describe("the whole site: the entry lane E1 and a ticket that leaves by an exit", function () {
  this.timeout(60_000);
  let site: Site | undefined;
  let page: Awaited<ReturnType<typeof startSitePage>> | undefined;
  let dir = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "syspark-site-entry-"));
    site = await startSite({ lanes: 1, dataDir: dir, memoryDb: true, cloudPort: 0, cloudMqttPort: 0, siteBrokerPort: 0, links: "memory" });
    page = await startSitePage(site, { port: 0 });
    const entry = () => site!.gateway.entryLanes.get("E1")!.snapshot();
    const exit = () => site!.gateway.lanes.get("L1")!.snapshot();
    await waitFor(() => entry().exit_link && entry().barrier_link && entry().cloud_online && exit().exit_link && exit().barrier_link, 20_000, "E1 and L1 links and the cloud up");
  });

  after(async () => {
    await page?.close();
    await site?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async function () {
    if (this.currentTest?.state !== "failed" || !site) return;
    const { qr_svg: _qr, ticket: _t, ...entry } = await entryView(site);
    console.error("site at the failure:", JSON.stringify({ entry, lanes: (await siteView(site)).map(({ qr_svg: _q, ...l }) => l) }, null, 1));
  });

  const post = async (path: string, body: unknown) => {
    const r = await fetch(new URL(path, page!.url), { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it("refuses bad bodies on the entry and exit buttons with a 400 naming the field", async () => {
    const refusals: [string, unknown, RegExp][] = [
      ["/api/entry/E1/arrive", { read_plate: "yes" }, /^read_plate: /],
      ["/api/entry/E1/arrive", { plate: "ab 12" }, /^plate: /],
      ["/api/entry/E1/badge", { uid: "12" }, /^uid: uid must be 10 hex digits/],
      ["/api/entry/E1/scan", { text: "" }, /^text: text is empty/],
      ["/api/entry/E1/scan", { text: "SPR1.\u00e9" }, /^text: text must be printable ASCII/],
      ["/api/entry/E1/ticket", { now: true }, /now/],
      ["/api/lanes/L1/from-entry", { scan_ticket: 1 }, /^scan_ticket: /],
      ["/api/lanes/L1/scan", {}, /^text: /],
      ["/api/lanes/L1/lost", "not json", /not JSON/],
      ["/api/entry/E1/arrive", "null", /^body: /],
    ];
    for (const [path, body, error] of refusals) {
      const r = await post(path, body);
      expect(r.status, `${path} ${JSON.stringify(body)}`).to.equal(400);
      expect(r.body.error, path).to.match(error);
    }
    expect((await post("/api/entry/E9/ticket", {})).status).to.equal(404);
    const early = await post("/api/lanes/L1/from-entry", {});
    expect(early.status, "no car went in yet").to.equal(409);
    expect(early.body.error).to.match(/no car has gone in through E1/);
    expect(site!.lanes.get("L1")!.vehicle.phase, "nothing moved").to.equal("none");
  });

  it("a car without a plate read takes a ticket at E1, drives in, and leaves by L1 with the ticket's QR", async () => {
    const s = site!;
    const entryLane = () => s.gateway.entryLanes.get("E1")!.snapshot();
    const arrived = await post("/api/entry/E1/arrive", { read_plate: false });
    expect(arrived.status).to.equal(200);
    const plate = arrived.body.plate as string;
    await waitFor(() => entryLane().present && entryLane().phase === "identifying", 10_000, "the entry lane identifying the car");
    expect((await post("/api/entry/E1/ticket", {})).status).to.equal(200);

    // The gateway issues a signed ticket, the cloud admits it, the terminal prints it and opens.
    await waitFor(() => s.entry.terminal.printed.length === 1, 15_000, "a ticket printed");
    const ticket = s.entry.terminal.printed[0];
    expect(ticket.qr).to.equal(`SPK1.${ticket.ticketId}`);
    expect(ticket.code).to.match(/^\d{8}$/);
    const shown = await entryView(s);
    expect(shown.ticket).to.include({ id: ticket.ticketId, code: `${ticket.code.slice(0, 4)} ${ticket.code.slice(4)}` });
    expect(shown.ticket!.qr_svg).to.match(/^<svg/);
    await waitFor(() => s.entry.lastIn !== undefined, 20_000, "the car through the entry barrier");
    expect(s.entry.lastIn).to.deep.include({ plate, plateRead: false });
    expect(s.entry.lastIn!.ticket!.ticketId).to.equal(ticket.ticketId);
    const session = s.entry.lastIn!.session!;
    expect(session, "admitted under a session").to.be.a("string");
    await waitFor(() => s.entry.barrier.barrierState === "closed", 20_000, "the entry boom closed behind it");

    // parking/entry reached the cloud (durable outbox): the session is open, by its ticket.
    const open = () => s.cloud.db.sql<{ sessionId: string; identityMethod: string; identityValue: string; status: string }[]>`select session_id, identity_method, identity_value, status from sessions where session_id = ${session}`;
    await waitFor(async () => (await open()).length === 1, 15_000, "the session in the cloud");
    expect((await open())[0]).to.deep.include({ identityMethod: "ticket", identityValue: ticket.ticketId, status: "active" });
    // The demo car park has 120 spaces: the gateway's count (the cloud's state, or its own move) says one is taken.
    await waitFor(() => s.gateway.occupancy.view().free === 119, 10_000, "119 free spaces at the gateway");
    expect((await entryView(s)).site).to.deep.equal({ state: "open", free: 119 });

    // To the exit: no plate read there either, so the driver's ticket goes under the scanner.
    const exited = await post("/api/lanes/L1/from-entry", {});
    expect(exited).to.deep.equal({ status: 200, body: { plate } });
    expect(s.entry.lastIn, "that car left the entry's memory").to.equal(undefined);
    const exitLane = s.lanes.get("L1")!;
    // In for a few seconds: within the grace period, nothing to pay — the cloud opens for the ticket's session.
    await waitFor(() => exitLane.vehicle.phase === "gone", 20_000, "the car out through L1");
    const closed = () => s.cloud.db.sql<{ status: string; barrierResult: string | null }[]>`select status, barrier_result from sessions where session_id = ${session}`;
    await waitFor(async () => (await closed())[0].status === "closed", 15_000, "the ticket's session closed in the cloud");
    expect((await closed())[0].barrierResult).to.equal("opened");
    const exits = await s.cloud.db.sql<{ n: number }[]>`select count(*)::int as n from sessions where status = 'closed'`;
    expect(exits[0].n, "no other session involved").to.equal(1);
  });
});
