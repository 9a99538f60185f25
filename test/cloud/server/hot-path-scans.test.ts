/**
 * The exit flow reads no big table end to end (issue 20): against a schema that already holds
 * 100,000 past stays (sessions, payments, site events, webhook events, outbox rows, linked
 * identities), ANALYZEd, paid exits go through the real cloud — entry, exit request, the pay
 * API's PaymentIntent, the card confirmed at the Stripe test emulator, its signed webhook,
 * payment/success, exit/done — with its background passes running. PostgreSQL's own counters
 * (pg_stat_user_tables) must then show no sequential scan of those tables: one would cost a read
 * of every past stay per exit, the cost that grows with the car park's history.
 *
 * No SQL is copied here: whatever statement the code runs is what the counters see. A backend
 * reports its counters when it goes idle (within a second, PostgreSQL 15): the test waits for the
 * exits' own updates to show, then a little more. Reading early could only miss a scan, never
 * invent one.
 */
import { expect } from "chai";
import { requestPaymentIntent, payToken } from "../../../hil/chaos/paid-exit";
import { findActiveSession, getSession, type Sql } from "../../../cloud/db/index";
import { SiteClient, eventId, startOnServers, until, type TestCloud } from "./helpers";

const BIG_TABLES = ["sessions", "payments", "processed_site_events", "webhook_events", "outbox", "session_identities"] as const;
const PAST_STAYS = 100_000;
const EXITS = 8;
const SRC = "test-gateway";

interface TableCounters {
  seqScan: number;
  idxScan: number;
  nTupUpd: number;
}

async function counters(sql: Sql): Promise<Map<string, TableCounters>> {
  await sql`SELECT pg_stat_clear_snapshot()`;
  const rows = await sql<{ relname: string; seqScan: number; idxScan: number; nTupUpd: number }[]>`
    SELECT relname, seq_scan::int8 AS seq_scan, COALESCE(idx_scan, 0)::int8 AS idx_scan, n_tup_upd::int8 AS n_tup_upd
    FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname IN ${sql([...BIG_TABLES])}`;
  return new Map(rows.map((r) => [r.relname, { seqScan: r.seqScan, idxScan: r.idxScan, nTupUpd: r.nTupUpd }]));
}

/** A history of closed, paid stays at another site of the same operator, in set-based statements. */
async function seedHistory(sql: Sql, n: number): Promise<void> {
  await sql`INSERT INTO sites (site_id, name, time_zone, currency) VALUES ('history', 'History', 'Europe/Paris', 'EUR')`;
  await sql`
    INSERT INTO sessions (session_id, site_id, identity_method, identity_value, entry_ts, exit_ts, status, amount, currency, paid_at)
    SELECT 'h' || i, 'history', 'plate', 'H' || i, now() - interval '30 days' + i * interval '1 second', now() - interval '29 days' + i * interval '1 second', 'closed', 300, 'EUR', now() - interval '29 days'
    FROM generate_series(1, ${n}) AS i`;
  await sql`
    INSERT INTO payments (payment_id, session_id, provider, provider_ref, amount, currency, state, idempotency_key, validated_ts)
    SELECT 'hpay_' || i, 'h' || i, 'stripe', 'pi_h' || i, 300, 'EUR', 'paid', 'pi:h' || i || ':0', now() - interval '29 days'
    FROM generate_series(1, ${n}) AS i`;
  await sql`INSERT INTO processed_site_events (site_id, event_id, topic) SELECT 'history', 'ev' || i, 'parking/entry' FROM generate_series(1, ${n}) AS i`;
  await sql`
    INSERT INTO webhook_events (provider, event_id, type, status, payload, processed_at)
    SELECT 'stripe', 'evt_h' || i, 'payment_intent.succeeded', 'processed', '{}', now() - interval '29 days' FROM generate_series(1, ${n}) AS i`;
  await sql`INSERT INTO outbox (topic, payload, published_at) SELECT 'syspark/history/parking/payment/success', '{}', now() - interval '29 days' FROM generate_series(1, ${n}) AS i`;
  await sql`INSERT INTO session_identities (site_id, session_id, method, value, source) SELECT 'history', 'h' || i, 'ticket', 'T' || i, 'ticket_code' FROM generate_series(1, ${n}) AS i`;
  for (const table of BIG_TABLES) await sql.unsafe(`ANALYZE ${table}`);
}

