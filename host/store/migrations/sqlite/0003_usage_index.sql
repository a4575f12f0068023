-- Usage queries (the usage and cost endpoints, budgets) read the `usage`
-- events of a time range across agents.
CREATE INDEX events_by_type_ts ON events (type, ts);
