// @vitest-environment jsdom
// The Hosts screen: its pure helpers (the single-host case, heartbeat
// ages, load, totals, which agents wait for a host) and the screen as
// rendered over a stubbed API — loading, an error, no hosts, SQLite's one
// host, and two hosts of which one is unreachable.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import type { AgentView, HostView } from '../api/types';
import { HostsScreen, ageText, isSingleHost, loadPercent, loadTone, totals, waitingAgents } from './Hosts';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

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

/** Renders the screen with `fetch` answering `/api/hosts` and `/api/agents` from `answers` (a missing one never answers). */
function renderWith(answers: { hosts?: () => Response; agents?: unknown[] }) {
  vi.stubGlobal('fetch', (input: RequestInfo | URL) => {
    const url = String(input);
    if (url.startsWith('/api/hosts')) return answers.hosts ? Promise.resolve(answers.hosts()) : new Promise<Response>(() => {});
    if (url.startsWith('/api/agents')) return Promise.resolve(Response.json(answers.agents ?? []));
    return Promise.resolve(Response.json({ error: { code: 'not_found', message: url } }, { status: 404 }));
  });
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter>
        <HostsScreen />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('HostsScreen', () => {
  it('says it is loading until the hosts answer', async () => {
    renderWith({});
    expect((await screen.findByRole('status')).textContent).toBe('Loading the hosts…');
  });

  it('shows the API’s error', async () => {
    renderWith({ hosts: () => Response.json({ error: { code: 'store_unavailable', message: 'the store is away' } }, { status: 503 }) });
    expect((await screen.findByRole('alert')).textContent).toContain('the store is away');
  });

  it('says so when no host is heard from', async () => {
    renderWith({ hosts: () => Response.json([]) });
    expect((await screen.findByTestId('empty-state')).textContent).toContain('No hosts heard from');
  });

  it('shows SQLite’s one host and what several need, without cluster totals', async () => {
    renderWith({
      hosts: () => Response.json([host({ id: 'this host', this: true, capacity: 0, agents: 1, agent_ids: ['x'] })]),
      agents: [agent('x', 'idle', null)],
    });
    const note = await screen.findByTestId('single-host');
    expect(note.textContent).toContain('One host (SQLite)');
    expect(note.textContent).toContain('Several hosts need PostgreSQL');
    expect(screen.queryByTestId('host-totals')).toBeNull();
    expect(screen.queryByTestId('host-heartbeat')).toBeNull();
    expect((await screen.findByRole('link', { name: 'x' })).getAttribute('href')).toBe('/agents/x');
  });

  it('shows each host’s state, load and agents, and the agents waiting for a host', async () => {
    const hosts = [
      host({ id: 'a', this: true, agents: 2, busy: 1, capacity: 10, agent_ids: ['one', 'two'], advertise_url: 'http://a:7700', heartbeat_age_ms: 1200 }),
      host({ id: 'b', state: 'unreachable', agents: 0, heartbeat_age_ms: 7000 }),
    ];
    renderWith({ hosts: () => Response.json(hosts), agents: [agent('one', 'thinking', 'a'), agent('two', 'idle', 'a'), agent('three', 'idle', 'b')] });
    const cards = await screen.findAllByTestId('host');
    expect(cards.map((c) => c.getAttribute('data-host-id'))).toEqual(['a', 'b']);
    const [a, b] = cards;
    expect(within(a).getByTestId('host-state').textContent).toBe('live');
    expect(within(a).getByTestId('this-host')).toBeTruthy();
    expect(within(a).getByRole('meter').getAttribute('aria-valuenow')).toBe('2');
    expect(within(a).getByTestId('host-busy').textContent).toBe('1 at work · 20% full');
    expect(within(a).getByTestId('host-address').textContent).toBe('http://a:7700');
    expect(within(a).getByTestId('host-heartbeat').textContent).toMatch(/^\d s ago$/);
    expect((await within(a).findAllByRole('link')).map((l) => l.textContent)).toEqual(['one', 'two']);
    expect(within(b).getByTestId('host-state').textContent).toBe('unreachable');
    expect(within(b).queryByTestId('this-host')).toBeNull();
    expect(within(b).queryByRole('meter')).toBeNull();
    expect(b.textContent).toContain('No heartbeat for 7 s');
    const waiting = await screen.findByTestId('waiting-agents');
    expect(within(waiting).getByRole('link').textContent).toBe('three');
    expect(waiting.textContent).toContain('was on b');
    expect(screen.getByTestId('host-totals').textContent).toContain('1 of 2');
  });

  it('says what draining and stopped mean, and keeps a draining host’s agents off the waiting list', async () => {
    const hosts = [host({ id: 'c', state: 'draining', agents: 1, agent_ids: ['four'] }), host({ id: 'd', state: 'stopped' })];
    renderWith({ hosts: () => Response.json(hosts), agents: [agent('four', 'thinking', 'c')] });
    const [c, d] = await screen.findAllByTestId('host');
    expect(within(c).getByTestId('host-state').textContent).toBe('draining');
    expect(c.textContent).toContain('Handing its agents over at their next safe point, then it exits.');
    expect(within(d).getByTestId('host-state').textContent).toBe('stopped');
    expect(d.textContent).toContain('Stopped cleanly.');
    await within(c).findByRole('link', { name: 'four' });
    expect(screen.queryByTestId('waiting-agents')).toBeNull();
  });
});
