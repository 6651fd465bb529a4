-- As migrations/postgres/0011, in SQLite's types. SQLite cannot change a
-- CHECK: the records' table is rebuilt with the `webhook` and `backfill`
-- triggers, its rows and indexes as they were (no table refers to it).
CREATE TABLE task_executions_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    config_id        BLOB REFERENCES task_configs (id) ON DELETE CASCADE,
    execution_id     BLOB NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    trigger          TEXT NOT NULL
                     CHECK (trigger IN ('cron', 'date', 'manual', 'retry', 'replay', 'webhook', 'backfill')),
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
    cancelled_by     TEXT,
    UNIQUE (execution_id, attempt)
);
INSERT INTO task_executions_new (id, config_id, execution_id, attempt, trigger, task_type, scheduled_at,
    started_at, completed_at, duration_seconds, is_success, result, error_message, logs, plugin_digest, worker,
    parameters, timeout_seconds, cancelled_by)
SELECT id, config_id, execution_id, attempt, trigger, task_type, scheduled_at, started_at, completed_at,
    duration_seconds, is_success, result, error_message, logs, plugin_digest, worker, parameters,
    timeout_seconds, cancelled_by
FROM task_executions;
DROP TABLE task_executions;
ALTER TABLE task_executions_new RENAME TO task_executions;
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC, duration_seconds, is_success);
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC, duration_seconds, is_success);
CREATE INDEX task_executions_failures ON task_executions (started_at DESC) WHERE NOT is_success;
CREATE INDEX task_executions_config_failures ON task_executions (config_id, started_at DESC) WHERE NOT is_success;
CREATE INDEX task_executions_by_digest ON task_executions (plugin_digest, task_type);
CREATE INDEX task_executions_by_task_type ON task_executions (task_type, started_at DESC);
CREATE INDEX task_executions_ticks ON task_executions (config_id, scheduled_at)
    WHERE trigger IN ('cron', 'backfill');

ALTER TABLE task_configs ADD COLUMN webhook TEXT;
