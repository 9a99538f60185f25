/**
 * The billing migrations of issue 16 (every way a driver pays, and what billing owes them
 * afterwards), in their own file so that cloud/db/migrations.ts stays readable; listed there in
 * order like every other migration. Same rules: never edit one once released.
 */

// Prepayments (issue 16 item 3, "paiement fixe"): a plate's stay at a site paid before its exit,
// for a window [window_from, window_until) priced by the tariff in force; its own state machine
// (PREPAYMENT_MACHINE), consumed once by an exit request of that plate (consumed_session_id).
export const V6_PREPAYMENTS = /* sql */ `
CREATE TABLE prepayments (
  prepayment_id        text PRIMARY KEY CHECK (prepayment_id ~ '^pp_[A-Za-z0-9_-]{16,64}$'),
  site_id              text NOT NULL REFERENCES sites(site_id),
  plate                text NOT NULL CHECK (plate ~ '^[A-Z0-9]{1,16}$'),
  window_from          timestamptz NOT NULL,
  window_until         timestamptz NOT NULL,
  amount               integer NOT NULL CHECK (amount > 0),
  currency             char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  tariff_id            bigint NOT NULL REFERENCES tariffs(tariff_id),
  tariff_version       integer NOT NULL,
  bought_by            text NOT NULL CHECK (bought_by IN ('duration', 'amount')),
  quote                jsonb NOT NULL,
  state                text NOT NULL DEFAULT 'requested'
                       CHECK (state IN ('requested', 'pending', 'paid', 'failed', 'canceled', 'consumed', 'refunded')),
  provider             text NOT NULL CHECK (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
  provider_ref         text UNIQUE,
  idempotency_key      text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  failure_reason       text,
  paid_at              timestamptz,
  consumed_session_id  text REFERENCES sessions(session_id),
  consumed_at          timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CHECK (window_until > window_from),
  CHECK (state = 'requested' OR provider_ref IS NOT NULL),
  CHECK ((state IN ('paid', 'consumed', 'refunded')) = (paid_at IS NOT NULL)),
  CHECK ((state = 'consumed') = (consumed_session_id IS NOT NULL))
);
CREATE INDEX prepayments_by_plate ON prepayments (site_id, plate, state);
CREATE UNIQUE INDEX prepayments_one_per_session ON prepayments (consumed_session_id) WHERE consumed_session_id IS NOT NULL;
`;

// Payment provider out of reach (issue 16 item 7): one row per driver's attempt that found the
// provider unreachable (timeout, connection refused, 5xx), at most one per session per window
// (cloud/db/billing-provider.ts), for /billing/health and the rate limit across instances.
export const V7_BILLING_PROVIDER_FAILURES = /* sql */ `
CREATE TABLE billing_provider_failures (
  id           bigserial PRIMARY KEY,
  session_id   text NOT NULL REFERENCES sessions(session_id),
  site_id      text NOT NULL,
  step         text NOT NULL CHECK (length(step) BETWEEN 1 AND 40),
  error_kind   text NOT NULL CHECK (error_kind IN ('timeout', 'connection', 'server_error', 'rate_limited')),
  status_code  integer,
  message      text NOT NULL CHECK (length(message) <= 300),
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_provider_failures_session ON billing_provider_failures (session_id, at);
CREATE INDEX billing_provider_failures_at ON billing_provider_failures (at);
`;

