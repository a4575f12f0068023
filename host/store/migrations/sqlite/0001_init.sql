-- Paddock store, SQLite: agents (with denormalised status, last_seq and usage
-- totals), their gapless event logs, and named config documents.
-- Times are integer nanoseconds since the Unix epoch (UTC).

CREATE TABLE agents (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    config        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    deleted_at    BIGINT,
    last_seq      BIGINT  NOT NULL DEFAULT 0,
    model_calls   BIGINT  NOT NULL DEFAULT 0,
    input_tokens  BIGINT  NOT NULL DEFAULT 0,
    output_tokens BIGINT  NOT NULL DEFAULT 0,
    cached_tokens BIGINT  NOT NULL DEFAULT 0,
    cost_usd      REAL    NOT NULL DEFAULT 0,
    tool_calls    BIGINT  NOT NULL DEFAULT 0,
    tool_failures BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX agents_by_created_at ON agents (created_at, id);

CREATE TABLE events (
    agent_id TEXT   NOT NULL REFERENCES agents (id),
    seq      BIGINT NOT NULL,
    ts       BIGINT NOT NULL,
    type     TEXT   NOT NULL,
    data     TEXT   NOT NULL,
    PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;

CREATE TABLE docs (
    kind       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;
