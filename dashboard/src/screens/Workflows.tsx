// Workflows: the named definitions (built-in, files, paddock.toml, the
// API), each with its steps as a chain and a Run button that asks for its
// inputs; for writers, a YAML editor to add or change an API workflow, the
// server's validation error shown at the line of the field it names; and
// the runs, newest first, refreshed every two seconds.

import { useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, TextBody, del, get, post, put } from '../api/client';
import type { WorkflowDef, WorkflowDefinitionView, WorkflowRunStatus, WorkflowRunView, DefinitionSource } from '../api/types';
import { readOnlyReason, useWho } from '../api/me';
import { Button, DialogActions, EmptyState, ErrorNote, Field, Form, Modal, ago, inputClass, usd, useTitle } from '../components/ui';
import { duration } from '../components/ToolCall';
import { errorLine, splitFieldError, toYaml } from '../components/yaml';
import { KIND_LABELS, RUN_STATES, SOURCES, chainOf, elapsed, inputDefaults, inputsToSend, isRequired, newestFirst } from '../live/workflow';

const enc = encodeURIComponent;
const REFRESH_MS = 2000;
/** The example every Paddock ships. */
export const BUILTIN = 'plan-implement-test';

export function useDefinitions() {
  return useQuery({ queryKey: ['workflows'], queryFn: () => get<WorkflowDefinitionView[]>('/api/workflows') });
}

export function useRuns() {
  return useQuery({ queryKey: ['workflow-runs'], queryFn: () => get<WorkflowRunView[]>('/api/workflow-runs'), refetchInterval: REFRESH_MS });
}

/** A run's state: a sign and words on its colour (never colour alone). */
export function RunStatusBadge({ status }: { status: WorkflowRunStatus }) {
  const s = RUN_STATES[status];
  return (
    <span
      data-testid="run-status"
      title={s.meaning}
      className={`inline-flex items-center gap-1 rounded px-2 py-0.5 text-xs font-semibold whitespace-nowrap ${s.tone}`}
    >
      <span aria-hidden="true">{s.icon}</span>
      {s.label}
    </span>
  );
}

function SourceBadge({ source }: { source: DefinitionSource }) {
  const s = SOURCES[source];
  return (
    <span
      data-testid="workflow-source"
      title={s.meaning}
      className="rounded-full border border-slate-500 px-2 text-xs font-semibold whitespace-nowrap text-slate-800 dark:border-slate-400 dark:text-slate-100"
    >
      {s.label}
    </span>
  );
}

/** A definition's steps, one after the other. */
export function Chain({ def }: { def: Pick<WorkflowDef, 'steps'> }) {
  const links = chainOf(def);
  return (
    <ol className="flex flex-wrap items-center gap-x-1 gap-y-1 text-xs" aria-label="Steps" data-testid="workflow-chain">
      {links.map((l, i) => (
        <li key={l.id} className="flex items-center gap-1">
          {i > 0 && (
            <span aria-hidden="true" className="text-slate-500 dark:text-slate-400">
              →
            </span>
          )}
          <span
            className={`rounded border px-1.5 py-0.5 ${
              l.kind === 'gate'
                ? 'border-amber-500 bg-amber-50 dark:border-amber-600 dark:bg-amber-950'
                : 'border-slate-300 bg-slate-50 dark:border-slate-600 dark:bg-slate-800'
            }`}
            title={KIND_LABELS[l.kind]}
          >
            <span className="font-mono font-semibold">{l.id}</span>
            {l.note && <span className="text-slate-700 dark:text-slate-300"> · {l.note}</span>}
          </span>
        </li>
      ))}
    </ol>
  );
}

