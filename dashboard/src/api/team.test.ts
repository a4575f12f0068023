// The team features' pure helpers: the CSRF cookie read back into the
// header, what a failed sign-in says, tokens' states and scopes, the body of
// a share, and the owner line of an agent.

import { describe, expect, it } from 'vitest';
import { changes, csrfToken } from './client';
import { whoFrom, readOnlyReason } from './me';
import type { AgentView, Info, Me, TokenView } from './types';
import { loginFailure } from '../screens/SignIn';
import { tokenState } from '../screens/Account';
import { scopesUpTo } from '../components/Tokens';
import { shareBody } from '../components/Share';
import { ownerLine } from '../screens/Agents';

describe('csrfToken', () => {
  it('reads the cookie of this port', () => {
    expect(csrfToken('a=1; paddock_csrf_7700=abc; paddock_csrf_8800=def', '8800')).toBe('def');
    expect(csrfToken('paddock_csrf_7700=abc%3D', '7700')).toBe('abc=');
  });
  it('takes the only one behind a proxy that changes the port, and none when unsure', () => {
    expect(csrfToken('paddock_csrf_7700=abc', '443')).toBe('abc');
    expect(csrfToken('paddock_csrf_7700=abc; paddock_csrf_8800=def', '443')).toBeNull();
    expect(csrfToken('paddock_session_7700=secret', '7700')).toBeNull();
    expect(csrfToken('', '7700')).toBeNull();
  });
  it('is sent on the methods that change things only', () => {
    expect(['POST', 'PUT', 'PATCH', 'DELETE'].every(changes)).toBe(true);
    expect(['GET', 'HEAD', 'get'].some(changes)).toBe(false);
  });
});

describe('loginFailure', () => {
  it('says plainly why sign-in failed', () => {
    expect(loginFailure('')).toBeNull();
    expect(loginFailure('?login=failed')).toMatch(/used already/);
    expect(loginFailure('?login=failed&reason=the%20provider%20said%20no')).toBe('Sign-in failed: the provider said no.');
    expect(loginFailure('?login=failed&reason=nonce_mismatch')).toBe('Sign-in failed: nonce mismatch.');
    expect(loginFailure('?login=failed&reason=Expired.')).toBe('Sign-in failed: Expired.');
  });
});

describe('tokens', () => {
  const t = (over: Partial<TokenView>): TokenView =>
    ({ id: '1', name: 'ci', prefix: 'pdk_abcdefgh', scope: 'write', created_at: '2026-01-01T00:00:00Z', ...over }) as TokenView;
  it('knows active, expired and revoked', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    expect(tokenState(t({ expires_at: '2026-07-01T00:00:00Z' }), now)).toBe('active');
    expect(tokenState(t({ expires_at: '2026-05-01T00:00:00Z' }), now)).toBe('expired');
    expect(tokenState(t({ revoked_at: '2026-05-01T00:00:00Z', expires_at: '2026-07-01T00:00:00Z' }), now)).toBe('revoked');
  });
  it('offers scopes up to the caller’s', () => {
    expect(scopesUpTo('read')).toEqual(['read']);
    expect(scopesUpTo('write')).toEqual(['read', 'write']);
    expect(scopesUpTo(null)).toEqual(['read', 'write', 'admin']);
  });
});

describe('sharing and owners', () => {
  it('splits users and groups', () => {
    expect(
      shareBody([
        { kind: 'user', ref: 'u1', label: 'bob' },
        { kind: 'group', ref: 'ops', label: 'ops' },
        { kind: 'user', ref: 'cy', label: 'cy' },
      ]),
    ).toEqual({ users: ['u1', 'cy'], groups: ['ops'] });
  });
  const me: Me = {
    id: 'u1',
    name: 'bob',
    display_name: 'Bob',
    role: 'member',
    scope: 'write',
    via: 'session',
    groups: [],
    can: { admin: false, write: true },
  } as unknown as Me;
  const who = whoFrom(me, undefined);
  const agent = (owner: { id: string; name: string }, shared: { kind: 'user' | 'group'; id: string; name: string }[] = []) =>
    ({ id: 'a', name: 'a', owner, shared_with: shared }) as unknown as AgentView;
  it('names the owner, or says it is yours, and who else sees it', () => {
    expect(ownerLine(agent({ id: 'u1', name: 'bob' }), who)).toBe('owner: you');
    expect(ownerLine(agent({ id: 'u2', name: 'cy' }, [{ kind: 'group', id: 'g', name: 'ops' }]), who)).toBe('owner: cy · shared with ops (group)');
  });
  it('says nothing on a one-person install', () => {
    expect(
      ownerLine(
        agent({ id: 'local', name: 'local' }),
        whoFrom(undefined, { user_id: 'local', user_name: 'local', role: 'admin', scope: 'admin', admin: true, can_write: true } as Info),
      ),
    ).toBe('');
  });
  it('gives viewers and read-only tokens a reason', () => {
    expect(readOnlyReason(who)).toBeNull();
    expect(readOnlyReason(whoFrom({ ...me, role: 'viewer', can: { admin: false, write: false } } as Me, undefined))).toMatch(/Viewers/);
    expect(readOnlyReason(whoFrom({ ...me, scope: 'read', can: { admin: false, write: false } } as Me, undefined))).toMatch(/read-only/);
  });
});
