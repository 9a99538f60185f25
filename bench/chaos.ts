/**
 * `npm run bench -- chaos [--part cloud|gateway|both] [--exits 5000] [--cloud-kills 20]
 * [--cloud-instances 1] [--gateway-kills 20] [--lanes 8] [--seed 1]`: the full crash campaigns,
 * to run before a release (docs/chaos.md). Each part is killed with SIGKILL at seeded moments
 * while exits flow and restarted; every exit is then counted lost, doubled or stuck (all must be
 * 0) and the audit chain verified. `--exits` is per part. `--cloud-instances N` runs N clouds
 * behind HAProxy, each kill taking one of them. The CI tests (test/chaos/) are the same
 * campaigns, small.
 *
 * The last line is one JSON object: exits, kills, lost, doubled, stuck (sums over the parts run),
 * p99_ms (the worse part's p99: the cloud's exit request → payment success, the gateway's arrival
 * → barrier open), audit_ok, and the per-part figures.
 */
import type { CampaignOptions, CampaignResult } from "../hil/chaos/campaign";
import { runCloudCampaign, type CloudCampaignResult } from "../hil/chaos/cloud-campaign";

function intArg(args: string[], name: string, def: number, min: number): number {
  const i = args.indexOf(name);
  if (i === -1) return def;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${args[i + 1] ?? ""}"`);
  return v;
}

type Runner = (o: CampaignOptions) => Promise<CampaignResult>;

/** The gateway campaign lives in its own module (hil/chaos/gateway-campaign.ts). */
async function gatewayRunner(): Promise<Runner> {
  const path = "../hil/chaos/gateway-campaign";
  const mod = (await import(path)) as { runGatewayCampaign?: Runner };
  if (!mod.runGatewayCampaign) throw new Error("hil/chaos/gateway-campaign.ts exports no runGatewayCampaign");
  return mod.runGatewayCampaign;
}

/** What each part's p50/p99 measure (docs/chaos.md). */
const LATENCY: Record<CampaignResult["part"], string> = {
  cloud: "exit request → payment success",
  gateway: "arrival at the lane → barrier open",
};

function summary(r: CampaignResult): string {
  const instances = (r as Partial<CloudCampaignResult>).instances;
  const where = instances === undefined ? "" : instances > 1 ? ` (${instances} instances behind HAProxy)` : " (1 instance)";
  return `${r.part}${where}: ${r.exits} exits, ${r.kills} kills — lost ${r.lost}, doubled ${r.doubled}, stuck ${r.stuck}; audit chain ${r.audit_ok ? "verified" : "BROKEN or unverified"}; ${LATENCY[r.part]} p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms; ${r.wall_s} s`;
}

export async function run(args: string[]): Promise<void> {
  const p = args.indexOf("--part");
  const part = p >= 0 ? args[p + 1] : "both";
  if (part !== "cloud" && part !== "gateway" && part !== "both") throw new Error(`--part must be cloud, gateway or both, got "${part ?? ""}"`);
  const exits = intArg(args, "--exits", 5000, 1);
  const cloudKills = intArg(args, "--cloud-kills", 20, 0);
  const cloudInstances = intArg(args, "--cloud-instances", 1, 1);
  const gatewayKills = intArg(args, "--gateway-kills", 20, 0);
  const lanes = intArg(args, "--lanes", 8, 1);
  const seed = intArg(args, "--seed", 1, 0);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const results: CampaignResult[] = [];
  if (part !== "gateway") {
    log(`chaos: cloud campaign — ${exits} exits, ${cloudKills} SIGKILLs of ${cloudInstances > 1 ? `one of ${cloudInstances} cloud instances behind HAProxy` : "the cloud"}`);
    results.push(await runCloudCampaign({ exits, kills: cloudKills, instances: cloudInstances, lanes, seed, log }));
  }
  if (part !== "cloud") {
    log(`chaos: gateway campaign — ${exits} exits, ${gatewayKills} SIGKILLs of the gateway`);
    const runGateway = await gatewayRunner();
    results.push(await runGateway({ exits, kills: gatewayKills, lanes, seed, log }));
  }

  for (const r of results) {
    console.log(summary(r));
    for (const line of r.problems.slice(0, 20)) console.log(`  ${line}`);
    if (r.problems.length > 20) console.log(`  … and ${r.problems.length - 20} more`);
  }
  const sum = (k: "exits" | "kills" | "lost" | "doubled" | "stuck") => results.reduce((a, r) => a + r[k], 0);
  const figures = {
    exits: sum("exits"),
    kills: sum("kills"),
    lost: sum("lost"),
    doubled: sum("doubled"),
    stuck: sum("stuck"),
    p99_ms: Math.max(...results.map((r) => r.p99_ms)),
    audit_ok: results.every((r) => r.audit_ok),
    seed,
    ...Object.fromEntries(results.map((r) => [r.part, { ...r, problems: r.problems.length }])),
  };
  if (figures.lost + figures.doubled + figures.stuck > 0 || !figures.audit_ok) process.exitCode = 1;
  console.log(JSON.stringify(figures));
}
