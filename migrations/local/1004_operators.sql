-- Cancel, concurrency limits and pause-until for the local backend.
-- A queued run is found by its execution id; `cancel_by` says who asked to
-- cancel it (a waiting row so marked is recorded as cancelled unrun; a
-- held one is stopped by its worker). `cfg_limit` and `type_limit` are the
-- run's slots: a claim takes a row only while fewer rows of its config
-- (task type) than that are held by workers.
ALTER TABLE local_queue ADD COLUMN execution_id BLOB;
ALTER TABLE local_queue ADD COLUMN task_type TEXT;
ALTER TABLE local_queue ADD COLUMN cancel_by TEXT;
ALTER TABLE local_queue ADD COLUMN cfg_limit INTEGER;
ALTER TABLE local_queue ADD COLUMN type_limit INTEGER;
CREATE INDEX local_queue_by_execution ON local_queue (execution_id);
CREATE INDEX local_queue_gated_held ON local_queue (config_id, task_type)
    WHERE consumer IS NOT NULL AND (cfg_limit IS NOT NULL OR type_limit IS NOT NULL);

-- A schedule paused until a time resumes then (`resume_ms`).
ALTER TABLE local_schedules ADD COLUMN resume_ms INTEGER;
CREATE INDEX local_schedules_resume ON local_schedules (resume_ms) WHERE resume_ms IS NOT NULL;
CREATE INDEX local_queue_gated_waiting ON local_queue (band, id)
    WHERE consumer IS NULL AND (cfg_limit IS NOT NULL OR type_limit IS NOT NULL);
