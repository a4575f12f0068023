// Who is signed in and what they may do: `GET /api/me`, with `GET /api/info`
// as the fallback of a host without the route. The screens ask `useWho()`
// before showing a control that changes something (a viewer's are hidden
// or disabled with the reason) or an admin screen (hidden for the others;
// the API refuses them anyway).

import { useQuery } from '@tanstack/react-query';
import { ApiError, get } from './client';
import type { AuthMethods, Info, Me } from './types';

/** What the screens need to know about the caller. */
export interface Who {
  /** The user's id (`local`: the local account of a one-person install). */
  id: string;
  name: string;
  /** The user's role (`viewer`, `member`, `admin`). */
  role: string;
  scope: string | null;
  /** May use the admin screens (Users, Groups, Plugins…). */
  admin: boolean;
  /** May change things (a viewer or a read-only token may not). */
  write: boolean;
  /** Signed in with the dashboard's session cookie (the only way sign-out means something). */
  session: boolean;
  groups: { id: string; name: string }[];
  displayName: string;
}

export function useMeQuery() {
  return useQuery({
    queryKey: ['me'],
    queryFn: () => get<Me>('/api/me'),
    // A host without the route answers 404: `useWho` falls back to /api/info.
    retry: (n, e) => !(e instanceof ApiError && (e.status === 404 || e.status === 401)) && n < 2,
  });
}

export function whoFrom(me: Me | undefined, info: Info | undefined): Who | undefined {
  if (me) {
    return {
      id: me.id,
      name: me.name,
      displayName: me.display_name || me.name,
      role: me.role,
      scope: me.scope,
      admin: me.can.admin,
      write: me.can.write,
      session: me.via === 'session',
      groups: me.groups,
    };
  }
  if (!info) return undefined;
  return {
    id: info.user_id,
    name: info.user_name,
    displayName: info.user_name,
    role: info.role,
    scope: info.scope,
    admin: info.admin,
    write: info.can_write,
    session: true,
    groups: [],
  };
}

/** The caller (undefined while loading or signed out). */
export function useWho(): Who | undefined {
  const me = useMeQuery();
  const info = useQuery({ queryKey: ['info'], queryFn: () => get<Info>('/api/info') });
  const missing = me.error instanceof ApiError && me.error.status === 404;
  if (me.data) return whoFrom(me.data, undefined);
  if (missing || me.error) return whoFrom(undefined, info.data);
  return undefined;
}

/** How this Paddock signs people in; a host without the route offers a token (and a password, which it may refuse). */
export function useAuthMethods() {
  return useQuery({
    queryKey: ['auth-methods'],
    queryFn: async (): Promise<AuthMethods> => {
      try {
        return await get<AuthMethods>('/api/auth/methods');
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 401)) return { password: true, token: true, sso: [] } as unknown as AuthMethods;
        throw e;
      }
    },
    retry: false,
  });
}

/** Why a control is off for this caller, or null when it is on. */
export function readOnlyReason(who: Who | undefined): string | null {
  if (!who || who.write) return null;
  return who.role === 'viewer' ? 'Viewers can look but not change anything.' : 'This sign-in is read-only (its token has scope read).';
}