// Holds at entry, captured at exit (issue 16 item 4): a card authorised (capture_method=manual)
// for the tariff's authorisation amount before the stay, tied to a site and an identity (plate).
// Its own state machine (HOLD_MACHINE); the exit claims it (exit_* columns) and a worker captures
// it off the MQTT transaction; the capture itself is an ordinary `payments` row whose
// provider_ref is the PaymentIntent id. `exit_fallback` is the paymentReq the lane gets if the
// capture and the saved card both fail (it carries the pay link, as the outbox row would).
export const V8_HOLDS = /* sql */ `
CREATE TABLE hold_authorizations (
  hold_id          text PRIMARY KEY CHECK (hold_id ~ '^hold_[A-Za-z0-9_-]{16,64}$'),
  site_id          text NOT NULL REFERENCES sites(site_id),
  identity_method  text NOT NULL CHECK (identity_method IN ('plate', 'badge', 'ticket')),
  identity_value   text NOT NULL CHECK (length(identity_value) BETWEEN 1 AND 64),
  state            text NOT NULL DEFAULT 'requested'
                   CHECK (state IN ('requested', 'authorized', 'saved', 'captured', 'canceled', 'expired', 'failed')),
  amount           integer NOT NULL CHECK (amount > 0),
  currency         char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  provider_ref     text UNIQUE,
  customer_ref     text,
  payment_method_ref text,
  failure_reason   text,
  exit_session_id  text REFERENCES sessions(session_id),
  exit_payment_id  text REFERENCES payments(payment_id),
  exit_state       text CHECK (exit_state IS NULL OR exit_state IN ('pending', 'done', 'fell_back')),
  exit_fallback    jsonb,
  authorized_at    timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hold_authorizations_identity ON hold_authorizations (site_id, identity_method, identity_value, created_at);
CREATE INDEX hold_authorizations_exit_pending ON hold_authorizations (exit_state) WHERE exit_state = 'pending';
`;

// Refunds (issue 16): what a payment has had refunded, kept on the payment row itself so that
// payments.state stays 'paid' (paidTotal, the exit flow and every report that counts paid money
// keep working) while the payment and its session show "partially refunded" / "refunded".
// refunded_amount is the sum of its SUCCEEDED refunds, recomputed by the repository under the
// payment's row lock whenever a refund changes; refund_status follows PAYMENT_REFUND_MACHINE.
// provider_payment_intent: the PaymentIntent behind a payment paid through a Checkout Session
// (provider_ref is then the cs_ id), so that refunds the provider reports by payment_intent find it.
// refunds.requested_by / source: who started a refund (operator, CLI, the provider's dashboard).
export const V9_REFUNDS = /* sql */ `
ALTER TABLE payments ADD COLUMN refunded_amount integer NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0);
ALTER TABLE payments ADD COLUMN refund_status text NOT NULL DEFAULT 'none' CHECK (refund_status IN ('none', 'partial', 'full'));
ALTER TABLE payments ADD COLUMN provider_payment_intent text UNIQUE;
ALTER TABLE payments ADD CONSTRAINT payments_refunded_within_amount CHECK (refunded_amount <= amount);
ALTER TABLE payments ADD CONSTRAINT payments_refund_status_matches CHECK (
  (refund_status = 'none' AND refunded_amount = 0)
  OR (refund_status = 'partial' AND refunded_amount > 0 AND refunded_amount < amount)
  OR (refund_status = 'full' AND refunded_amount = amount));
ALTER TABLE refunds ADD COLUMN source text NOT NULL DEFAULT 'operator' CHECK (source IN ('operator', 'provider', 'late_payment'));
ALTER TABLE refunds ADD COLUMN requested_by text CHECK (requested_by IS NULL OR length(requested_by) BETWEEN 1 AND 128);
`;

