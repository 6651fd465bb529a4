-- The status a user last chose for each schedule, and when a pause ends
-- by itself (see migrations/postgres/0010_schedule_intents.sql). The local
-- backend keeps its state in this same file, so it is read only to
-- rebuild state that is gone with the rest.
CREATE TABLE schedule_intents (
    config_id    BLOB PRIMARY KEY REFERENCES task_configs (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('inactive', 'active', 'paused')),
    paused_until TEXT,
    chosen_at    TEXT NOT NULL
);