function DefinitionCard({ d, mayWrite, onRun, onEdit }: { d: WorkflowDefinitionView; mayWrite: boolean; onRun: () => void; onEdit: () => void }) {
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: () => del(`/api/workflows/${enc(d.name)}`),
    onSettled: () => qc.invalidateQueries({ queryKey: ['workflows'] }),
  });
  const headingId = `workflow-${d.name.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  return (
    <article
      aria-labelledby={headingId}
      data-testid="workflow"
      data-name={d.name}
      className="flex min-w-0 flex-col gap-2 rounded-lg border border-slate-300 bg-white p-4 dark:border-slate-700 dark:bg-slate-900"
    >
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div className="flex min-w-0 flex-wrap items-center gap-2">
          <h3 id={headingId} className="font-mono text-base font-semibold break-all">
            {d.name}
          </h3>
          <SourceBadge source={d.source} />
        </div>
        <div className="flex flex-wrap gap-2">
          {mayWrite && d.source === 'api' && (
            <>
              <Button onClick={onEdit} aria-label={`Edit ${d.name}`}>
                Edit
              </Button>
              <Button
                onClick={() => {
                  if (window.confirm(`Delete workflow ${d.name}? Its runs are kept.`)) remove.mutate();
                }}
                aria-label={`Delete ${d.name}`}
              >
                Delete
              </Button>
            </>
          )}
          <Button tone="primary" onClick={onRun} disabled={!mayWrite} aria-label={`Run ${d.name}`}>
            Run
          </Button>
        </div>
      </div>
      {d.description && <p className="text-sm">{d.description}</p>}
      <Chain def={d.definition} />
      <ErrorNote error={remove.error} />
    </article>
  );
}

/** The dialog that starts a run: one field per input, required ones marked. */
function RunDialog({ d, onClose }: { d: WorkflowDefinitionView | null; onClose: () => void }) {
  const [values, setValues] = useState<Record<string, string>>({});
  const [missing, setMissing] = useState<string[]>([]);
  const navigate = useNavigate();
  const qc = useQueryClient();
  useEffect(() => {
    if (d) {
      setValues(inputDefaults(d.definition));
      setMissing([]);
    }
  }, [d]);
  const start = useMutation({
    mutationFn: (inputs: Record<string, string>) => post<WorkflowRunView>('/api/workflow-runs', { workflow: d?.name, inputs }),
    onSuccess: (r) => {
      void qc.invalidateQueries({ queryKey: ['workflow-runs'] });
      onClose();
      navigate(`/workflows/runs/${enc(r.id)}`);
    },
  });
  const inputs = d?.definition.inputs ?? [];
  return (
    <Modal open={d !== null} onClose={onClose} title={d ? `Run ${d.name}` : 'Run'}>
      <Form
        className="flex flex-col gap-3"
        onSubmit={() => {
          if (!d) return;
          const out = inputsToSend(d.definition, values);
          setMissing(out.missing);
          if (out.missing.length === 0) start.mutate(out.inputs);
        }}
      >
        {inputs.length === 0 && <p className="text-sm">This workflow takes no inputs.</p>}
        {inputs.map((i) => {
          const req = isRequired(i);
          const long = req && !i.default;
          const set = (v: string) => setValues({ ...values, [i.name]: v });
          const invalid = missing.includes(i.name);
          const props = {
            className: `${inputClass} ${invalid ? 'border-red-600 dark:border-red-400' : ''}`,
            value: values[i.name] ?? '',
            'aria-invalid': invalid || undefined,
            'aria-required': req || undefined,
          };
          return (
            <div key={i.name} className="flex flex-col gap-1">
              <Field label={`${i.name}${req ? ' (required)' : ''}`} hint={i.description ?? (i.default ? `Default: ${i.default}` : undefined)}>
                {long ? <textarea rows={3} {...props} onChange={(e) => set(e.target.value)} /> : <input {...props} onChange={(e) => set(e.target.value)} />}
              </Field>
              {invalid && (
                <p className="text-xs font-semibold text-red-800 dark:text-red-300" role="alert">
                  {i.name}: required
                </p>
              )}
            </div>
          );
        })}
        <ErrorNote error={start.error} />
        <DialogActions submit={start.isPending ? 'Starting…' : 'Start the run'} pending={start.isPending} onCancel={onClose} />
      </Form>
    </Modal>
  );
}

const NEW_WORKFLOW = `name: my-workflow
description: "What it does"
inputs:
  - name: task
    description: "what to do"
steps:
  - id: work
    template: coder
    prompt: "Do this: {{inputs.task}}"
  - id: approve
    gate:
      message: "Keep the changes for {{inputs.task}}?"
