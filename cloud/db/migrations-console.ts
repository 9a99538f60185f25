/**
 * The migrations of issue 17 (the operators' console and its alerts), in their own file like the
 * billing ones; listed in cloud/db/migrations.ts in order. Same rules: never edit one once released.
 */

// Last-known state of the sites (ARCHITECTURE §3): what the lanes, the gateways and the sensors
// said last, persisted so a restarted cloud shows the truth at once. Each row keeps the site's
// own timestamp (`*_ts`, the payload's `ts`): an older message (a retained one delivered again,
// a replay) never overwrites a newer one. Lane ids are the database form (lowercase); the id
// the site uses on the wire is kept beside it, and becomes the lane's name when it has none.
export const V14_CONSOLE_STATE = /* sql */ `
ALTER TABLE sites ADD COLUMN capacity integer CHECK (capacity IS NULL OR capacity BETWEEN 0 AND 1000000);
ALTER TABLE sites ADD COLUMN entries_closed boolean NOT NULL DEFAULT false;
ALTER TABLE sites ADD COLUMN latitude double precision CHECK (latitude IS NULL OR latitude BETWEEN -90 AND 90);
ALTER TABLE sites ADD COLUMN longitude double precision CHECK (longitude IS NULL OR longitude BETWEEN -180 AND 180);
ALTER TABLE sites ADD COLUMN legal jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(legal) = 'object');
ALTER TABLE sites ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE lane_status (
  site_id        text NOT NULL,
  lane_id        text NOT NULL,
  wire_lane_id   text NOT NULL CHECK (length(wire_lane_id) BETWEEN 1 AND 64),
  exit_state     text,
  barrier_state  text,
  barrier_pos    integer,
  display        jsonb,
  session_id     text,
  fault          text,
  state_ts       timestamptz,
  present        boolean,
  present_ts     timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site_id, lane_id),
  FOREIGN KEY (site_id, lane_id) REFERENCES lanes(site_id, lane_id)
);

CREATE TABLE gateway_status (
  site_id          text PRIMARY KEY REFERENCES sites(site_id),
  src              text,
  status           text CHECK (status IN ('online', 'offline')),
  status_ts        timestamptz,
  -- since when the gateway has been in its current status (the alerts count "offline for N minutes" from here)
  status_since     timestamptz,
  heartbeat_ts     timestamptz,
  uptime_s         integer,
  outbox_depth     integer,
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Safety alarms and executor faults (parking/sensor_gate/error), active until cleared: by the
-- lane (a state without its fault, a reset acknowledged "done") or by an operator.
CREATE TABLE site_alarms (
  alarm_id     bigserial PRIMARY KEY,
  site_id      text NOT NULL REFERENCES sites(site_id),
  lane_id      text NOT NULL,
  event_id     text NOT NULL,
  code         text NOT NULL,
  severity     text NOT NULL CHECK (severity IN ('info', 'warning', 'alarm', 'fault')),
  detail       text,
  raised_at    timestamptz NOT NULL,
  cleared_at   timestamptz,
  cleared_by   text,
  UNIQUE (site_id, event_id)
);
CREATE INDEX site_alarms_active ON site_alarms (site_id, lane_id) WHERE cleared_at IS NULL;

-- Commands an operator sent to a site (open, reset, display text, entries closed / reopened),
-- with the site's acknowledgement when it answers (parking/barriere/ack by cmd_id).
CREATE TABLE operator_commands (
  cmd_id        text PRIMARY KEY CHECK (length(cmd_id) BETWEEN 1 AND 64),
  site_id       text NOT NULL REFERENCES sites(site_id),
  lane_id       text,
  kind          text NOT NULL CHECK (kind IN ('open', 'reset', 'close', 'display', 'entries_closed', 'entries_open')),
  operator      text NOT NULL,
  reason        text NOT NULL,
  detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
  sent_at       timestamptz NOT NULL DEFAULT now(),
  ack_result    text CHECK (ack_result IN ('done', 'refused', 'fault', 'timeout')),
  ack_detail    text,
  ack_at        timestamptz
);
CREATE INDEX operator_commands_by_site ON operator_commands (site_id, sent_at DESC);

-- One row per alert condition (cloud/alerts/): raised once, resolved once, whatever the number
-- of cloud instances evaluating it; the notification is claimed with the row lock.
CREATE TABLE alert_conditions (
  condition_key   text PRIMARY KEY CHECK (length(condition_key) BETWEEN 1 AND 200),
  site_id         text,
  kind            text NOT NULL,
  summary         text NOT NULL,
  raised_at       timestamptz NOT NULL DEFAULT now(),
  resolved_at     timestamptz,
  raised_sent_at  timestamptz,
  resolved_sent_at timestamptz,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text
);
CREATE INDEX alert_conditions_unsent ON alert_conditions (next_attempt_at)
  WHERE raised_sent_at IS NULL OR (resolved_at IS NOT NULL AND resolved_sent_at IS NULL);

-- The console's search: any session by plate / badge / ticket (not only the open ones), newest first.
CREATE INDEX sessions_by_identity_value ON sessions (identity_value, entry_ts DESC);
CREATE INDEX sessions_by_entry ON sessions (site_id, entry_ts DESC);

-- The live feed of one site, newest first (the console's site page and feed filters).
CREATE INDEX audit_log_by_site ON audit_log ((payload->>'site_id'), seq DESC);

-- The weather last fetched for a site (cloud/weather/), shown on the live view and published
-- retained on parking/meteo.
CREATE TABLE site_weather (
  site_id      text PRIMARY KEY REFERENCES sites(site_id),
  observed_at  timestamptz NOT NULL,
  fetched_at   timestamptz NOT NULL DEFAULT now(),
  report       jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object')
);
`;
