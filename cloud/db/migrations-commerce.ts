/**
 * Migration 18 (issue 18): merchants and their validations, lost-ticket declarations,
 * reservations. Listed in cloud/db/migrations.ts. Never edit it once released.
 *
 * - merchants: a shop, cinema or hotel of a site that validates its customers' parking with ONE
 *   rule of the tariff (a key of discounts.validations), within a budget (what the validations
 *   may cost the operator, minor units). The merchant's page is reached with a secret link whose
 *   SHA-256 only is stored.
 * - validation_codes: one-use codes a merchant issued (or the merchant page used directly on a
 *   session: no printed code, state `used` at once); `issued → used` happens once (the UPDATE …
 *   WHERE state = 'issued' of cloud/db/merchants.ts), its cost is what the session's price lost.
 * - session_validations: the rules applied to a session, in order (pricing-extras.ts reads them).
 * - lost_ticket_declarations: one per session, who declared it.
 * - reservations: a prepaid stay for a plate or a QR code (SPR1.<code>), paid through the prepay
 *   path (its prepayment row), honoured at the entry within its window, claimed by one session.
 */
export const V18_COMMERCE = /* sql */ `
CREATE TABLE merchants (
  merchant_id        text PRIMARY KEY CHECK (merchant_id ~ '^m_[A-Za-z0-9_-]{8,64}$'),
  site_id            text NOT NULL REFERENCES sites(site_id),
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
  kind               text NOT NULL CHECK (kind IN ('shop', 'cinema', 'hotel', 'other')),
  rule               text NOT NULL CHECK (rule ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
  budget_minor       bigint NOT NULL CHECK (budget_minor >= 0),
  spent_minor        bigint NOT NULL DEFAULT 0 CHECK (spent_minor >= 0),
  access_token_hash  text NOT NULL UNIQUE CHECK (access_token_hash ~ '^[0-9a-f]{64}$'),
  active             boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (spent_minor <= budget_minor)
);
CREATE INDEX merchants_by_site ON merchants (site_id, name);

CREATE TABLE validation_codes (
  code         text PRIMARY KEY CHECK (code ~ '^[A-Z0-9]{12,32}$'),
  merchant_id  text NOT NULL REFERENCES merchants(merchant_id),
  site_id      text NOT NULL REFERENCES sites(site_id),
  rule         text NOT NULL CHECK (rule ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
  state        text NOT NULL DEFAULT 'issued' CHECK (state IN ('issued', 'used', 'void')),
  session_id   text REFERENCES sessions(session_id),
  used_at      timestamptz,
  used_via     text CHECK (used_via IN ('pay_station', 'pay_page', 'merchant_page')),
  cost_minor   bigint CHECK (cost_minor >= 0),
  issue_key    text CHECK (length(issue_key) BETWEEN 8 AND 64),
  created_at   timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'used') = (session_id IS NOT NULL AND used_at IS NOT NULL AND cost_minor IS NOT NULL))
);
CREATE INDEX validation_codes_by_merchant ON validation_codes (merchant_id, used_at);
CREATE UNIQUE INDEX validation_codes_issue_key ON validation_codes (merchant_id, issue_key) WHERE issue_key IS NOT NULL;

CREATE TABLE session_validations (
  session_id   text NOT NULL REFERENCES sessions(session_id),
  code         text NOT NULL REFERENCES validation_codes(code),
  merchant_id  text NOT NULL REFERENCES merchants(merchant_id),
  rule         text NOT NULL,
  applied_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, code)
);

CREATE TABLE lost_ticket_declarations (
  session_id   text PRIMARY KEY REFERENCES sessions(session_id),
  site_id      text NOT NULL REFERENCES sites(site_id),
  declared_by  text NOT NULL CHECK (declared_by IN ('pay_station', 'operator')),
  operator_id  bigint REFERENCES operators(operator_id),
  plate        text,
  lane         text,
  reason       text CHECK (length(reason) <= 200),
  declared_at  timestamptz NOT NULL DEFAULT now(),
  CHECK ((declared_by = 'operator') = (operator_id IS NOT NULL))
);

CREATE TABLE reservations (
  reservation_id  text PRIMARY KEY CHECK (reservation_id ~ '^rsv_[A-Za-z0-9_-]{16,64}$'),
  site_id         text NOT NULL REFERENCES sites(site_id),
  code            text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]{8,32}$'),
  plate           text CHECK (plate ~ '^[A-Z0-9]{1,16}$'),
  starts_at       timestamptz NOT NULL,
  ends_at         timestamptz NOT NULL,
  amount          integer NOT NULL CHECK (amount >= 0),
  currency        char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'paid', 'entered', 'exited', 'canceled', 'expired')),
  prepayment_id   text UNIQUE REFERENCES prepayments(prepayment_id),
  session_id      text UNIQUE REFERENCES sessions(session_id),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at),
  CHECK ((state IN ('entered', 'exited')) = (session_id IS NOT NULL))
);
CREATE INDEX reservations_by_plate ON reservations (site_id, plate, state) WHERE plate IS NOT NULL;
CREATE INDEX reservations_by_window ON reservations (site_id, state, starts_at, ends_at);
`;
