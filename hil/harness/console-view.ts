/**
 * The operators' console as a HIL scenario reads it (issue 17): the cloud's JSON API, logged in
 * as an operator — GET /api/console/sites/:site with the Bearer token from POST /api/login —
 * never the database. `laneDifferences` compares the operator's view of a lane with what the
 * lane itself reports (the gateway's lane snapshot, made of the boards' own frames).
 */
import type { CloudHandle } from "../../cloud/server/index";
import type { LaneSnapshot } from "../../gateway/lane/lane-types";
import { InfrastructureError } from "./errors";

/** The fields of a lane in the console's site snapshot that a scenario compares (JSON as served). */
export interface ConsoleLane {
  laneId: string;
  /** The lane as the site names it (the wire lane id, e.g. "L1"). */
  name: string;
  kind: "entry" | "exit";
  exitState: string | null;
  barrierState: string | null;
  barrierPos: number | null;
  present: boolean | null;
  fault: string | null;
  stateTs: string | null;
}

export interface ConsoleSite {
  lanes: ConsoleLane[];
  gateway: { status: "online" | "offline" | null } | null;
  alarms: { laneName: string; code: string; severity: string }[];
}

export class ConsoleClient {
  private constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** Logs in as the cloud's first admin (every role may read the console). */
  static async login(cloud: CloudHandle): Promise<ConsoleClient> {
    const admin = cloud.firstAdmin;
    if (!admin) throw new InfrastructureError("the cloud has no first admin to log in with");
    const r = await fetch(`${cloud.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
    if (!r.ok) throw new Error(`console login: ${r.status} ${await r.text()}`);
    return new ConsoleClient(cloud.url, ((await r.json()) as { token: string }).token);
  }

  async site(siteId: string): Promise<ConsoleSite> {
    const r = await fetch(`${this.baseUrl}/api/console/sites/${encodeURIComponent(siteId)}`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!r.ok) throw new Error(`GET /api/console/sites/${siteId}: ${r.status} ${await r.text()}`);
    return (await r.json()) as ConsoleSite;
  }

  /** The console's view of one lane, by the name the site gives it; undefined if the console has no such lane. */
  async lane(siteId: string, wireLane: string): Promise<ConsoleLane | undefined> {
    return (await this.site(siteId)).lanes.find((l) => l.name === wireLane);
  }
}

/**
 * Where the operator's view of a lane differs from the lane's own report: exit state, barrier
 * state, presence and fault. Empty when they agree. A lane without a fault is `null` on the
 * console and absent in the snapshot: both mean "no fault".
 * Presence reaches the console with the lane state (its `present` field), so an empty loop is
 * known from the lane's first state on.
 */
export function laneDifferences(view: ConsoleLane | undefined, lane: LaneSnapshot): string[] {
  if (!view) return [`the console has no lane ${lane.lane_id}`];
  const pairs: [string, unknown, unknown][] = [
    ["exit state", view.exitState, lane.exit_state],
    ["barrier state", view.barrierState, lane.barrier_state],
    ["vehicle present", view.present, lane.present],
    ["fault", view.fault ?? null, lane.fault ?? null],
  ];
  return pairs.filter(([, shown, real]) => shown !== real).map(([what, shown, real]) => `${what}: console ${JSON.stringify(shown)}, lane ${JSON.stringify(real)}`);
}
