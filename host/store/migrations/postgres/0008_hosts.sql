-- Several hosts on one database. Each agent is run by one host at a time
-- through a fenced lease on its row: the host that holds it (NULL: none,
-- or handed over cleanly), the lease's generation (raised by every claim;
-- every append of a host is conditional on it) and its expiry, in
-- milliseconds of the database's clock (hosts' clocks are never compared).
-- `hosts` lists the hosts and their heartbeats; `host_requests` carries
-- what one host asks of another (a message for an agent the other runs, a
-- new agent placed there) and the answer, through the database.

ALTER TABLE agents ADD COLUMN lease_host TEXT;
ALTER TABLE agents ADD COLUMN lease_gen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN lease_expires BIGINT NOT NULL DEFAULT 0;
CREATE INDEX agents_by_lease_host ON agents (lease_host);

CREATE TABLE hosts (
    id            TEXT   NOT NULL PRIMARY KEY,
    advertise_url TEXT,
    version       TEXT   NOT NULL,
    capacity      BIGINT NOT NULL,
    state         TEXT   NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);

CREATE TABLE host_requests (
    id         TEXT   NOT NULL PRIMARY KEY,
    agent_id   TEXT,
    host_id    TEXT,
    kind       TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    state      TEXT   NOT NULL,
    result     TEXT,
    from_host  TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX host_requests_by_state ON host_requests (state, created_at);
