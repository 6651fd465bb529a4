-- Idempotency keys (DESIGN §12): a run requested with a key (or a webhook
-- delivery id, or a backfilled tick) is queued once; the same key again
-- within its lifetime answers the run queued first (the same request) or
-- a conflict (another request). Written in the transaction that queues.
CREATE TABLE local_idempotency (
    config_id    BLOB NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    execution_id BLOB NOT NULL,
    expires_ms   INTEGER NOT NULL,
    PRIMARY KEY (config_id, key)
);
CREATE INDEX local_idempotency_expiry ON local_idempotency (expires_ms);
