/**
 * cloud/db/instances.ts (issue 20, scale out): which instance is silent, who drains it, and that
 * an instance that comes back keeps its sessions. On PGlite in memory; the end-to-end drain on
 * PostgreSQL and Mosquitto is in test/cloud/server/consume-restart.test.ts ("scale out").
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { beatInstance, claimStaleInstance, forgetDrainedInstance, openDatabase, renewDrainClaim, type Database } from "../../../cloud/db/index";

describe("cloud/db instances: beats, claims on silent peers, forgetting the drained", function () {
  this.timeout(60_000);
  let db: Database;
  before(async () => {
    db = await openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") });
  });
  after(async () => db.close());
  beforeEach(async () => {
    await db.sql`DELETE FROM cloud_instances`;
  });
  /** Makes an instance look silent for `s` seconds. */
  const silence = (id: string, s: number) => db.sql`UPDATE cloud_instances SET seen_at = now() - make_interval(secs => ${s}) WHERE instance_id = ${id}`;

  it("a beat says how many consumer sessions the instance had before (0 when new)", async () => {
    expect(await beatInstance(db.sql, "a", 4)).to.equal(0);
    expect(await beatInstance(db.sql, "a", 2)).to.equal(4);
    expect(await beatInstance(db.sql, "a", 2)).to.equal(2);
  });

  it("only an instance silent for longer than the stale time is claimed, never by itself, and by one peer at a time", async () => {
    await beatInstance(db.sql, "live", 1);
    await beatInstance(db.sql, "gone", 3);
    expect(await claimStaleInstance(db.sql, "live", 30, 180)).to.equal(undefined);
    await silence("gone", 31);
    expect(await claimStaleInstance(db.sql, "gone", 30, 180), "its own row").to.equal(undefined);
    expect(await claimStaleInstance(db.sql, "live", 30, 180)).to.deep.equal({ instanceId: "gone", consumers: 3 });
    expect(await claimStaleInstance(db.sql, "other", 30, 180), "already claimed").to.equal(undefined);
    expect(await renewDrainClaim(db.sql, "gone", "other", 180), "not other's claim").to.equal(false);
    expect(await renewDrainClaim(db.sql, "gone", "live", 180)).to.equal(true);
    expect(await forgetDrainedInstance(db.sql, "gone", "live")).to.equal(true);
    expect((await db.sql`SELECT instance_id FROM cloud_instances`).map((r) => r.instanceId)).to.deep.equal(["live"]);
  });

  it("an instance that beats again after the claim keeps its row: the drainer's renewal and forget both fail", async () => {
    await beatInstance(db.sql, "live", 1);
    await beatInstance(db.sql, "back", 2);
    await silence("back", 60);
    expect(await claimStaleInstance(db.sql, "live", 30, 180)).to.deep.equal({ instanceId: "back", consumers: 2 });
    await beatInstance(db.sql, "back", 2);
    expect(await renewDrainClaim(db.sql, "back", "live", 180)).to.equal(false);
    expect(await forgetDrainedInstance(db.sql, "back", "live")).to.equal(false);
    expect((await db.sql`SELECT instance_id FROM cloud_instances ORDER BY instance_id`).map((r) => r.instanceId)).to.deep.equal(["back", "live"]);
  });

  it("a claim whose drainer died expires: another peer claims the instance after it", async () => {
    await beatInstance(db.sql, "gone", 1);
    await silence("gone", 60);
    expect(await claimStaleInstance(db.sql, "dead-drainer", 30, 180)).to.not.equal(undefined);
    await db.sql`UPDATE cloud_instances SET drain_until = now() - interval '1 second' WHERE instance_id = 'gone'`;
    expect(await claimStaleInstance(db.sql, "next", 30, 180)).to.deep.equal({ instanceId: "gone", consumers: 1 });
    expect(await forgetDrainedInstance(db.sql, "gone", "dead-drainer"), "the first claim no longer holds").to.equal(false);
  });
});
