/**
 * Versioned schema migrations, applied in order by runMigrations (cloud/db/migrate.ts).
 * Rules: never edit a migration once released (its checksum is recorded and checked on start);
 * add a new version instead. Each migration runs in its own transaction.
 *
 * Conventions (ARCHITECTURE §5): money is an integer `amount` in minor units next to an
 * ISO 4217 `currency`; every timestamp is timestamptz (the connection TimeZone is UTC);
 * status columns carry a CHECK with the same values as the state machines in
 * cloud/domain/state-machines.ts.
 */

import { V14_CONSOLE_STATE } from "./migrations-console";
import { V16_REVENUE_INDEXES } from "./migrations-revenue";
import { V17_ENTRY } from "./migrations-entry";
import { V18_COMMERCE } from "./migrations-commerce";
import { V19_CLOUD_INSTANCES } from "./instances";
import { V6_PREPAYMENTS, V7_BILLING_PROVIDER_FAILURES, V8_HOLDS, V9_REFUNDS, V10_PERMITS, V11_BILLING_DOCUMENTS, V12_PREPAYMENT_REFUNDS, V13_BILLING_QUEUES } from "./migrations-billing";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const V1_CORE = /* sql */ `
CREATE TABLE sites (
  site_id     text PRIMARY KEY CHECK (site_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  time_zone   text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
  currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lanes (
  site_id     text NOT NULL REFERENCES sites(site_id),
  lane_id     text NOT NULL CHECK (lane_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  kind        text NOT NULL CHECK (kind IN ('entry', 'exit')),
  name        text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site_id, lane_id)
);

CREATE TABLE tariffs (
  tariff_id       bigserial PRIMARY KEY,
  site_id         text NOT NULL REFERENCES sites(site_id),
  version         integer NOT NULL CHECK (version > 0),
  effective_from  timestamptz NOT NULL,
  document        jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (site_id, version)
);
CREATE INDEX tariffs_in_force ON tariffs (site_id, effective_from DESC, version DESC);

CREATE TABLE sessions (
  session_id        text PRIMARY KEY CHECK (length(session_id) BETWEEN 1 AND 64),
  site_id           text NOT NULL REFERENCES sites(site_id),
  entry_lane_id     text,
  exit_lane_id      text,
  identity_method   text NOT NULL CHECK (identity_method IN ('plate', 'badge', 'ticket')),
  identity_value    text NOT NULL CHECK (length(identity_value) BETWEEN 1 AND 64),
  entry_ts          timestamptz NOT NULL,
  exit_ts           timestamptz,
  status            text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'pending_payment', 'paid', 'closed', 'flagged')),
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  tariff_id         bigint REFERENCES tariffs(tariff_id),
  tariff_version    integer,
  amount            integer CHECK (amount >= 0),
  currency          char(3) CHECK (currency ~ '^[A-Z]{3}$'),
  quote_breakdown   jsonb,
  priced_at         timestamptz,
  pay_token_hash    text CHECK (pay_token_hash ~ '^[0-9a-f]{64}$'),
  paid_at           timestamptz,
  exit_method       text CHECK (exit_method IN ('plate', 'badge', 'ticket', 'pin', 'operator')),
  barrier_result    text CHECK (barrier_result IN ('opened', 'timeout', 'fault', 'not_opened')),
  flag_reason       text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (site_id, entry_lane_id) REFERENCES lanes(site_id, lane_id),
  FOREIGN KEY (site_id, exit_lane_id) REFERENCES lanes(site_id, lane_id),
  CHECK ((amount IS NULL) = (currency IS NULL)),
  CHECK (status NOT IN ('pending_payment', 'paid') OR amount IS NOT NULL),
  CHECK (exit_ts IS NULL OR exit_ts >= entry_ts)
);
-- One open session per identity per site (issue 4). Open = the vehicle is inside.
CREATE UNIQUE INDEX sessions_one_open_per_identity
  ON sessions (site_id, identity_method, identity_value)
  WHERE status IN ('active', 'pending_payment', 'paid');
CREATE INDEX sessions_by_status ON sessions (site_id, status);

CREATE TABLE payments (
  payment_id       text PRIMARY KEY,
  session_id       text NOT NULL REFERENCES sessions(session_id),
  provider         text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
  provider_ref     text UNIQUE,
  amount           integer NOT NULL CHECK (amount > 0),
  currency         char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  state            text NOT NULL DEFAULT 'requested'
                   CHECK (state IN ('requested', 'pending', 'paid', 'failed', 'canceled')),
  idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  validated_ts     timestamptz,
  failure_reason   text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'paid') = (validated_ts IS NOT NULL)),
  CHECK (state = 'requested' OR provider_ref IS NOT NULL)
);
CREATE INDEX payments_by_session ON payments (session_id);

CREATE TABLE refunds (
  refund_id        text PRIMARY KEY,
  payment_id       text NOT NULL REFERENCES payments(payment_id),
  provider_ref     text UNIQUE,
  amount           integer NOT NULL CHECK (amount > 0),
  currency         char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  state            text NOT NULL DEFAULT 'requested'
                   CHECK (state IN ('requested', 'pending', 'succeeded', 'failed', 'canceled')),
  reason           text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  idempotency_key  text NOT NULL UNIQUE,
  failure_reason   text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_payment ON refunds (payment_id);

CREATE TABLE webhook_events (
  provider         text NOT NULL,
  event_id         text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 255),
  type             text NOT NULL,
  status           text NOT NULL DEFAULT 'received'
                   CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
  attempts         integer NOT NULL DEFAULT 1,
  last_error       text,
  payload          jsonb NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  processed_at     timestamptz,
  PRIMARY KEY (provider, event_id)
);

CREATE TABLE outbox (
  id             bigserial PRIMARY KEY,
  topic          text NOT NULL CHECK (length(topic) BETWEEN 1 AND 512),
  payload        jsonb NOT NULL,
  dedupe_key     text UNIQUE,
  created_at     timestamptz NOT NULL DEFAULT now(),
  published_at   timestamptz,
  attempts       integer NOT NULL DEFAULT 0,
  claimed_until  timestamptz,
  last_error     text
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE operators (
  operator_id    bigserial PRIMARY KEY,
  username       text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
  password_hash  text NOT NULL CHECK (length(password_hash) >= 20),
  role           text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  disabled       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX operators_username ON operators (username);

CREATE TABLE overrides (
  override_id    bigserial PRIMARY KEY,
  cmd_id         text NOT NULL UNIQUE,
  site_id        text NOT NULL REFERENCES sites(site_id),
  lane_id        text NOT NULL,
  session_id     text REFERENCES sessions(session_id),
  operator_id    bigint NOT NULL REFERENCES operators(operator_id),
  action         text NOT NULL CHECK (action IN ('open', 'reset')),
  reason         text NOT NULL CHECK (length(btrim(reason)) BETWEEN 3 AND 500),
  created_at     timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (site_id, lane_id) REFERENCES lanes(site_id, lane_id)
);

-- Trusted badges / PINs for offline exits (ARCHITECTURE §3 parking/acl/*). PINs are stored
-- hashed only. Every change bumps the site's access-list version.
CREATE TABLE access_list_versions (
  site_id   text PRIMARY KEY REFERENCES sites(site_id),
  version   bigint NOT NULL DEFAULT 0
);
CREATE TABLE access_list_entries (
  site_id     text NOT NULL REFERENCES sites(site_id),
  entry_id    text NOT NULL CHECK (length(entry_id) BETWEEN 1 AND 64),
  kind        text NOT NULL CHECK (kind IN ('badge', 'pin')),
  badge_uid   text,
  pin_hash    text,
  label       text NOT NULL DEFAULT '',
  valid_from  timestamptz,
  valid_until timestamptz,
  version     bigint NOT NULL,
  deleted     boolean NOT NULL DEFAULT false,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site_id, entry_id),
  CHECK ((kind = 'badge') = (badge_uid IS NOT NULL)),
  CHECK ((kind = 'pin') = (pin_hash IS NOT NULL))
);
CREATE UNIQUE INDEX access_list_badge ON access_list_entries (site_id, badge_uid)
  WHERE badge_uid IS NOT NULL AND NOT deleted;

-- Site events already acted on (MQTT QoS 1 delivers duplicates: act once).
CREATE TABLE processed_site_events (
  site_id       text NOT NULL,
  event_id      text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 128),
  topic         text NOT NULL,
  processed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site_id, event_id)
);

-- Append-only, hash-chained audit log. hash = SHA-256(prev_hash || canonical JSON of
-- {seq, ts, kind, session_id, payload}) computed in cloud/db/audit.ts; audit_head holds the
-- chain head and is locked (FOR UPDATE) by every append so the chain never forks.
CREATE TABLE audit_log (
  seq         bigint PRIMARY KEY CHECK (seq > 0),
  ts          timestamptz NOT NULL,
  kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
  session_id  text,
  payload     jsonb NOT NULL,
  prev_hash   text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash        text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_session ON audit_log (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE audit_head (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  seq        bigint NOT NULL,
  hash       text NOT NULL
);
INSERT INTO audit_head (singleton, seq, hash) VALUES (true, 0, repeat('0', 64));

CREATE FUNCTION audit_log_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % rejected', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_reject_change();
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();
`;

