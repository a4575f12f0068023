-- Policy: rules added through the API (or by remembering an approval),
-- approvals (pending ones survive restarts; a decision is applied once),
-- and the audit log of every decision (never deleted through the API).
-- Times are integer nanoseconds since the Unix epoch (UTC).

CREATE TABLE policy_rules (
    id         TEXT   NOT NULL PRIMARY KEY,
    position   BIGINT NOT NULL,
    scope      TEXT   NOT NULL,
    rule       TEXT   NOT NULL,
    examples   TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE approvals (
    agent_id     TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    call_id      TEXT   NOT NULL,
    tool         TEXT   NOT NULL,
    request      TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    expires_at   BIGINT,
    decided_at   BIGINT,
    decided_by   TEXT,
    reason       TEXT,
    remember     TEXT,
    PRIMARY KEY (agent_id, seq)
);

CREATE INDEX approvals_by_status ON approvals (status, requested_at);
CREATE INDEX approvals_by_call ON approvals (agent_id, call_id);

CREATE TABLE audit (
    id       BIGSERIAL PRIMARY KEY,
    ts       BIGINT NOT NULL,
    agent_id TEXT   NOT NULL,
    call_id  TEXT,
    tool     TEXT,
    kind     TEXT   NOT NULL,
    action   TEXT   NOT NULL,
    actor    TEXT   NOT NULL,
    reason   TEXT   NOT NULL,
    detail   TEXT   NOT NULL
);

CREATE INDEX audit_by_ts ON audit (ts, id);
CREATE INDEX audit_by_agent ON audit (agent_id, ts, id);
