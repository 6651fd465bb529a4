-- The dashboard (/ui): its login sessions, and the index its runs page
-- filters by task type with (newest first).
CREATE TABLE ui_sessions (
    id_sha256    TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
CREATE INDEX task_executions_by_task_type ON task_executions (task_type, started_at DESC);
