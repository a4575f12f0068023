// The user menu in the top bar: who is signed in (name, role, groups), the
// way to their tokens and personal provider keys (the Account screen), and
// sign out, which ends the session on the server and shows the sign-in page.

import { useEffect, useRef } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { signOut } from '../api/client';
import type { Who } from '../api/me';
import { restartSocket } from '../live/store';

/** Signs out and forgets everything this browser fetched as the caller. */
export function useSignOut() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  return async () => {
    try {
      await signOut();
    } finally {
      restartSocket();
      navigate('/');
      // Everything fetched as the previous caller goes; what is on screen is fetched again.
      void qc.resetQueries();
    }
  };
}

export function UserMenu({ who }: { who: Who }) {
  const ref = useRef<HTMLDetailsElement>(null);
  const out = useSignOut();
  const close = () => ref.current?.removeAttribute('open');
  // A click elsewhere or Escape closes it, as a menu does.
  useEffect(() => {
    const away = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) close();
    };
    const escape = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && ref.current?.open) {
        close();
        ref.current.querySelector('summary')?.focus();
      }
    };
    document.addEventListener('click', away);
    document.addEventListener('keydown', escape);
    return () => {
      document.removeEventListener('click', away);
      document.removeEventListener('keydown', escape);
    };
  }, []);
  return (
    <details ref={ref} className="relative" data-testid="user-menu">
      <summary className="flex min-h-9 cursor-pointer list-none items-center gap-2 rounded border border-slate-400 px-2 py-1 text-sm hover:bg-slate-100 dark:border-slate-500 dark:hover:bg-slate-800">
        <span aria-hidden="true" className="flex h-6 w-6 items-center justify-center rounded-full bg-blue-700 text-xs font-bold text-white uppercase">
          {who.displayName.slice(0, 1)}
        </span>
        <span className="max-w-32 truncate font-medium">{who.displayName}</span>
        <span className="text-xs text-slate-700 dark:text-slate-300">{who.role}</span>
      </summary>
      <div className="absolute right-0 z-20 mt-1 flex w-64 flex-col gap-1 rounded border border-slate-300 bg-white p-2 text-sm shadow-lg lg:right-auto lg:left-0 dark:border-slate-700 dark:bg-slate-900">
        <p className="px-2 py-1">
          Signed in as <strong>{who.name}</strong>
          <br />
          <span className="text-xs text-slate-700 dark:text-slate-300">
            {who.role}
            {who.scope && ` · scope ${who.scope}`}
            {who.groups.length > 0 && ` · ${who.groups.map((g) => g.name).join(', ')}`}
          </span>
        </p>
        <Link to="/account" onClick={close} className="rounded px-2 py-1.5 hover:bg-slate-100 dark:hover:bg-slate-800">
          Tokens and keys
        </Link>
        <button type="button" onClick={() => void out()} className="rounded px-2 py-1.5 text-left hover:bg-slate-100 dark:hover:bg-slate-800">
          Sign out
        </button>
      </div>
    </details>
  );
}
