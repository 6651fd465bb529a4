-- Workflows: a config may hold steps instead of one task type; each step
-- run is an ordinary record that names its workflow run and step; a
-- workflow run's own state (its definition as it started, its status)
-- has a row of its own.
ALTER TABLE task_configs ADD COLUMN workflow JSONB;

ALTER TABLE task_executions
    ADD COLUMN workflow_execution_id UUID,
    ADD COLUMN step TEXT,
    ADD COLUMN step_index INTEGER;
CREATE INDEX task_executions_by_workflow ON task_executions (workflow_execution_id)
    WHERE workflow_execution_id IS NOT NULL;
-- Lists and statistics read runs (a workflow run by its own record), never
-- step runs: the by-time indexes hold runs only, so they stay as small and
-- index-only as before; step runs have their own, for retention.
DROP INDEX task_executions_by_config;
DROP INDEX task_executions_by_time;
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC)
    INCLUDE (duration_seconds, is_success) WHERE step IS NULL;
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC)
    INCLUDE (duration_seconds, is_success) WHERE step IS NULL;
CREATE INDEX task_executions_steps_by_time ON task_executions (started_at) WHERE step IS NOT NULL;

CREATE TABLE workflow_runs (
    execution_id  UUID PRIMARY KEY,
    config_id     UUID REFERENCES task_configs (id) ON DELETE CASCADE,
    workflow      JSONB NOT NULL,
    parameters    JSONB NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    -- The steps the conductor queued, in order (a JSON array of names).
    queued        JSONB NOT NULL DEFAULT '[]',
    retry_of      UUID,
    started_at    TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ,
    result        JSONB,
    error_message TEXT
);
CREATE INDEX workflow_runs_by_config ON workflow_runs (config_id, started_at DESC);