describe("hot paths: a paid exit scans no big table sequentially (PostgreSQL, 100,000 past stays)", function () {
  this.timeout(180_000);
  let t: TestCloud | undefined;
  let site: SiteClient | undefined;

  before(async function () {
    t = await startOnServers(this);
    site = await SiteClient.connect(t.cloud.mqttUrl, t.siteId);
    await seedHistory(t.cloud.db.sql, PAST_STAYS);
  });
  after(async () => {
    await site?.close();
    await t?.close();
  });

  async function paidExit(cloud: TestCloud, s: SiteClient, i: number): Promise<void> {
    const plate = `HOT${String(i).padStart(3, "0")}`;
    await s.publish("entry", { ts: Date.now() - 2 * 3600_000, src: SRC, event_id: eventId(), lane_id: "E1", identity: { method: "plate", value: plate } });
    const entered = await until(() => findActiveSession(cloud.cloud.db.sql, cloud.siteId, { method: "plate", value: plate }), 15_000, `the entry of ${plate}`);
    await s.publish("exitReq", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", identity: { method: "plate", value: plate } });
    const req = await s.waitFor("paymentReq", (p) => p.session_id === entered.sessionId);
    const intent = await requestPaymentIntent(cloud.cloud.url, entered.sessionId, payToken(String(req.payload.pay_url)));
    await cloud.cloud.stripe.paymentIntents.confirm(intent.paymentIntent, { payment_method: "pm_card_visa", return_url: `${cloud.cloud.url}/return` });
    await s.waitFor("paymentSuccess", (p) => p.session_id === entered.sessionId);
    await s.publish("exitDone", { ts: Date.now(), src: SRC, event_id: eventId(), lane_id: "L1", session_id: entered.sessionId, barrier_result: "opened", passed: true, decided_by: "cloud" });
    await until(async () => (await getSession(cloud.cloud.db.sql, entered.sessionId)).status === "closed", 15_000, `the close of ${plate}`);
  }

  it(`${EXITS} paid exits, end to end with the background passes: index scans only, on every table that grows with the history`, async () => {
    const cloud = t as TestCloud;
    const sql = cloud.cloud.db.sql;
    const before = await counters(sql);
    for (let i = 0; i < EXITS; i++) await paidExit(cloud, site as SiteClient, i);
    // Each exit updates its session at least three times (priced, paid, closed): once they all
    // show, the backends that ran them have reported; a second more for the background passes.
    await until(async () => ((await counters(sql)).get("sessions")?.nTupUpd ?? 0) - (before.get("sessions")?.nTupUpd ?? 0) >= 3 * EXITS, 10_000, "the exits' session updates in pg_stat_user_tables");
    await new Promise((r) => setTimeout(r, 1500));
    const after = await counters(sql);
    const seqScans = Object.fromEntries(BIG_TABLES.flatMap((table) => {
      const d = (after.get(table)?.seqScan ?? 0) - (before.get(table)?.seqScan ?? 0);
      return d > 0 ? [[table, d]] : [];
    }));
    expect(seqScans, "sequential scans during the exits, by table").to.deep.equal({});
    // The counters did move: the exits read these tables, through their indexes.
    for (const table of ["sessions", "payments"] as const) expect((after.get(table)?.idxScan ?? 0) - (before.get(table)?.idxScan ?? 0), `${table} index scans`).to.be.greaterThan(EXITS);
  });
});
