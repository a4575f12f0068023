-- Workflow runs (`paddock_core::workflow`): one row per run, with the
-- status and last seq its log's appends keep, and the run's own event log
-- (gapless seq per run, like an agent's events). With several hosts, an
-- unfinished run's `driver` is the host that runs it (NULL: none, another
-- host may claim it), and `driver_gen` is raised by each claim: the
-- driver's appends are fenced by both.

CREATE TABLE workflow_runs (
    id          TEXT   NOT NULL PRIMARY KEY,
    name        TEXT   NOT NULL,
    workflow    TEXT   NOT NULL,
    owner       TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    reason      TEXT,
    inputs      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    last_seq    BIGINT NOT NULL,
    finished_at BIGINT,
    driver      TEXT,
    driver_gen  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX workflow_runs_by_status ON workflow_runs (status);
CREATE INDEX workflow_runs_by_owner ON workflow_runs (owner);

CREATE TABLE workflow_events (
    run_id TEXT   NOT NULL,
    seq    BIGINT NOT NULL,
    ts     BIGINT NOT NULL,
    type   TEXT   NOT NULL,
    data   TEXT   NOT NULL,
    PRIMARY KEY (run_id, seq)
);
