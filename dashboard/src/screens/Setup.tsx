// Setup: what a first run shows when no model provider is usable — add one
// (OpenAI, or any OpenAI-compatible endpoint), test it, pick the default
// model; or try Paddock offline with the built-in demo. No restart needed.

import { useEffect } from 'react';
import { useNavigate } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post } from '../api/client';
import type { DemoStarted } from '../api/types';
import { useInfo } from '../App';
import { ProviderForm } from '../components/ProviderForm';
import { Button, Card, ErrorNote } from '../components/ui';

export function SetupScreen() {
  const navigate = useNavigate();
  const info = useInfo();
  const qc = useQueryClient();
  useEffect(() => {
    document.title = 'Set up · Paddock';
  }, []);
  const demo = useMutation({
    mutationFn: () => post<DemoStarted>('/api/demo'),
    onSuccess: (d) => {
      void qc.invalidateQueries({ queryKey: ['agents'] });
      navigate(`/agents/${d.agent_id}`);
    },
  });
  const admin = info.data?.admin === true;

  return (
    <div className="mx-auto flex max-w-3xl flex-col gap-4">
      <div>
        <h1 className="text-2xl font-bold">Welcome to Paddock</h1>
        <p className="mt-1 text-sm text-slate-700 dark:text-slate-300">
          Agents need a model. Connect one below — it takes effect at once, no restart — or try everything offline first with a built-in demo model.
        </p>
      </div>
      <Card title="Try it offline">
        <p className="mb-3 text-sm">
          A scripted model runs inside Paddock and works on a small sample repository: you watch it stream, run the tests in its sandbox, edit a file, ask for
          your approval of a risky command, and leave a diff to review. Nothing leaves this machine.
        </p>
        <Button tone="primary" onClick={() => demo.mutate()} disabled={demo.isPending}>
          {demo.isPending ? 'Starting…' : 'Start the demo'}
        </Button>
        <ErrorNote error={demo.error} />
      </Card>
      <Card title="Connect a model">
        {admin ? (
          <ProviderForm makeDefault submitLabel="Save and continue" onSaved={() => navigate('/?new=1')} />
        ) : (
          <p className="text-sm">
            Adding a provider needs an admin: open the sign-in link <code>paddock serve</code> printed, or ask whoever runs this Paddock to add one.
          </p>
        )}
      </Card>
      <p className="text-xs text-slate-700 dark:text-slate-300">
        Prefer files? Providers in <code>paddock.toml</code> (<code>[[providers]]</code> with <code>api_key_env</code>) work too and show up here read-only.
      </p>
    </div>
  );
}
