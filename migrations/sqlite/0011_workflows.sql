-- As migrations/postgres/0014, in SQLite's types.
ALTER TABLE task_configs ADD COLUMN workflow TEXT;

ALTER TABLE task_executions ADD COLUMN workflow_execution_id BLOB;
ALTER TABLE task_executions ADD COLUMN step TEXT;
ALTER TABLE task_executions ADD COLUMN step_index INTEGER;
CREATE INDEX task_executions_by_workflow ON task_executions (workflow_execution_id)
    WHERE workflow_execution_id IS NOT NULL;
DROP INDEX task_executions_by_config;
DROP INDEX task_executions_by_time;
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC, duration_seconds, is_success)
    WHERE step IS NULL;
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC, duration_seconds, is_success)
    WHERE step IS NULL;
CREATE INDEX task_executions_steps_by_time ON task_executions (started_at) WHERE step IS NOT NULL;

CREATE TABLE workflow_runs (
    execution_id  BLOB PRIMARY KEY,
    config_id     BLOB REFERENCES task_configs (id) ON DELETE CASCADE,
    workflow      TEXT NOT NULL,
    parameters    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    -- The steps the conductor queued, in order (a JSON array of names).
    queued        TEXT NOT NULL DEFAULT '[]',
    retry_of      BLOB,
    started_at    TEXT NOT NULL,
    completed_at  TEXT,
    result        TEXT,
    error_message TEXT
);
CREATE INDEX workflow_runs_by_config ON workflow_runs (config_id, started_at DESC);
