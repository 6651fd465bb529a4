-- Running totals of execution records per config, and of every record under
-- the nil id, per minute and per hour (`span` seconds, `bucket` the bucket's
-- start in Unix seconds): counts, success rates and averages over a window
-- cost the window's buckets, not its rows. taskbox keeps them in the
-- transaction that inserts or deletes records (runtime/src/store/rollups.rs).
CREATE TABLE execution_rollups (
    scope        BLOB NOT NULL,
    span         INTEGER NOT NULL CHECK (span IN (60, 3600)),
    bucket       INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    successes    INTEGER NOT NULL,
    duration_sum REAL NOT NULL,
    PRIMARY KEY (scope, span, bucket)
) WITHOUT ROWID;

INSERT INTO execution_rollups (scope, span, bucket, total, successes, duration_sum)
SELECT scope, span, bucket, count(*), sum(is_success), sum(duration_seconds)
FROM (
    SELECT e.config_id AS scope, p.span, CAST(strftime('%s', e.started_at) AS INTEGER) / p.span * p.span AS bucket,
           e.is_success, e.duration_seconds
    FROM task_executions e, (SELECT 60 AS span UNION ALL SELECT 3600) AS p
    WHERE e.config_id IS NOT NULL
    UNION ALL
    SELECT X'00000000000000000000000000000000', p.span,
           CAST(strftime('%s', e.started_at) AS INTEGER) / p.span * p.span, e.is_success, e.duration_seconds
    FROM task_executions e, (SELECT 60 AS span UNION ALL SELECT 3600) AS p
)
GROUP BY scope, span, bucket;

-- Failures, newest first, without walking the successes (as on PostgreSQL).
CREATE INDEX task_executions_failures ON task_executions (started_at DESC) WHERE NOT is_success;
CREATE INDEX task_executions_config_failures ON task_executions (config_id, started_at DESC) WHERE NOT is_success;
