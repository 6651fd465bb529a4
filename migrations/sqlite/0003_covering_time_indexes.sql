-- The by-time indexes carry what the statistics read of a record (its
-- duration and outcome), so the p95 sample (the latest 1,000 records) and
-- the first partial minute of a window are read from the index alone,
-- not from 1,000 scattered table rows.
DROP INDEX task_executions_by_config;
DROP INDEX task_executions_by_time;
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC, duration_seconds, is_success);
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC, duration_seconds, is_success);
