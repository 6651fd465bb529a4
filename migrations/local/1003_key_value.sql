-- Key-value state for plugins (wasi:keyvalue, DESIGN §9): one row per key,
-- and per bucket the number of keys it holds, kept in the same write as
-- the rows so the bound on keys per bucket holds under concurrent writers.
CREATE TABLE local_kv (
    bucket TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;

CREATE TABLE local_kv_buckets (
    bucket TEXT PRIMARY KEY,
    keys   INTEGER NOT NULL
) WITHOUT ROWID;
