-- no-transaction
-- As migrations/postgres/0008, in SQLite's types. SQLite cannot change a
-- CHECK, so task_configs is rebuilt (SQLite's documented twelve steps:
-- foreign keys off, so dropping the old table cascades to no record).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE task_configs_new (
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
    concurrency           TEXT NOT NULL DEFAULT 'allow'
                          CHECK (concurrency IN ('allow', 'forbid', 'buffer_one', 'replace')),
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    plugin_digest         TEXT,
    tags                  TEXT NOT NULL DEFAULT '[]',
    max_concurrency       INTEGER CHECK (max_concurrency >= 1),
    notify                TEXT
);
INSERT INTO task_configs_new (id, name, description, task_type, scheduler_type, schedule_config, parameters,
    max_retries, timeout_seconds, priority, misfire_grace_seconds, concurrency, created_at, updated_at,
    plugin_digest)
SELECT id, name, description, task_type, scheduler_type, schedule_config, parameters, max_retries,
    timeout_seconds, priority, misfire_grace_seconds, concurrency, created_at, updated_at, plugin_digest
FROM task_configs;
DROP TABLE task_configs;
ALTER TABLE task_configs_new RENAME TO task_configs;
CREATE INDEX task_configs_task_type ON task_configs (task_type);
CREATE INDEX task_configs_pins ON task_configs (task_type, plugin_digest) WHERE plugin_digest IS NOT NULL;

ALTER TABLE task_executions ADD COLUMN cancelled_by TEXT;

CREATE TABLE notification_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id  BLOB NOT NULL,
    attempt       INTEGER NOT NULL,
    config_id     BLOB REFERENCES task_configs (id) ON DELETE CASCADE,
    event         TEXT NOT NULL,
    url           TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'refused')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    response_code INTEGER,
    last_error    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX notification_deliveries_by_run ON notification_deliveries (execution_id, attempt, event);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
