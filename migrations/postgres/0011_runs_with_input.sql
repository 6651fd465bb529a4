-- Runs with input: two more triggers (a signed webhook delivery, a
-- backfill of past ticks), a config's webhook secret (sealed with the
-- secrets key: {"nonce", "ciphertext"} in base64), and a way to find the
-- runs of a config's ticks (what a backfill skips).
ALTER TABLE task_executions DROP CONSTRAINT task_executions_trigger_check;
ALTER TABLE task_executions ADD CONSTRAINT task_executions_trigger_check
    CHECK (trigger IN ('cron', 'date', 'manual', 'retry', 'replay', 'webhook', 'backfill'));
ALTER TABLE task_configs ADD COLUMN webhook JSONB;
CREATE INDEX task_executions_ticks ON task_executions (config_id, scheduled_at)
    WHERE trigger IN ('cron', 'backfill');
