-- What operators ask of a scheduler (overlap policies, concurrency limits,
-- tags, notifications, cancel): the config's new fields, who cancelled a
-- run, and the deliveries of notifications.
ALTER TABLE task_configs DROP CONSTRAINT task_configs_concurrency_check;
ALTER TABLE task_configs ADD CONSTRAINT task_configs_concurrency_check
    CHECK (concurrency IN ('allow', 'forbid', 'buffer_one', 'replace'));
ALTER TABLE task_configs ADD COLUMN tags JSONB NOT NULL DEFAULT '[]';
ALTER TABLE task_configs ADD COLUMN max_concurrency INTEGER CHECK (max_concurrency >= 1);
-- {"url", "on", "secret"}: the secret is never answered (see NotifyView).
ALTER TABLE task_configs ADD COLUMN notify JSONB;
CREATE INDEX task_configs_tags ON task_configs USING GIN (tags jsonb_path_ops);

ALTER TABLE task_executions ADD COLUMN cancelled_by TEXT;

-- One row per notification of one attempt's outcome, updated as it is
-- retried: what was sent where, and how it went.
CREATE TABLE notification_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    execution_id  UUID NOT NULL,
    attempt       INTEGER NOT NULL,
    config_id     UUID REFERENCES task_configs (id) ON DELETE CASCADE,
    event         TEXT NOT NULL,
    url           TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'refused')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    response_code INTEGER,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX notification_deliveries_by_run ON notification_deliveries (execution_id, attempt, event);
