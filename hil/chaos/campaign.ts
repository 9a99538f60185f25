/**
 * What a crash campaign (cloud or gateway, `hil/chaos/*-campaign.ts`) reports, and the one way
 * both count an exit as lost, doubled or stuck — so that the CI crash tests and
 * `npm run bench -- chaos` mean the same thing by the same words.
 *
 * A campaign drives exits while it kills a part with SIGKILL and restarts it; at the end, after
 * a bounded settle time, it gathers one `ExitRecord` per driven exit (what the lane saw and what
 * the cloud's database says) and calls `tallyExits`.
 */

export interface CampaignResult {
  part: "cloud" | "gateway";
  exits: number;
  kills: number;
  lost: number;
  doubled: number;
  stuck: number;
  p50_ms: number;
  p99_ms: number;
  audit_ok: boolean;
  /** One line per lost / doubled / stuck exit (and any other failure), for the report. */
  problems: string[];
  wall_s: number;
}

export interface CampaignOptions {
  exits: number;
  kills: number;
  lanes?: number;
  seed?: number;
  /** Progress lines (a campaign prints nothing by itself). */
  log?: (line: string) => void;
}

/** Everything known about one driven exit once the campaign has settled. */
export interface ExitRecord {
  /** How the report names the exit: the session id, with the lane / plate when useful. */
  key: string;
  /** `payment/success` deliveries the lane ACTED on (barrier opened) — one is right. */
  successesActedOn: number;
  /** The driver left: the lane saw the barrier open and the vehicle pass. */
  letOut: boolean;
  /** The session's status in the cloud's database at the end (null: no such session). */
  status: string | null;
  /** Times the session was closed (`session.closed` audit events) — one is right. */
  closes: number;
  /** Payments captured for this exit (payment rows `paid`) — one is right for a paid exit. */
  paymentsCaptured: number;
  /** False for an exit that needs no payment (grace period, subscriber): then no success is owed. */
  paymentOwed?: boolean;
}

export interface Tally {
  lost: number;
  doubled: number;
  stuck: number;
  problems: string[];
}

/**
 * Each exit counts at most once as stuck or lost, and independently as doubled:
 * - stuck: the driver was never let out and the session is still `paid` or `pending_payment`
 *   (the driver is waiting at a closed barrier, or cannot pay);
 * - lost: otherwise, a payment/success owed and never acted on, or the session never closed
 *   (the exit request or the exit done vanished somewhere);
 * - doubled: two successes acted on, two closes, or two payments captured for one exit.
 */
export function tallyExits(records: readonly ExitRecord[]): Tally {
  const t: Tally = { lost: 0, doubled: 0, stuck: 0, problems: [] };
  for (const r of records) {
    const owed = r.paymentOwed !== false;
    const facts = `status ${r.status ?? "none"}, successes acted on ${r.successesActedOn}, closes ${r.closes}, payments captured ${r.paymentsCaptured}, ${r.letOut ? "let out" : "never let out"}`;
    if (!r.letOut && (r.status === "paid" || r.status === "pending_payment")) {
      t.stuck++;
      t.problems.push(`stuck ${r.key}: ${facts}`);
    } else if ((owed && r.successesActedOn === 0) || r.closes === 0) {
      t.lost++;
      t.problems.push(`lost ${r.key}: ${facts}`);
    }
    if (r.successesActedOn > 1 || r.closes > 1 || r.paymentsCaptured > 1) {
      t.doubled++;
      t.problems.push(`doubled ${r.key}: ${facts}`);
    }
  }
  return t;
}

/** The p-th percentile (nearest rank) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A small seeded PRNG (mulberry32): the same seed gives the same kill moments. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A number with one decimal, for the JSON line. */
export function round1(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : x;
}

/** A campaign cannot run here: a server or tool it needs is missing (tests skip on it unless required). */
export class CampaignPrerequisiteError extends Error {
  override readonly name = "CampaignPrerequisiteError";
  constructor(
    readonly what: "postgres" | "mosquitto" | "socat" | "haproxy",
    message: string,
  ) {
    super(message);
  }
}
