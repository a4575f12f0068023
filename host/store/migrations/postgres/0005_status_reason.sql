-- Why an agent's status is what it is (the reason and error code of its last
-- `agent.status` event), so that the agent list can say why an agent failed.
ALTER TABLE agents ADD COLUMN status_reason TEXT;
ALTER TABLE agents ADD COLUMN status_code TEXT;

UPDATE agents SET
    status_reason = (SELECT e.data::jsonb ->> 'reason' FROM events e
        WHERE e.agent_id = agents.id AND e.type = 'agent.status'
        ORDER BY e.seq DESC LIMIT 1),
    status_code = (SELECT e.data::jsonb ->> 'code' FROM events e
        WHERE e.agent_id = agents.id AND e.type = 'agent.status'
        ORDER BY e.seq DESC LIMIT 1);
