// The provider form of the first-run setup and of Settings: a preset
// (OpenAI, or any OpenAI-compatible endpoint), name, base URL, wire API and
// key; Test asks the server for real (its models list, else a one-token
// request) and shows its error plainly; Save stores the provider (the key
// encrypted, never shown again) and, when asked, makes the chosen model the
// default.

import { useEffect, useId, useRef, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { post, put } from '../api/client';
import type { DefaultModel, ProviderBody, ProviderTest, ProviderView, WireApi } from '../api/types';
import { Button, ErrorNote, Field, Form, inputClass } from './ui';

interface Preset {
  label: string;
  name: string;
  base_url: string;
  api: WireApi;
  keyHint: string;
}

/** The two ways to reach a model over the network (the third, the offline demo, is a button). */
export const PRESETS: Preset[] = [
  {
    label: 'OpenAI',
    name: 'openai',
    base_url: 'https://api.openai.com/v1',
    api: 'responses',
    keyHint: 'Your OpenAI API key (sk-…). Stored encrypted; never shown again.',
  },
  {
    label: 'OpenAI-compatible (vLLM, Ollama, llama.cpp, a gateway)',
    name: 'local',
    base_url: 'http://localhost:11434/v1',
    api: 'chat',
    keyHint: 'Only if the endpoint needs one. Stored encrypted; never shown again.',
  },
];

/** What the form sends: the provider, with the key only when one was typed. */
export function providerBody(f: { name: string; base_url: string; api: WireApi; api_key: string }, model: string): ProviderBody {
  const body: ProviderBody = { name: f.name.trim(), base_url: f.base_url.trim(), api: f.api };
  if (f.api_key) body.api_key = f.api_key;
  if (model) body.models = [{ name: model }];
  return body;
}

export function ProviderForm({
  existing,
  makeDefault,
  onSaved,
  submitLabel = 'Save',
}: {
  /** Editing this provider (its key is kept unless a new one is typed). */
  existing?: ProviderView;
  /** Also make the chosen model the default model. */
  makeDefault?: boolean;
  onSaved: (p: { provider: string; model: string }) => void;
  submitLabel?: string;
}) {
  const qc = useQueryClient();
  const [preset, setPreset] = useState(existing ? -1 : 0);
  const [form, setForm] = useState({
    name: existing?.name ?? PRESETS[0].name,
    base_url: existing?.base_url ?? PRESETS[0].base_url,
    api: (existing?.api ?? PRESETS[0].api) as WireApi,
    api_key: '',
  });
  const [model, setModel] = useState(existing?.models[0]?.name ?? '');
  const [tested, setTested] = useState<ProviderTest | null>(null);
  const first = useRef<HTMLInputElement>(null);
  const ids = useId();

  useEffect(() => {
    first.current?.focus();
  }, []);

  const choose = (i: number) => {
    setPreset(i);
    setTested(null);
    setForm({ ...form, name: PRESETS[i].name, base_url: PRESETS[i].base_url, api: PRESETS[i].api });
  };
  const set = (k: 'name' | 'base_url' | 'api_key') => (e: { target: { value: string } }) => {
    setTested(null);
    setForm({ ...form, [k]: e.target.value });
  };

  const test = useMutation({
    mutationFn: () =>
      // A saved provider whose key is not retyped is tested with its stored key.
      existing && !form.api_key && form.base_url.trim() === existing.base_url && form.api === existing.api
        ? post<ProviderTest>(`/api/config/providers/${encodeURIComponent(existing.name)}/test`)
        : post<ProviderTest>('/api/config/providers/test', providerBody(form, '')),
    onSuccess: (r) => {
      setTested(r);
      if (r.ok && r.models.length && !r.models.includes(model)) setModel(r.models[0]);
    },
  });
  const save = useMutation({
    mutationFn: async () => {
      const body = providerBody(form, model.trim());
      if (existing) {
        // Keep the provider's other models; the chosen one is added if new.
        const models = existing.models.map((m) => ({ name: m.name }));
        if (model.trim() && !models.some((m) => m.name === model.trim())) models.push({ name: model.trim() });
        await put(`/api/config/providers/${encodeURIComponent(existing.name)}`, { ...body, models });
      } else {
        await post('/api/config/providers', body);
      }
      if (makeDefault && model.trim()) await put<DefaultModel>('/api/config/default-model', { provider: body.name, model: model.trim() });
      // Read back before moving on: what comes next (the agents, the
      // new-agent dialog) decides by whether a provider is ready now.
      await Promise.all([qc.invalidateQueries({ queryKey: ['providers'] }), qc.invalidateQueries({ queryKey: ['info'] })]);
      return { provider: body.name, model: model.trim() };
    },
    onSuccess: (r) => onSaved(r),
  });

  const keyState = existing?.key;
  return (
    <Form className="flex flex-col gap-3" onSubmit={() => save.mutate()}>
      {!existing && (
        <fieldset className="flex flex-col gap-1">
          <legend className="mb-1 text-sm font-medium">Where your model is</legend>
          {PRESETS.map((p, i) => (
            <label key={p.label} className="flex items-center gap-2 text-sm">
              <input type="radio" name={`${ids}-preset`} checked={preset === i} onChange={() => choose(i)} />
              {p.label}
            </label>
          ))}
        </fieldset>
      )}
      <div className="grid gap-3 sm:grid-cols-2">
        <Field label="Name" hint="Agents refer to it by this name.">
          <input ref={first} className={inputClass} value={form.name} onChange={set('name')} required disabled={!!existing} pattern="[A-Za-z0-9_.\-]+" />
        </Field>
        <Field label="Base URL" hint="The API base, ending in /v1 for most servers.">
          <input className={inputClass} type="url" value={form.base_url} onChange={set('base_url')} required />
        </Field>
      </div>
      <fieldset className="flex flex-wrap gap-x-4 gap-y-1">
        <legend className="mb-1 text-sm font-medium">API</legend>
        {(
          [
            ['chat', 'Chat Completions (every OpenAI-compatible server)'],
            ['responses', 'Responses (OpenAI; reasoning models)'],
          ] as const
        ).map(([value, label]) => (
          <label key={value} className="flex items-center gap-2 text-sm">
            <input
              type="radio"
              name={`${ids}-api`}
              checked={form.api === value}
              onChange={() => {
                setTested(null);
                setForm({ ...form, api: value });
              }}
            />
            {label}
          </label>
        ))}
      </fieldset>
      <Field
        label="API key"
        hint={
          keyState?.set
            ? `A key is stored${keyState.last4 ? ` (ends in …${keyState.last4})` : ''}; type a new one to replace it.`
            : preset >= 0
              ? PRESETS[preset].keyHint
              : 'Stored encrypted; never shown again.'
        }
      >
        <input className={inputClass} type="password" autoComplete="off" value={form.api_key} onChange={set('api_key')} />
      </Field>
      <div className="flex flex-wrap items-center gap-2">
        <Button onClick={() => test.mutate()} disabled={test.isPending || !form.base_url.trim()}>
          {test.isPending ? 'Testing…' : 'Test'}
        </Button>
        {tested && (
          <p
            role="status"
            data-testid="provider-test"
            className={`rounded px-2 py-1 text-sm ${
              tested.ok ? 'bg-green-100 text-green-950 dark:bg-green-950 dark:text-green-100' : 'bg-red-100 text-red-950 dark:bg-red-950 dark:text-red-100'
            }`}
          >
            {tested.ok ? `Connected in ${tested.duration_ms} ms` : 'Failed'}: {tested.message}
          </p>
        )}
      </div>
      <ErrorNote error={test.error} />
      <Field
        label={makeDefault ? 'Default model' : 'Model'}
        hint={tested?.ok && tested.models.length ? `${tested.models.length} models offered by the server.` : 'Test to list the server’s models, or type one.'}
      >
        {tested?.ok && tested.models.length > 0 ? (
          <select className={inputClass} value={model} onChange={(e) => setModel(e.target.value)}>
            {tested.models.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        ) : (
          <input className={inputClass} value={model} onChange={(e) => setModel(e.target.value)} placeholder="gpt-5, llama3.1, …" />
        )}
      </Field>
      <ErrorNote error={save.error} />
      <div>
        <Button tone="primary" type="submit" disabled={save.isPending || !form.name.trim() || !form.base_url.trim()}>
          {save.isPending ? 'Saving…' : submitLabel}
        </Button>
      </div>
    </Form>
  );
}
