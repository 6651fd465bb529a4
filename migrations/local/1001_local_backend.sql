-- The `local` schedule backend (embedded deployment): schedule source,
-- schedule state and the execution queue, in the config store's SQLite
-- file. Versions start at 1001 so they never collide with the store's.

-- One row per config the backend has heard of: its status, its entry (job
-- snapshot and due time) and its counters. `due_ms` NULL: not in the due
-- index. `changed_ms`: the last transition (see Queue::still_current).
-- Runs in flight are the config's rows in local_queue.
CREATE TABLE local_schedules (
    config_id  BLOB PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('inactive', 'active', 'paused', 'error')),
    job        TEXT,
    revision   TEXT,
    due_ms     INTEGER,
    changed_ms INTEGER NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX local_schedules_due ON local_schedules (due_ms) WHERE due_ms IS NOT NULL;

-- History events, newest = highest id; capped per config and aged out.
CREATE TABLE local_history (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    config_id BLOB NOT NULL,
    at_ms     INTEGER NOT NULL,
    event     TEXT NOT NULL
);
CREATE INDEX local_history_by_config ON local_history (config_id, id);

-- The queue: a row is a run, waiting (consumer NULL) or held by a worker,
-- until settled. A retry reuses its row, waiting with `ready_ms` in the
-- future, so a config's rows are exactly its runs in flight. `band`: 0
-- high, 1 normal, 2 low.
CREATE TABLE local_queue (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    band       INTEGER NOT NULL,
    config_id  BLOB NOT NULL,
    run        TEXT NOT NULL,
    ready_ms   INTEGER NOT NULL,
    consumer   TEXT,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX local_queue_waiting ON local_queue (band, id) WHERE consumer IS NULL;
CREATE INDEX local_queue_held ON local_queue (consumer) WHERE consumer IS NOT NULL;
CREATE INDEX local_queue_by_config ON local_queue (config_id);

-- Worker heartbeats: runs held by a worker past `expires_ms` are reclaimed.
CREATE TABLE local_workers (
    consumer   TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL
);
