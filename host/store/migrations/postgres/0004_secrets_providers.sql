-- Secrets sealed under the master key (never stored in clear: a nonce and
-- the AEAD ciphertext, both base64, and which key sealed them), model
-- providers added through the API (their configuration as JSON, without
-- any key), and host-wide settings such as the default model.
-- Times are integer nanoseconds since the Unix epoch (UTC).

CREATE TABLE secrets (
    name       TEXT   NOT NULL PRIMARY KEY,
    nonce      TEXT   NOT NULL,
    ciphertext TEXT   NOT NULL,
    key_id     TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE providers (
    name       TEXT   NOT NULL PRIMARY KEY,
    config     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE settings (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