// Permits (issue 16 item 5, seed 003): plans per site sold as Stripe subscriptions, and the
// permits bought. A permit is active exactly while Stripe says its subscription is; its badge is
// then a subscriber entry of the site's access list (cloud/flows/permits.ts).
export const V10_PERMITS = /* sql */ `
CREATE TABLE permit_plans (
  plan_id           text PRIMARY KEY CHECK (plan_id ~ '^[a-z0-9][a-z0-9-]{0,47}$'),
  site_id           text NOT NULL REFERENCES sites(site_id),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
  period            text NOT NULL CHECK (period IN ('month', 'year')),
  amount            bigint NOT NULL CHECK (amount > 0 AND amount <= 99999999),
  currency          char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  benefit           text NOT NULL CHECK (benefit IN ('free', 'discount')),
  discount_percent  integer CHECK (discount_percent BETWEEN 1 AND 99),
  max_permits       integer NOT NULL CHECK (max_permits BETWEEN 1 AND 100000),
  stripe_price_id   text,
  active            boolean NOT NULL DEFAULT true,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((benefit = 'discount') = (discount_percent IS NOT NULL))
);
CREATE INDEX permit_plans_site ON permit_plans (site_id);

CREATE TABLE permits (
  permit_id               text PRIMARY KEY CHECK (permit_id ~ '^pmt_[A-Za-z0-9]{8,40}$'),
  plan_id                 text NOT NULL REFERENCES permit_plans(plan_id),
  site_id                 text NOT NULL REFERENCES sites(site_id),
  holder_email            text NOT NULL CHECK (length(holder_email) BETWEEN 3 AND 254),
  badge_uid               text CHECK (badge_uid ~ '^[0-9A-F]{4,32}$'),
  plate                   text CHECK (length(plate) BETWEEN 1 AND 16),
  status                  text NOT NULL CHECK (status IN ('pending', 'active', 'past_due', 'canceled')),
  manage_token            text NOT NULL CHECK (length(manage_token) BETWEEN 20 AND 64),
  checkout_session_id     text UNIQUE,
  stripe_customer_id      text,
  stripe_subscription_id  text UNIQUE,
  subscription_status     text,
  current_period_end      timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  CHECK (badge_uid IS NOT NULL OR plate IS NOT NULL)
);
CREATE INDEX permits_plan_status ON permits (plan_id, status);
CREATE INDEX permits_site_badge ON permits (site_id, badge_uid);
-- Every plate exit asks for an active permit of the plate (flows/permits.ts subscriberPricingFor).
CREATE INDEX permits_site_plate_active ON permits (site_id, plate) WHERE status = 'active';
`;

// Receipts, invoices and credit notes (issue 16, cloud/billing/): a VAT rate per site (basis
// points), gapless numbering per site, kind and year (a counter row updated under its row lock in
// the issuing transaction: a rolled-back issue leaves no gap), the documents themselves, frozen at
// issue (content jsonb), and their PDF bytes with their SHA-256, stored once (at issue, or for a
// receipt at its first reading: rendering is deterministic, see cloud/billing/documents.ts).
// Both tables refuse UPDATE, DELETE and TRUNCATE (trigger).
export const V11_BILLING_DOCUMENTS = /* sql */ `
ALTER TABLE sites ADD COLUMN billing_vat_rate_bp integer NOT NULL DEFAULT 2000 CHECK (billing_vat_rate_bp BETWEEN 0 AND 10000);

CREATE TABLE billing_counters (
  site_id      text NOT NULL REFERENCES sites(site_id),
  kind         text NOT NULL CHECK (kind IN ('receipt', 'invoice', 'credit_note')),
  year         integer NOT NULL CHECK (year BETWEEN 2000 AND 2200),
  last_number  bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0),
  PRIMARY KEY (site_id, kind, year)
);

CREATE TABLE billing_documents (
  document_id  text PRIMARY KEY CHECK (document_id ~ '^doc_[a-f0-9]{32}$'),
  site_id      text NOT NULL REFERENCES sites(site_id),
  kind         text NOT NULL CHECK (kind IN ('receipt', 'invoice', 'credit_note')),
  year         integer NOT NULL,
  seq          bigint NOT NULL CHECK (seq > 0),
  number       text NOT NULL,
  issued_at    timestamptz NOT NULL,
  session_id   text REFERENCES sessions(session_id),
  payment_id   text REFERENCES payments(payment_id),
  refund_id    text,
  currency     char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  total_ttc    bigint NOT NULL,
  total_ht     bigint NOT NULL,
  total_vat    bigint NOT NULL,
  vat_rate_bp  integer NOT NULL CHECK (vat_rate_bp BETWEEN 0 AND 10000),
  content      jsonb NOT NULL,
  UNIQUE (site_id, kind, year, seq),
  UNIQUE (site_id, number),
  CHECK (total_ht + total_vat = total_ttc)
);
CREATE UNIQUE INDEX billing_documents_one_receipt ON billing_documents (payment_id) WHERE kind = 'receipt';
CREATE UNIQUE INDEX billing_documents_one_credit_note ON billing_documents (refund_id) WHERE kind = 'credit_note';
CREATE INDEX billing_documents_by_session ON billing_documents (session_id);

CREATE TABLE billing_document_pdfs (
  document_id  text PRIMARY KEY REFERENCES billing_documents(document_id),
  pdf          bytea NOT NULL,
  pdf_sha256   text NOT NULL CHECK (pdf_sha256 ~ '^[0-9a-f]{64}$'),
  stored_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION billing_documents_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'billing_documents are immutable once issued: % rejected', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER billing_documents_immutable
  BEFORE UPDATE OR DELETE ON billing_documents
  FOR EACH ROW EXECUTE FUNCTION billing_documents_reject_change();
CREATE TRIGGER billing_documents_no_truncate
  BEFORE TRUNCATE ON billing_documents
  FOR EACH STATEMENT EXECUTE FUNCTION billing_documents_reject_change();
CREATE TRIGGER billing_document_pdfs_immutable
  BEFORE UPDATE OR DELETE ON billing_document_pdfs
  FOR EACH ROW EXECUTE FUNCTION billing_documents_reject_change();
CREATE TRIGGER billing_document_pdfs_no_truncate
  BEFORE TRUNCATE ON billing_document_pdfs
  FOR EACH STATEMENT EXECUTE FUNCTION billing_documents_reject_change();
`;

