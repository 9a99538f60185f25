/**
 * The gateway's local occupancy (gateway/lane/site-occupancy.ts): the cloud's last site state plus
 * the moves seen after it, kept on disk across a restart, deciding full / closed offline.
 */
import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SiteOccupancy } from "../../gateway/lane/site-occupancy";

describe("gateway local occupancy", () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), "occupancy-")); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("knows nothing at first: open, free unknown", () => {
    expect(new SiteOccupancy(join(dir, "o.json")).view()).to.deep.equal({ state: "open" });
  });

  it("counts entries and exits after the cloud's state, and is full when the count reaches capacity", () => {
    const o = new SiteOccupancy(join(dir, "o.json"));
    o.onSiteState({ ts: 1000, state: "open", occupied: 8, capacity: 10 });
    expect(o.view()).to.deep.equal({ state: "open", free: 2 });
    o.onMove(1, 1001);
    o.onMove(1, 1002);
    expect(o.view()).to.deep.equal({ state: "full", free: 0 });
    o.onMove(-1, 1003);
    expect(o.view()).to.deep.equal({ state: "open", free: 1 });
  });

  it("counts down from the cloud's free spaces for tickets when it says them (spaces held for permits and reservations are not free)", () => {
    const o = new SiteOccupancy(join(dir, "o.json"));
    o.onSiteState({ ts: 1000, state: "open", occupied: 100, capacity: 120, free: 2 });
    expect(o.view()).to.deep.equal({ state: "open", free: 2 });
    o.onMove(1, 1001);
    o.onMove(1, 1002);
    expect(o.view(), "full although 18 spaces are empty: they are held back").to.deep.equal({ state: "full", free: 0 });
    expect(new SiteOccupancy(join(dir, "o.json")).view(), "kept across a restart").to.deep.equal({ state: "full", free: 0 });
  });

  it("a newer cloud state drops the moves it already counts; a state re-delivered from before the moves keeps them; an older one is ignored", () => {
    const o = new SiteOccupancy(join(dir, "o.json"));
    o.onSiteState({ ts: 1000, state: "open", occupied: 5, capacity: 10 });
    o.onMove(1, 1500);
    o.onMove(1, 2500);
    expect(o.onSiteState({ ts: 1000, state: "open", occupied: 5, capacity: 10 })).to.equal(true); // retained, said again
    expect(o.view().free).to.equal(3);
    expect(o.onSiteState({ ts: 2000, state: "open", occupied: 6, capacity: 10 })).to.equal(true);
    expect(o.view().free, "the 1500 entry is in the cloud's 6, the 2500 one is not").to.equal(3);
    expect(o.onSiteState({ ts: 1200, state: "closed" })).to.equal(false);
    expect(o.view().state).to.equal("open");
  });

  it("the cloud's full holds until more cars left than came in; closed is closed", () => {
    const o = new SiteOccupancy(join(dir, "o.json"));
    o.onSiteState({ ts: 1000, state: "full" });
    o.onMove(1, 1100);
    o.onMove(-1, 1200);
    expect(o.view()).to.deep.equal({ state: "full" });
    o.onMove(-1, 1300);
    expect(o.view()).to.deep.equal({ state: "open" });
    o.onSiteState({ ts: 2000, state: "closed", occupied: 3, capacity: 10 });
    expect(o.view()).to.deep.equal({ state: "closed", free: 7 });
  });

  it("survives a restart: a new instance reads the file (written atomically, no temp file left)", () => {
    const file = join(dir, "data", "occupancy.json");
    const o = new SiteOccupancy(file);
    o.onSiteState({ ts: 1000, state: "open", occupied: 9, capacity: 10 });
    o.onMove(1, 1100);
    expect(existsSync(`${file}.tmp`)).to.equal(false);
    const again = new SiteOccupancy(file);
    expect(again.view()).to.deep.equal({ state: "full", free: 0 });
    expect(again.warning).to.equal(undefined);
    expect(JSON.parse(readFileSync(file, "utf8")).moves).to.have.length(1);
  });

  it("a corrupt file is ignored with a warning naming it, not a crash", () => {
    const file = join(dir, "occupancy.json");
    writeFileSync(file, "{not json");
    const o = new SiteOccupancy(file);
    expect(o.warning).to.match(/occupancy\.json ignored/);
    expect(o.view()).to.deep.equal({ state: "open" });
    writeFileSync(file, JSON.stringify({ moves: [{ ts: 1, delta: 2 }] }));
    expect(new SiteOccupancy(file).warning).to.match(/moves\.0\.delta/);
  });
});
