-- As migrations/postgres/0013, in SQLite's types.
CREATE TABLE plugin_compiled (
    digest     TEXT NOT NULL,
    engine     TEXT NOT NULL,
    mac        BLOB NOT NULL,
    artifact   BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (digest, engine)
);
