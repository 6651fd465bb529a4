-- Compiled code shared by the fleet: the artifact one node compiled from a
-- component (by digest) for an engine (by its compatibility key), with an
-- HMAC under a key derived from the deployment's secret key. A node loads
-- one only when the MAC checks; else it compiles for itself.
CREATE TABLE plugin_compiled (
    digest     TEXT NOT NULL,
    engine     TEXT NOT NULL,
    mac        BYTEA NOT NULL,
    artifact   BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (digest, engine)
);
