-- The config store on SQLite (the embedded deployment): the same tables as
-- migrations/postgres, in SQLite's types. UUIDs are 16-byte BLOBs, times
-- RFC 3339 TEXT (sqlx's encoding; it sorts in time order), JSON is TEXT.
-- Scheduling state lives in the local backend's tables (migrations/local).
CREATE TABLE task_configs (
    id                    BLOB PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    description           TEXT NOT NULL DEFAULT '',
    task_type             TEXT NOT NULL,
    scheduler_type        TEXT NOT NULL CHECK (scheduler_type IN ('cron', 'date', 'manual')),
    schedule_config       TEXT NOT NULL DEFAULT '{}',
    parameters            TEXT NOT NULL DEFAULT '{}',
    max_retries           INTEGER NOT NULL DEFAULT 0 CHECK (max_retries >= 0),
    timeout_seconds       REAL CHECK (timeout_seconds > 0),
    priority              INTEGER NOT NULL DEFAULT 0,
    misfire_grace_seconds INTEGER NOT NULL DEFAULT 60 CHECK (misfire_grace_seconds >= 0),
    concurrency           TEXT NOT NULL DEFAULT 'allow' CHECK (concurrency IN ('allow', 'forbid')),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX task_configs_task_type ON task_configs (task_type);

CREATE TABLE task_executions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    config_id        BLOB REFERENCES task_configs (id) ON DELETE CASCADE,
    execution_id     BLOB NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    trigger          TEXT NOT NULL CHECK (trigger IN ('cron', 'date', 'manual', 'retry')),
    task_type        TEXT NOT NULL,
    scheduled_at     TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    completed_at     TEXT NOT NULL,
    duration_seconds REAL NOT NULL,
    is_success       INTEGER NOT NULL,
    result           TEXT,
    error_message    TEXT,
    logs             TEXT NOT NULL DEFAULT '',
    plugin_digest    TEXT,
    worker           TEXT NOT NULL,
    UNIQUE (execution_id, attempt)
);
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC);
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
);