// Deferred chaining for throughput: business transactions queue audit rows here (no global
// lock); chainPendingAudit moves them into audit_log in batches under one head lock. Queued rows
// can be inserted and (by the chainer) deleted, never updated.
const V2_AUDIT_PENDING = /* sql */ `
CREATE TABLE audit_pending (
  id          bigserial PRIMARY KEY,
  ts          timestamptz NOT NULL,
  kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
  session_id  text,
  payload     jsonb NOT NULL
);
CREATE FUNCTION audit_pending_reject_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_pending rows cannot be modified: % rejected', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_pending_no_update
  BEFORE UPDATE ON audit_pending
  FOR EACH ROW EXECUTE FUNCTION audit_pending_reject_update();
`;

// Subscribers (ARCHITECTURE §4 "a zero fee (grace period, subscriber)"): a badge entry of the
// access list can mark a subscription holder at that site; exits by that badge are priced with
// the tariff's subscriber discount.
const V3_ACCESS_SUBSCRIBER = /* sql */ `
ALTER TABLE access_list_entries ADD COLUMN subscriber boolean NOT NULL DEFAULT false;
ALTER TABLE access_list_entries ADD CONSTRAINT access_list_subscriber_badge CHECK (NOT subscriber OR kind = 'badge');
`;

// Outbox leases carry their owner (the cloud instance id): a cloud restarted after a SIGKILL takes
// back at once what its dead incarnation had claimed but not published, instead of leaving a
// driver's payment/success behind a lease for its whole length (issue 13, found by the CI crash test).
const V4_OUTBOX_CLAIMED_BY = /* sql */ `
ALTER TABLE outbox ADD COLUMN claimed_by text CHECK (claimed_by IS NULL OR length(claimed_by) BETWEEN 1 AND 128);
`;

