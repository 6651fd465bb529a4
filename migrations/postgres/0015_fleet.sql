-- Operating a fleet, round two: a config may name the worker group its runs
-- go to and a rate at which they may start; every change made through the
-- API, the dashboard or the CLI appends an audit event.
ALTER TABLE task_configs
    ADD COLUMN rate_limit JSONB,
    ADD COLUMN worker_group TEXT;

CREATE TABLE audit_events (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at DESC);
