-- Worker groups and rate limits: a row names the group whose workers may
-- take it and the rates (`<max>/<window ms>`) of its config and task type;
-- each start of a rate-limited run is logged under its gate
-- (`c:<config>` or `t:<task type>`) for as long as its window lasts.
ALTER TABLE local_queue ADD COLUMN worker_group TEXT NOT NULL DEFAULT 'default';
ALTER TABLE local_queue ADD COLUMN cfg_rate TEXT;
ALTER TABLE local_queue ADD COLUMN type_rate TEXT;
ALTER TABLE local_workers ADD COLUMN groups TEXT NOT NULL DEFAULT 'default';

CREATE TABLE local_rate_log (
    gate  TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX local_rate_log_by_gate ON local_rate_log (gate, at_ms);
