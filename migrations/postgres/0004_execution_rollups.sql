-- Running totals of execution records per config, and of every record under
-- the nil id, per minute and per hour (`span` seconds, `bucket` the bucket's
-- start in Unix seconds): counts, success rates and averages over a window
-- cost the window's buckets, not its rows. taskbox keeps them in the
-- transaction that inserts or deletes records (runtime/src/store/rollups.rs).
CREATE TABLE execution_rollups (
    scope        UUID NOT NULL,
    span         INTEGER NOT NULL CHECK (span IN (60, 3600)),
    bucket       BIGINT NOT NULL,
    total        BIGINT NOT NULL,
    successes    BIGINT NOT NULL,
    duration_sum DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, span, bucket)
);

INSERT INTO execution_rollups (scope, span, bucket, total, successes, duration_sum)
SELECT scope, span, bucket, count(*), count(*) FILTER (WHERE is_success), sum(duration_seconds)
FROM (
    SELECT s.scope, p.span, floor(extract(epoch FROM e.started_at) / p.span)::bigint * p.span AS bucket,
           e.is_success, e.duration_seconds
    FROM task_executions e
    CROSS JOIN (VALUES (60), (3600)) AS p (span)
    CROSS JOIN LATERAL (VALUES (e.config_id), ('00000000-0000-0000-0000-000000000000'::uuid)) AS s (scope)
    WHERE s.scope IS NOT NULL
) AS rows
GROUP BY scope, span, bucket;

-- A config's failures, newest first, without walking its successes.
CREATE INDEX task_executions_config_failures ON task_executions (config_id, started_at DESC) WHERE NOT is_success;