// Issue 16: an unused (paid, not consumed) prepayment refunded in full by an operator. The
// refund lives on the prepayment (it is always the whole amount, once): refund_state moves only
// forward (requested → pending → succeeded | failed | canceled); refund_key is the operator's
// first Idempotency-Key (a repeat with it answers the same refund).
export const V12_PREPAYMENT_REFUNDS = /* sql */ `
ALTER TABLE prepayments
  ADD COLUMN refund_key text UNIQUE CHECK (length(refund_key) BETWEEN 1 AND 255),
  ADD COLUMN refund_state text CHECK (refund_state IN ('requested', 'pending', 'succeeded', 'failed', 'canceled')),
  ADD COLUMN refund_provider_ref text UNIQUE,
  ADD COLUMN refund_reason text CHECK (length(refund_reason) <= 400),
  ADD COLUMN refund_requested_by text,
  ADD COLUMN refund_requested_at timestamptz,
  ADD COLUMN refund_failure text,
  ADD COLUMN refunded_at timestamptz,
  ADD CONSTRAINT prepayments_refund_fields CHECK ((refund_state IS NULL) = (refund_key IS NULL)),
  ADD CONSTRAINT prepayments_refunded_has_refund CHECK (state <> 'refunded' OR refunded_at IS NOT NULL);
`;

// Issue 16, billing documents off the pay path: a paid payment's receipt is queued in the
// payment's transaction (one row per payment, no shared lock) and issued by the receipt worker
// (cloud/billing/receipt-worker.ts) after the commit; a crash in between leaves the row for the
// next run. Permit invoices: one per paid period (the key names the provider's invoice or the
// first Checkout), so a replayed invoice.paid issues nothing more.
export const V13_BILLING_QUEUES = /* sql */ `
CREATE TABLE billing_receipt_queue (
  payment_id     text PRIMARY KEY REFERENCES payments(payment_id),
  queued_at      timestamptz NOT NULL DEFAULT now(),
  claimed_until  timestamptz,
  attempts       integer NOT NULL DEFAULT 0,
  last_error     text
);
CREATE INDEX billing_receipt_queue_by_time ON billing_receipt_queue (queued_at);

CREATE TABLE billing_permit_invoices (
  period_key   text PRIMARY KEY,
  permit_id    text NOT NULL REFERENCES permits(permit_id),
  document_id  text NOT NULL UNIQUE REFERENCES billing_documents(document_id),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_permit_invoices_by_permit ON billing_permit_invoices (permit_id);
`;
