-- Static task definitions. Scheduling state (status, next run, history)
-- lives in the schedule backend, never here: there is no status column.
CREATE TABLE task_configs (
    id                    UUID PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    description           TEXT NOT NULL DEFAULT '',
    task_type             TEXT NOT NULL,
    scheduler_type        TEXT NOT NULL CHECK (scheduler_type IN ('cron', 'date', 'manual')),
    schedule_config       JSONB NOT NULL DEFAULT '{}',
    parameters            JSONB NOT NULL DEFAULT '{}',
    max_retries           INTEGER NOT NULL DEFAULT 0 CHECK (max_retries >= 0),
    timeout_seconds       DOUBLE PRECISION CHECK (timeout_seconds > 0),
    priority              INTEGER NOT NULL DEFAULT 0,
    misfire_grace_seconds INTEGER NOT NULL DEFAULT 60 CHECK (misfire_grace_seconds >= 0),
    concurrency           TEXT NOT NULL DEFAULT 'allow' CHECK (concurrency IN ('allow', 'forbid')),
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX task_configs_task_type ON task_configs (task_type);

-- One row per attempt of an execution: the is_success record.
CREATE TABLE task_executions (
    id               BIGSERIAL PRIMARY KEY,
    config_id        UUID REFERENCES task_configs (id) ON DELETE CASCADE,
    execution_id     UUID NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    trigger          TEXT NOT NULL CHECK (trigger IN ('cron', 'date', 'manual', 'retry')),
    task_type        TEXT NOT NULL,
    scheduled_at     TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    completed_at     TIMESTAMPTZ NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL,
    is_success       BOOLEAN NOT NULL,
    result           JSONB,
    error_message    TEXT,
    logs             TEXT NOT NULL DEFAULT '',
    plugin_digest    TEXT,
    worker           TEXT NOT NULL,
    UNIQUE (execution_id, attempt)
);
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC);
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC);
CREATE INDEX task_executions_failures ON task_executions (started_at DESC) WHERE NOT is_success;