// Operator sessions and login throttling (issue 15): a token names a session row that logout
// deletes (revocation across instances); failed logins are counted per account and per client
// address in the database, so every instance sharing it applies the same lockout.
const V5_OPERATOR_SESSIONS = /* sql */ `
CREATE TABLE operator_sessions (
  session_id   text PRIMARY KEY CHECK (session_id ~ '^[A-Za-z0-9_-]{22}$'),
  operator_id  bigint NOT NULL REFERENCES operators(operator_id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX operator_sessions_expires ON operator_sessions (expires_at);

CREATE TABLE login_failures (
  id         bigserial PRIMARY KEY,
  key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
  failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, failed_at);
CREATE INDEX login_failures_ts ON login_failures (failed_at);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "core schema", sql: V1_CORE },
  { version: 2, name: "audit_pending (deferred chaining)", sql: V2_AUDIT_PENDING },
  { version: 3, name: "access_list_entries.subscriber", sql: V3_ACCESS_SUBSCRIBER },
  { version: 4, name: "outbox.claimed_by (lease owner)", sql: V4_OUTBOX_CLAIMED_BY },
  { version: 5, name: "operator_sessions, login_failures", sql: V5_OPERATOR_SESSIONS },
  { version: 6, name: "prepayments", sql: V6_PREPAYMENTS },
  { version: 7, name: "billing_provider_failures", sql: V7_BILLING_PROVIDER_FAILURES },
  { version: 8, name: "hold_authorizations (hold at entry, capture at exit)", sql: V8_HOLDS },
  { version: 9, name: "payments.refunded_amount / refund_status, refunds.source", sql: V9_REFUNDS },
  { version: 10, name: "permit_plans, permits (subscriptions)", sql: V10_PERMITS },
  { version: 11, name: "billing documents (receipts, invoices, credit notes) and their PDFs, sites.billing_vat_rate_bp", sql: V11_BILLING_DOCUMENTS },
  { version: 12, name: "prepayments.refund_* (an unused prepayment refunded)", sql: V12_PREPAYMENT_REFUNDS },
  { version: 13, name: "billing_receipt_queue (receipts off the pay path), billing_permit_invoices", sql: V13_BILLING_QUEUES },
  { version: 14, name: "console: last-known lane / gateway state, alarms, operator commands, alert conditions, weather, site capacity and details", sql: V14_CONSOLE_STATE },
  { version: 16, name: "revenue report: payments / refunds site_id, indexes by site and time", sql: V16_REVENUE_INDEXES },
  { version: 17, name: "entry lanes: occupancy per site and pool, identities linked to sessions", sql: V17_ENTRY },
  { version: 18, name: "merchants and validations, lost-ticket declarations, reservations", sql: V18_COMMERCE },
  { version: 19, name: "cloud_instances (consumer sessions of instances that are gone get drained)", sql: V19_CLOUD_INSTANCES },
];
