-- Plugins as versioned artifacts: as migrations/postgres/0007, in SQLite's
-- types (times as sqlx's text form).
CREATE TABLE plugin_chunks (
    digest TEXT NOT NULL,
    seq    INTEGER NOT NULL CHECK (seq >= 0),
    data   BLOB NOT NULL,
    PRIMARY KEY (digest, seq)
);

CREATE TABLE plugin_blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    chunks     INTEGER NOT NULL CHECK (chunks >= 0),
    created_at TEXT NOT NULL
);

CREATE TABLE plugin_versions (
    name       TEXT NOT NULL,
    digest     TEXT NOT NULL REFERENCES plugin_blobs (digest),
    shape      TEXT NOT NULL CHECK (shape IN ('task', 'command')),
    sidecar    TEXT,
    source     TEXT NOT NULL CHECK (source IN ('directory', 'upload')),
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    PRIMARY KEY (name, digest)
);
CREATE INDEX plugin_versions_by_digest ON plugin_versions (digest);

CREATE TABLE plugin_heads (
    name             TEXT PRIMARY KEY,
    digest           TEXT,
    directory_digest TEXT,
    revision         INTEGER NOT NULL DEFAULT 1,
    updated_at       TEXT NOT NULL
);

ALTER TABLE task_configs ADD COLUMN plugin_digest TEXT;
CREATE INDEX task_configs_pins ON task_configs (task_type, plugin_digest) WHERE plugin_digest IS NOT NULL;

-- SQLite cannot change a CHECK: the records' table is rebuilt with the
-- new columns and the `replay` trigger, its rows and indexes as they were.
CREATE TABLE task_executions_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    config_id        BLOB REFERENCES task_configs (id) ON DELETE CASCADE,
    execution_id     BLOB NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    trigger          TEXT NOT NULL CHECK (trigger IN ('cron', 'date', 'manual', 'retry', 'replay')),
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
    parameters       TEXT,
    timeout_seconds  REAL,
    UNIQUE (execution_id, attempt)
);
INSERT INTO task_executions_new (id, config_id, execution_id, attempt, trigger, task_type, scheduled_at,
    started_at, completed_at, duration_seconds, is_success, result, error_message, logs, plugin_digest, worker)
SELECT id, config_id, execution_id, attempt, trigger, task_type, scheduled_at, started_at, completed_at,
    duration_seconds, is_success, result, error_message, logs, plugin_digest, worker
FROM task_executions;
DROP TABLE task_executions;
ALTER TABLE task_executions_new RENAME TO task_executions;
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC, duration_seconds, is_success);
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC, duration_seconds, is_success);
CREATE INDEX task_executions_failures ON task_executions (started_at DESC) WHERE NOT is_success;
CREATE INDEX task_executions_config_failures ON task_executions (config_id, started_at DESC) WHERE NOT is_success;
CREATE INDEX task_executions_by_digest ON task_executions (plugin_digest, task_type);
