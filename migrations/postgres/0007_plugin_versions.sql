-- Plugins as versioned artifacts (DESIGN §5): every distinct component is
-- kept once by its sha256, in chunks of at most 1 MiB (written and read a
-- chunk at a time, so a large component is never held twice in memory).
-- A blob row is written after its last chunk: it marks the blob complete.
CREATE TABLE plugin_chunks (
    digest TEXT NOT NULL,
    seq    INTEGER NOT NULL CHECK (seq >= 0),
    data   BYTEA NOT NULL,
    PRIMARY KEY (digest, seq)
);

CREATE TABLE plugin_blobs (
    digest     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL CHECK (size >= 0),
    chunks     INTEGER NOT NULL CHECK (chunks >= 0),
    created_at TIMESTAMPTZ NOT NULL
);

-- A version: one component under one task type name, with the sidecar it
-- came with and how it first arrived (a directory scan or an upload).
CREATE TABLE plugin_versions (
    name       TEXT NOT NULL,
    digest     TEXT NOT NULL REFERENCES plugin_blobs (digest),
    shape      TEXT NOT NULL CHECK (shape IN ('task', 'command')),
    sidecar    TEXT,
    source     TEXT NOT NULL CHECK (source IN ('directory', 'upload')),
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, digest)
);
CREATE INDEX plugin_versions_by_digest ON plugin_versions (digest);

-- The current version of each task type, which every node serves (NULL:
-- none, the task type is unknown), and the digest of the last file a
-- directory scan recorded for it. `revision` grows with every change, so a
-- node polling the table sees that something moved.
CREATE TABLE plugin_heads (
    name             TEXT PRIMARY KEY,
    digest           TEXT,
    directory_digest TEXT,
    revision         BIGINT NOT NULL DEFAULT 1,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Pinning: a config may run one exact version whatever is current.
ALTER TABLE task_configs ADD COLUMN plugin_digest TEXT;
CREATE INDEX task_configs_pins ON task_configs (task_type, plugin_digest) WHERE plugin_digest IS NOT NULL;

-- A record keeps what it ran with: the parameters and the deadline, so the
-- record alone is enough to replay the run. Replays are a trigger of their own.
ALTER TABLE task_executions ADD COLUMN parameters JSONB;
ALTER TABLE task_executions ADD COLUMN timeout_seconds DOUBLE PRECISION;
ALTER TABLE task_executions DROP CONSTRAINT task_executions_trigger_check;
ALTER TABLE task_executions ADD CONSTRAINT task_executions_trigger_check
    CHECK (trigger IN ('cron', 'date', 'manual', 'retry', 'replay'));
CREATE INDEX task_executions_by_digest ON task_executions (plugin_digest, task_type);
