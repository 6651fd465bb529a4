-- The status a user last chose for each schedule (start, pause, resume,
-- stop, or created without auto_start), and when a pause ends by itself:
-- what a schedule backend that lost its state (a Redis without
-- persistence, restarted) is rebuilt from. Not the live status, which the
-- backend owns; written after each of the user's actions succeeded.
CREATE TABLE schedule_intents (
    config_id    UUID PRIMARY KEY REFERENCES task_configs (id) ON DELETE CASCADE,
    status       TEXT NOT NULL CHECK (status IN ('inactive', 'active', 'paused')),
    paused_until TIMESTAMPTZ,
    chosen_at    TIMESTAMPTZ NOT NULL
);
