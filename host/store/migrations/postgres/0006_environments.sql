-- Environments added through the API: their definition as JSON (an image or
-- a Dockerfile, variables, a user, setup commands). Times are integer
-- nanoseconds since the Unix epoch (UTC).

CREATE TABLE environments (
    name       TEXT   NOT NULL PRIMARY KEY,
    config     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
