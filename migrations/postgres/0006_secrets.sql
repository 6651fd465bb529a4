-- Secrets granted to plugins (DESIGN §9), sealed with an AEAD under the
-- server's key: only the nonce and the ciphertext are stored. The one row
-- of secret_key_check is a known text sealed under the key in use when the
-- first secret store was opened, so a wrong key is caught at start.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE secret_key_check (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL
);
