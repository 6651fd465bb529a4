-- As migrations/postgres/0009, in SQLite's types.
CREATE TABLE ui_sessions (
    id_sha256    TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
CREATE INDEX task_executions_by_task_type ON task_executions (task_type, started_at DESC);
