-- Evaluation runs (`paddock_core::eval`, `paddock eval run`): one row per
-- run, with what it was asked to do (`spec`, an `EvalSpec` as JSON), its
-- status and its heartbeat (`updated_at`: a running run whose heartbeat is
-- older than a minute is shown as interrupted), and one row per instance
-- that has a result (`result`, an `InstanceResult` as JSON). A rerun of a
-- run upserts the results of the instances it redoes.

CREATE TABLE eval_runs (
    id          TEXT   NOT NULL PRIMARY KEY,
    name        TEXT   NOT NULL,
    owner       TEXT   NOT NULL,
    spec        TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX eval_runs_by_created ON eval_runs (created_at);

CREATE TABLE eval_results (
    run_id      TEXT   NOT NULL,
    instance_id TEXT   NOT NULL,
    result      TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (run_id, instance_id)
);