`;

/** The YAML editor: Check asks the server without saving, Save stores it; an error is shown at its field's line. */
function Editor({ editing, onClose }: { editing: WorkflowDefinitionView | 'new' | null; onClose: () => void }) {
  const [text, setText] = useState('');
  const area = useRef<HTMLTextAreaElement>(null);
  const qc = useQueryClient();
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    if (editing === 'new') setText(NEW_WORKFLOW);
    else if (editing) setText(toYaml(editing.definition));
    setChecked(false);
  }, [editing]);
  const yaml = (t: string) => new TextBody('application/yaml', t);
  const check = useMutation({ mutationFn: (t: string) => post('/api/workflows/check', yaml(t)), onSuccess: () => setChecked(true) });
  const save = useMutation({
    // A new one is created (refused if the name is taken); an edited one replaced.
    mutationFn: (t: string) =>
      editing && editing !== 'new'
        ? put<WorkflowDefinitionView>(`/api/workflows/${enc(editing.name)}`, yaml(t))
        : post<WorkflowDefinitionView>('/api/workflows', yaml(t)),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['workflows'] });
      onClose();
    },
  });
  const error = save.error ?? check.error;
  const message = error instanceof ApiError ? error.message : error ? String(error) : '';
  const line = message ? errorLine(text, message) : null;
  const split = splitFieldError(message);
  const lineText = line !== null ? (text.split('\n')[line - 1] ?? '') : '';
  /** Selects the line the error is about, in the editor. */
  const show = () => {
    const a = area.current;
    if (!a || line === null) return;
    const lines = text.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    a.focus();
    a.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
  };
  const title = editing === 'new' ? 'New workflow' : editing ? `Edit ${editing.name}` : 'Workflow';
  return (
    <Modal open={editing !== null} onClose={onClose} title={title}>
      <Form
        className="flex flex-col gap-3"
        onSubmit={() => {
          check.reset();
          save.mutate(text);
        }}
      >
        <Field
          label="Definition (YAML)"
          hint="Steps run an agent template (template, prompt, optional verify), a human gate (gate: {message}), a fan-out (fanout: {over, template, prompt}) or a merge (merge: true). See README ‘Workflows’."
        >
          <textarea
            ref={area}
            className={`${inputClass} min-h-72 font-mono text-xs leading-5 ${message ? 'border-red-600 dark:border-red-400' : ''}`}
            rows={18}
            spellCheck={false}
            value={text}
            aria-invalid={message ? true : undefined}
            aria-errormessage={message ? 'workflow-error' : undefined}
            onChange={(e) => {
              setText(e.target.value);
              setChecked(false);
              check.reset();
              save.reset();
            }}
          />
        </Field>
        {message && (
          <div
            id="workflow-error"
            role="alert"
            data-testid="workflow-error"
            className="flex flex-col gap-1 rounded border border-red-400 bg-red-50 p-2 text-sm text-red-900 dark:border-red-700 dark:bg-red-950 dark:text-red-100"
          >
            <p>
              {line !== null && <strong data-testid="workflow-error-line">Line {line}: </strong>}
              {split.field && <code className="font-semibold">{split.field}</code>}
              {split.field ? `: ${split.text}` : split.text}
            </p>
            {line !== null && (
              <div className="flex flex-wrap items-center gap-2">
                <code className="min-w-0 rounded bg-white px-1 break-all whitespace-pre-wrap dark:bg-slate-900">{lineText.trim() || '(blank)'}</code>
                <Button onClick={show}>Show in the editor</Button>
              </div>
            )}
          </div>
        )}
        {checked && !message && (
          <p role="status" className="text-sm font-medium text-green-800 dark:text-green-300">
            The definition is valid.
          </p>
        )}
        <div className="flex flex-wrap gap-2">
          <Button tone="primary" type="submit" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : 'Save'}
          </Button>
          <Button
            onClick={() => {
              save.reset();
              check.mutate(text);
            }}
            disabled={check.isPending}
          >
            Check
          </Button>
          <Button onClick={onClose}>Cancel</Button>
        </div>
      </Form>
    </Modal>
  );
}

function RunRow({ r, now }: { r: WorkflowRunView; now: number }) {
  const took = elapsed(r.created_at, r.finished_at, now);
  return (
    <li
      className="flex flex-wrap items-center gap-x-4 gap-y-1 rounded-lg border border-slate-300 bg-white p-3 dark:border-slate-700 dark:bg-slate-900"
      data-testid="run-row"
    >
      <div className="min-w-40 flex-1">
        <Link to={`/workflows/runs/${enc(r.id)}`} className="font-semibold text-blue-800 underline dark:text-blue-300">
          {r.workflow}
        </Link>
        <div className="truncate font-mono text-xs text-slate-700 dark:text-slate-300" title={r.id}>
          {r.id}
        </div>
      </div>
      <RunStatusBadge status={r.status} />
      <dl className="grid grid-cols-2 gap-x-4 gap-y-0.5 text-xs sm:flex sm:flex-wrap sm:gap-x-4">
        <div className="flex gap-1">
          <dt className="text-slate-700 dark:text-slate-300">started</dt>
          <dd title={new Date(r.created_at).toLocaleString()}>{ago(r.created_at)}</dd>
        </div>
        <div className="flex gap-1">
          <dt className="text-slate-700 dark:text-slate-300">took</dt>
          <dd>{took === null ? '—' : duration(took)}</dd>
        </div>
        <div className="flex gap-1">
          <dt className="text-slate-700 dark:text-slate-300">cost</dt>
          <dd>{usd(r.cost_usd)}</dd>
        </div>
        <div className="flex gap-1">
          <dt className="text-slate-700 dark:text-slate-300">step</dt>
          <dd className="font-mono" data-testid="run-current-step">
            {r.current_step ?? '—'}
          </dd>
        </div>
      </dl>
    </li>
  );
}

/** The current time, ticking every second. */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function WorkflowsScreen() {
  useTitle('Workflows');
  const defs = useDefinitions();
  const runs = useRuns();
  const who = useWho();
  const readOnly = readOnlyReason(who);
  const mayWrite = !readOnly;
  const [running, setRunning] = useState<WorkflowDefinitionView | null>(null);
  const [editing, setEditing] = useState<WorkflowDefinitionView | 'new' | null>(null);
  const now = useNow();
  const sorted = useMemo(() => newestFirst(runs.data ?? []), [runs.data]);
  const builtin = defs.data?.find((d) => d.name === BUILTIN) ?? defs.data?.[0];

  return (
    <div className="flex flex-col gap-6">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div>
          <h1 className="text-2xl font-bold">Workflows</h1>
          <p className="max-w-prose text-sm text-slate-700 dark:text-slate-300">
            Steps that run agents one after the other — with verify commands, retries, human gates and fan-outs — and survive a restart of the host.
          </p>
        </div>
        <div className="flex flex-wrap items-center gap-2">
          {readOnly && (
            <span className="text-xs text-slate-700 dark:text-slate-300" id="workflows-read-only">
              {readOnly}
            </span>
          )}
          <Button onClick={() => setEditing('new')} disabled={!mayWrite} aria-describedby={readOnly ? 'workflows-read-only' : undefined}>
            New workflow
          </Button>
        </div>
      </div>

      <section aria-labelledby="runs-heading" className="flex flex-col gap-2">
        <h2 id="runs-heading" className="text-lg font-semibold">
          Runs
        </h2>
        <ErrorNote error={runs.error} />
        {runs.isPending && <p className="text-sm">Loading the runs…</p>}
        {runs.data?.length === 0 && (
          <EmptyState
            title="No runs yet"
            actions={
              builtin &&
              mayWrite && (
                <Button tone="primary" onClick={() => setRunning(builtin)}>
                  Run {builtin.name}
                </Button>
              )
            }
          >
            {builtin ? (
              <>
                Start the built-in <code>{builtin.name}</code>: it plans, implements, tests, has the change reviewed, asks you to approve and merges it — or
                pick any workflow below.
              </>
            ) : (
              'Start one of the workflows below.'
            )}
          </EmptyState>
        )}
        {sorted.length > 0 && (
          <ul aria-label="Runs" className="flex flex-col gap-2">
            {sorted.map((r) => (
              <RunRow key={r.id} r={r} now={now} />
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="definitions-heading" className="flex flex-col gap-2">
        <h2 id="definitions-heading" className="text-lg font-semibold">
          Definitions
        </h2>
        <ErrorNote error={defs.error} />
        {defs.isPending && <p className="text-sm">Loading the workflows…</p>}
        {defs.data?.length === 0 && (
          <EmptyState title="No workflows">
            Add one with New workflow, a YAML file in the data directory’s <code>workflows/</code>, or a <code>[[workflows]]</code> table in paddock.toml.
          </EmptyState>
        )}
        <div className="grid gap-3 xl:grid-cols-2">
          {(defs.data ?? []).map((d) => (
            <DefinitionCard key={d.name} d={d} mayWrite={mayWrite} onRun={() => setRunning(d)} onEdit={() => setEditing(d)} />
          ))}
        </div>
      </section>

      <RunDialog d={running} onClose={() => setRunning(null)} />
      <Editor editing={editing} onClose={() => setEditing(null)} />
    </div>
  );
}
