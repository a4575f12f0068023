// The Hosts screen's pure helpers: the single-host case, heartbeat ages,
// load, totals, and which agents wait for a host.

import { describe, expect, it } from 'vitest';
import type { AgentView, HostView } from '../api/types';
import { ageText, isSingleHost, loadPercent, loadTone, totals, waitingAgents } from './Hosts';

function host(over: Partial<HostView>): HostView {
  return {
    id: 'h',
    advertise_url: null,
    version: '0.1.0',
    state: 'live',
    this: false,
    capacity: 200,
    agents: 0,
    busy: 0,
    load: 0,
    started_at: '2026-01-01T00:00:00Z',
    heartbeat_at: '2026-01-01T00:00:00Z',
    heartbeat_age_ms: 0,
    agent_ids: [],
    ...over,
  };
}

const agent = (id: string, status: string, h: string | null) => ({ id, name: id, status, host: h, deleted_at: null }) as unknown as AgentView;

describe('hosts', () => {
  it('tells SQLite’s one host from a cluster of one', () => {
    expect(isSingleHost([host({ id: 'this host', this: true, capacity: 0 })])).toBe(true);
    expect(isSingleHost([host({ id: 'paddock-0', this: true, capacity: 200 })])).toBe(false);
    expect(isSingleHost([host({ id: 'a', this: true }), host({ id: 'b' })])).toBe(false);
    expect(isSingleHost([])).toBe(false);
  });

  it('says heartbeat ages in seconds, minutes, hours, days', () => {
    expect(ageText(0)).toBe('just now');
    expect(ageText(-5)).toBe('just now');
    expect(ageText(3400)).toBe('3 s ago');
    expect(ageText(125_000)).toBe('2 min ago');
    expect(ageText(2 * 3600_000 + 5)).toBe('2 h ago');
    expect(ageText(3 * 86400_000)).toBe('3 d ago');
  });

  it('computes load in percent, none without a cap, and colours it', () => {
    expect(loadPercent({ agents: 50, capacity: 200 })).toBe(25);
    expect(loadPercent({ agents: 3, capacity: 0 })).toBeNull();
    expect(loadTone(10)).toContain('blue');
    expect(loadTone(75)).toContain('amber');
    expect(loadTone(95)).toContain('red');
  });

  it('sums agents over every host and capacity over live ones', () => {
    const t = totals([
      host({ id: 'a', agents: 4, busy: 1, capacity: 10 }),
      host({ id: 'b', agents: 2, busy: 2, capacity: 10 }),
      host({ id: 'c', state: 'unreachable', agents: 1, capacity: 10 }),
    ]);
    expect(t).toEqual({ live: 2, hosts: 3, agents: 7, busy: 3, capacity: 20, onLive: 6 });
  });

  it('lists the agents whose host is gone or unreachable, not stopped ones', () => {
    const hosts = [host({ id: 'a' }), host({ id: 'b', state: 'unreachable' }), host({ id: 'd', state: 'draining' })];
    const agents = [
      agent('on-a', 'idle', 'a'),
      agent('on-b', 'thinking', 'b'),
      agent('on-d', 'idle', 'd'),
      agent('gone', 'idle', 'z'),
      agent('free', 'idle', null),
      agent('off', 'stopped', 'b'),
    ];
    expect(waitingAgents(agents, hosts).map((a) => a.id)).toEqual(['on-b', 'gone', 'free']);
  });
});
