-- As migrations/postgres/0015, in SQLite's types.
ALTER TABLE task_configs ADD COLUMN rate_limit TEXT;
ALTER TABLE task_configs ADD COLUMN worker_group TEXT;

CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at DESC);
