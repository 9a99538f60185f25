/**
 * Migration 17 (issue 18, entry lanes): occupancy counted per site and pool, identities linked to
 * sessions. Listed in cloud/db/migrations.ts. Never edit it once released.
 *
 * - sessions.identity_method gains 'pin' (an exit by an access-list PIN with no entry record),
 *   'reservation' (an entry by a reservation QR) and 'operator' (an entry an operator let in with
 *   no other identity); exit_method gains 'reservation'. The V1 CHECKs were unnamed column
 *   CHECKs: PostgreSQL named them sessions_identity_method_check, sessions_exit_method_check.
 * - sessions.pool: which part of the car park the car counts in; sessions.counted: the car is in
 *   the occupancy (set at entry, cleared once by the exit or the flag that takes it out — a
 *   session is never decremented twice).
 * - session_identities: every identity linked to a session (its own, the ticket's id and 8-digit
 *   code, the plate the entry or exit camera read, the other identity of a permit), so an exit
 *   finds the session by any of them. Looked up by (site, method, value) joined to open sessions.
 * - occupancy: the counter per (site, pool), never negative; occupancy_moves: its ledger, so
 *   occupied = sum(delta) per (site, pool) at every commit (both are written in the transaction of
 *   the session change). An exit that finds the counter at 0 (an operator adjusted the car off
 *   already) is written with delta 0: the ledger says what happened without going negative.
 * - entry_admissions: what parking/entry/decision admitted (the session id it named, the pool,
 *   the reservation), so the parking/entry that follows opens exactly that, even if the car park
 *   filled up in between (the car was told it may enter).
 * - sites.permit_spots / reservation_spots: spaces held back from tickets.
 * Backfill: every session's own identity is linked; every open session is counted (transient)
 * with one ledger row each.
 */
export const V17_ENTRY = /* sql */ `
ALTER TABLE sessions DROP CONSTRAINT sessions_identity_method_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_identity_method_check
  CHECK (identity_method IN ('plate', 'badge', 'ticket', 'pin', 'reservation', 'operator'));
ALTER TABLE sessions DROP CONSTRAINT sessions_exit_method_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_exit_method_check
  CHECK (exit_method IN ('plate', 'badge', 'ticket', 'pin', 'operator', 'reservation'));
ALTER TABLE sessions ADD COLUMN pool text NOT NULL DEFAULT 'transient' CHECK (pool IN ('transient', 'permit', 'reservation'));
ALTER TABLE sessions ADD COLUMN counted boolean NOT NULL DEFAULT false;
UPDATE sessions SET counted = true WHERE status IN ('active', 'pending_payment', 'paid');

ALTER TABLE sites ADD COLUMN permit_spots integer NOT NULL DEFAULT 0 CHECK (permit_spots BETWEEN 0 AND 1000000);
ALTER TABLE sites ADD COLUMN reservation_spots integer NOT NULL DEFAULT 0 CHECK (reservation_spots BETWEEN 0 AND 1000000);

CREATE TABLE session_identities (
  site_id     text NOT NULL REFERENCES sites(site_id),
  session_id  text NOT NULL REFERENCES sessions(session_id),
  method      text NOT NULL CHECK (method IN ('plate', 'badge', 'ticket', 'pin', 'reservation', 'operator')),
  value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 64),
  source      text NOT NULL CHECK (source IN ('session', 'ticket_code', 'entry_plate', 'permit', 'exit_plate', 'exit_pin', 'reservation')),
  linked_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, method, value)
);
CREATE INDEX session_identities_lookup ON session_identities (site_id, method, value);
INSERT INTO session_identities (site_id, session_id, method, value, source, linked_at)
  SELECT site_id, session_id, identity_method, identity_value, 'session', entry_ts FROM sessions;

CREATE TABLE occupancy (
  site_id   text NOT NULL REFERENCES sites(site_id),
  pool      text NOT NULL CHECK (pool IN ('transient', 'permit', 'reservation')),
  occupied  integer NOT NULL DEFAULT 0 CHECK (occupied >= 0),
  PRIMARY KEY (site_id, pool)
);
CREATE TABLE occupancy_moves (
  id           bigserial PRIMARY KEY,
  site_id      text NOT NULL REFERENCES sites(site_id),
  pool         text NOT NULL CHECK (pool IN ('transient', 'permit', 'reservation')),
  delta        integer NOT NULL,
  reason       text NOT NULL CHECK (reason IN ('entry', 'exit', 'flagged', 'adjust')),
  session_id   text REFERENCES sessions(session_id),
  operator_id  bigint REFERENCES operators(operator_id),
  note         text,
  at           timestamptz NOT NULL DEFAULT now(),
  CHECK (reason = 'adjust' OR session_id IS NOT NULL),
  CHECK (reason <> 'adjust' OR operator_id IS NOT NULL)
);
CREATE INDEX occupancy_moves_site ON occupancy_moves (site_id, pool, at);
INSERT INTO occupancy_moves (site_id, pool, delta, reason, session_id, note, at)
  SELECT site_id, 'transient', 1, 'entry', session_id, 'migration 17: open at the upgrade', entry_ts
  FROM sessions WHERE status IN ('active', 'pending_payment', 'paid');
INSERT INTO occupancy (site_id, pool, occupied)
  SELECT site_id, pool, sum(delta)::int4 FROM occupancy_moves GROUP BY site_id, pool;

CREATE TABLE entry_admissions (
  session_id       text PRIMARY KEY CHECK (length(session_id) BETWEEN 1 AND 64),
  site_id          text NOT NULL REFERENCES sites(site_id),
  event_id         text NOT NULL,
  lane_id          text NOT NULL,
  pool             text NOT NULL CHECK (pool IN ('transient', 'permit', 'reservation')),
  reservation_id   text,
  identity_method  text NOT NULL,
  identity_value   text NOT NULL,
  decided_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entry_admissions_site ON entry_admissions (site_id, decided_at);
`;
