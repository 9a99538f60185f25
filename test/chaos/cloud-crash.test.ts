/**
 * The cloud crash test (issues 13 and 20), the bounded CI form of `npm run bench -- chaos --part
 * cloud`: two `syspark cloud` instances side by side behind a private HAProxy with the deployed
 * balancer's settings (deploy/cloud-lb/haproxy.cfg), on the PostgreSQL server and a private
 * Mosquitto (SysPark's cloud-broker settings, one MQTT v5 share group), the Stripe test emulator
 * in its own process; a few SIGKILLs of one instance or the other while exits flow, each followed
 * by a restart with that instance's id and port. Every exit must end exactly once — none lost,
 * doubled or stuck — and `syspark audit verify` must pass. See docs/chaos.md.
 */
import { expect } from "chai";
import { CampaignPrerequisiteError } from "../../hil/chaos/campaign";
import { runCloudCampaign, type CloudCampaignResult } from "../../hil/chaos/cloud-campaign";

const REQUIRED = { postgres: "SYSPARK_REQUIRE_POSTGRES", mosquitto: "SYSPARK_REQUIRE_MOSQUITTO", socat: "SYSPARK_REQUIRE_TOOLS", haproxy: "SYSPARK_REQUIRE_TOOLS" } as const;
/** The private broker is the machine's `mosquitto` binary: a required tool as well (SYSPARK_REQUIRE_TOOLS). The balancer is the machine's `haproxy`. */
const required = (what: keyof typeof REQUIRED) => process.env[REQUIRED[what]] === "1" || (what === "mosquitto" && process.env.SYSPARK_REQUIRE_TOOLS === "1");

describe("chaos: the cloud killed with SIGKILL while exits flow loses, doubles and strands nothing", function () {
  this.timeout(170_000);
  const abort = new AbortController();
  let running: Promise<unknown> | undefined;

  after(async () => {
    // Whatever the campaign started (cloud, emulator, broker, database) goes, even on a failure or a timeout.
    abort.abort();
    await running?.catch(() => undefined);
  });

  it("5 kills among 2 instances behind HAProxy, 150 paid exits on 8 lanes: lost = doubled = stuck = 0, audit chain verified", async function () {
    const lines: string[] = [];
    let r: CloudCampaignResult;
    try {
      const campaign = runCloudCampaign({ exits: 150, kills: 5, instances: 2, lanes: 8, seed: 13, exitTimeoutMs: 20_000, settleMs: 10_000, signal: abort.signal, log: (l) => lines.push(l) });
      running = campaign;
      r = await campaign;
    } catch (err) {
      if (err instanceof CampaignPrerequisiteError && !required(err.what)) {
        console.warn(`      skipped: ${err.message} (set ${REQUIRED[err.what]}=1 to make this a failure)`);
        this.skip();
      }
      throw err;
    }
    const report = [...lines, ...r.problems].join("\n");
    expect(r.instances, report).to.equal(2);
    expect(r.kills, report).to.equal(5);
    expect(r.exits, report).to.equal(150);
    expect({ lost: r.lost, doubled: r.doubled, stuck: r.stuck }, report).to.deep.equal({ lost: 0, doubled: 0, stuck: 0 });
    expect(r.audit_ok, report).to.equal(true);
    expect(r.problems, report).to.deep.equal([]);
  });
});
