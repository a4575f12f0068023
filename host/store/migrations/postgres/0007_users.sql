-- A service for a team: users (local accounts with an argon2id password
-- hash, or single sign-on identities), groups, personal access tokens
-- (only their SHA-256 is kept), who owns each agent and whom it is shared
-- with, who acted in each audit entry, and who owns each secret (NULL: the
-- team's). Times are integer nanoseconds since the Unix epoch (UTC).
--
-- The built-in account `local` is the single local admin of a one-person
-- install; everything created before this migration belongs to it.

CREATE TABLE users (
    id                 TEXT   NOT NULL PRIMARY KEY,
    name               TEXT   NOT NULL UNIQUE,
    display_name       TEXT   NOT NULL DEFAULT '',
    email              TEXT,
    role               TEXT   NOT NULL,
    password_hash      TEXT,
    oidc_issuer        TEXT,
    oidc_subject       TEXT,
    disabled           BIGINT NOT NULL DEFAULT 0,
    max_running_agents BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    last_sign_in_at    BIGINT
);

CREATE UNIQUE INDEX users_by_oidc ON users (oidc_issuer, oidc_subject);

INSERT INTO users (id, name, display_name, role, created_at, updated_at)
VALUES ('local', 'local', 'Local admin', 'admin', 0, 0);

CREATE TABLE user_groups (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE access_tokens (
    id           TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    hash         TEXT   NOT NULL UNIQUE,
    prefix       TEXT   NOT NULL,
    scope        TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX access_tokens_by_user ON access_tokens (user_id, created_at);

ALTER TABLE agents ADD COLUMN owner TEXT;
UPDATE agents SET owner = 'local';
CREATE INDEX agents_by_owner ON agents (owner, created_at);

CREATE TABLE agent_shares (
    agent_id  TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    principal TEXT   NOT NULL,
    shared_by TEXT   NOT NULL,
    shared_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, kind, principal)
);

CREATE INDEX agent_shares_by_principal ON agent_shares (kind, principal);

ALTER TABLE audit ADD COLUMN user_id TEXT;
ALTER TABLE audit ADD COLUMN token_id TEXT;
CREATE INDEX audit_by_user ON audit (user_id, ts, id);

ALTER TABLE secrets ADD COLUMN owner TEXT;
