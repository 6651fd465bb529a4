-- Execution records partitioned by month of started_at, so retention
-- drops whole months instead of deleting row by row.
--
-- Today's table is not copied: it becomes the first partition (every start
-- before the month after its newest record's) and keeps its indexes, which attach
-- to the partitioned table's. Two indexes are new to it (the keys must
-- include started_at) and are built here unless they exist: on a large
-- table, create them beforehand with CREATE UNIQUE INDEX CONCURRENTLY under
-- the same names (docs: "Records at scale") so this step takes moments.
-- Months from next month on get partitions of their own, created ahead
-- by taskbox_record_partitions() (at every start, and hourly).

ALTER TABLE task_executions RENAME TO task_executions_legacy;
ALTER TABLE task_executions_legacy RENAME CONSTRAINT task_executions_pkey TO task_executions_legacy_pkey;
ALTER TABLE task_executions_legacy
    RENAME CONSTRAINT task_executions_execution_id_attempt_key TO task_executions_legacy_attempt_key;
ALTER TABLE task_executions_legacy RENAME CONSTRAINT task_executions_config_id_fkey TO task_executions_legacy_config_fkey;
ALTER INDEX task_executions_by_config RENAME TO task_executions_legacy_by_config;
ALTER INDEX task_executions_by_digest RENAME TO task_executions_legacy_by_digest;
ALTER INDEX task_executions_by_task_type RENAME TO task_executions_legacy_by_task_type;
ALTER INDEX task_executions_by_time RENAME TO task_executions_legacy_by_time;
ALTER INDEX task_executions_by_workflow RENAME TO task_executions_legacy_by_workflow;
ALTER INDEX task_executions_config_failures RENAME TO task_executions_legacy_config_failures;
ALTER INDEX task_executions_failures RENAME TO task_executions_legacy_failures;
ALTER INDEX task_executions_steps_by_time RENAME TO task_executions_legacy_steps_by_time;
ALTER INDEX task_executions_ticks RENAME TO task_executions_legacy_ticks;

CREATE TABLE task_executions (
    LIKE task_executions_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS
) PARTITION BY RANGE (started_at);
ALTER SEQUENCE task_executions_id_seq OWNED BY task_executions.id;
ALTER TABLE task_executions ADD CONSTRAINT task_executions_pkey PRIMARY KEY (id, started_at);
-- One record per attempt: the key holds started_at too (a partitioned
-- table's keys must); the store's insert also skips an attempt recorded
-- with another start (a run reclaimed and run again).
ALTER TABLE task_executions
    ADD CONSTRAINT task_executions_attempt_key UNIQUE (execution_id, attempt, started_at);
ALTER TABLE task_executions ADD CONSTRAINT task_executions_config_id_fkey
    FOREIGN KEY (config_id) REFERENCES task_configs (id) ON DELETE CASCADE;
CREATE INDEX task_executions_by_config ON task_executions (config_id, started_at DESC)
    INCLUDE (duration_seconds, is_success) WHERE step IS NULL;
CREATE INDEX task_executions_by_digest ON task_executions (plugin_digest, task_type);
CREATE INDEX task_executions_by_task_type ON task_executions (task_type, started_at DESC);
CREATE INDEX task_executions_by_time ON task_executions (started_at DESC)
    INCLUDE (duration_seconds, is_success) WHERE step IS NULL;
CREATE INDEX task_executions_by_workflow ON task_executions (workflow_execution_id)
    WHERE workflow_execution_id IS NOT NULL;
CREATE INDEX task_executions_config_failures ON task_executions (config_id, started_at DESC) WHERE NOT is_success;
CREATE INDEX task_executions_failures ON task_executions (started_at DESC) WHERE NOT is_success;
CREATE INDEX task_executions_steps_by_time ON task_executions (started_at) WHERE step IS NOT NULL;
CREATE INDEX task_executions_ticks ON task_executions (config_id, scheduled_at)
    WHERE trigger IN ('cron', 'backfill');

-- The legacy partition's copies of the two new keys.
CREATE UNIQUE INDEX IF NOT EXISTS task_executions_legacy_pkey_started
    ON task_executions_legacy (id, started_at);
CREATE UNIQUE INDEX IF NOT EXISTS task_executions_legacy_attempt_started
    ON task_executions_legacy (execution_id, attempt, started_at);
-- Its keys and foreign key become the partitioned table's.
ALTER TABLE task_executions_legacy DROP CONSTRAINT task_executions_legacy_pkey;
ALTER TABLE task_executions_legacy DROP CONSTRAINT task_executions_legacy_attempt_key;
ALTER TABLE task_executions_legacy DROP CONSTRAINT task_executions_legacy_config_fkey;
ALTER TABLE task_executions_legacy
    ADD CONSTRAINT task_executions_legacy_pkey PRIMARY KEY USING INDEX task_executions_legacy_pkey_started;
ALTER TABLE task_executions_legacy
    ADD CONSTRAINT task_executions_legacy_attempt_key UNIQUE USING INDEX task_executions_legacy_attempt_started;

-- It holds every start before the month after its newest record's (this
-- month, when it is empty): monthly partitions follow from there.
DO $$
DECLARE
    this_month TIMESTAMPTZ := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    newest TIMESTAMPTZ := (SELECT max(started_at) FROM task_executions_legacy);
    bound TIMESTAMPTZ := coalesce(
        date_trunc('month', newest AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 month', this_month);
BEGIN
    EXECUTE format(
        'ALTER TABLE task_executions ATTACH PARTITION task_executions_legacy FOR VALUES FROM (MINVALUE) TO (%L)',
        greatest(bound, this_month));
END $$;

-- Creates the monthly partitions missing from the end of the last one
-- (or this month) through `months_ahead` months from now, each named
-- task_executions_YYYYMM; answers how many it created.
CREATE FUNCTION taskbox_record_partitions(months_ahead INTEGER) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    last_end TIMESTAMPTZ;
    month_start TIMESTAMPTZ;
    until TIMESTAMPTZ := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        + make_interval(months => months_ahead + 1);
    created INTEGER := 0;
BEGIN
    -- Serialises concurrent callers (every process calls it at start).
    PERFORM pg_advisory_xact_lock(hashtext('taskbox_record_partitions'));
    SELECT max(upper_bound) INTO last_end FROM taskbox_record_partition_bounds();
    month_start := coalesce(last_end, date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC');
    WHILE month_start < until LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF task_executions FOR VALUES FROM (%L) TO (%L)',
            'task_executions_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM'),
            month_start, month_start + interval '1 month');
        created := created + 1;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END $$;

-- The partitions of task_executions with their bounds (lower NULL: from
-- the beginning of time), oldest first.
CREATE FUNCTION taskbox_record_partition_bounds()
RETURNS TABLE (name TEXT, lower_bound TIMESTAMPTZ, upper_bound TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           CASE WHEN b.bound LIKE 'FOR VALUES FROM (MINVALUE)%' THEN NULL
                ELSE substring(b.bound FROM 'FROM \(''([^'']+)''\)')::timestamptz END,
           substring(b.bound FROM 'TO \(''([^'']+)''\)')::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
    WHERE i.inhparent = 'task_executions'::regclass
    ORDER BY 3
$$;

SELECT taskbox_record_partitions(3);
