// Small building blocks shared by the screens.

import { type ButtonHTMLAttributes, type ReactNode, cloneElement, isValidElement, useEffect, useId, useRef } from 'react';
import type { RiskLevel } from '../api/types';
import { ApiError } from '../api/client';

type Tone = 'primary' | 'danger' | 'plain';

export function Button({ tone = 'plain', className = '', ...props }: ButtonHTMLAttributes<HTMLButtonElement> & { tone?: Tone }) {
  const tones: Record<Tone, string> = {
    primary: 'bg-blue-700 text-white hover:bg-blue-800 disabled:bg-blue-300 dark:disabled:bg-blue-900',
    danger: 'bg-red-700 text-white hover:bg-red-800 disabled:bg-red-300 dark:disabled:bg-red-900',
    plain:
      'border border-slate-400 bg-white text-slate-900 hover:bg-slate-100 disabled:opacity-50 dark:border-slate-500 dark:bg-slate-800 dark:text-slate-100 dark:hover:bg-slate-700',
  };
  return (
    <button
      type="button"
      className={`inline-flex min-h-9 items-center justify-center gap-1 rounded px-3 py-1.5 text-sm font-medium ${tones[tone]} ${className}`}
      {...props}
    />
  );
}

export function Card({ children, className = '', title, actions }: { children: ReactNode; className?: string; title?: ReactNode; actions?: ReactNode }) {
  return (
    <section className={`rounded-lg border border-slate-300 bg-white p-4 dark:border-slate-700 dark:bg-slate-900 ${className}`}>
      {(title || actions) && (
        <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
          {title && <h2 className="text-lg font-semibold">{title}</h2>}
          {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

const riskTone: Record<string, string> = {
  low: 'bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100',
  medium: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
  high: 'bg-orange-100 text-orange-900 dark:bg-orange-900 dark:text-orange-100',
  critical: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
};

export function RiskBadge({ level }: { level: RiskLevel | string }) {
  return <span className={`inline-block rounded px-2 py-0.5 text-xs font-semibold uppercase ${riskTone[level] ?? riskTone.medium}`}>risk: {level}</span>;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const msg = error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
  return (
    <p role="alert" className="rounded border border-red-400 bg-red-50 p-2 text-sm text-red-900 dark:border-red-700 dark:bg-red-950 dark:text-red-100">
      {msg}
    </p>
  );
}

/** A labelled field; its hint is the field's description (read after its name, not part of it). */
export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  const hintId = useId();
  const field = hint && isValidElement<{ 'aria-describedby'?: string }>(children) ? cloneElement(children, { 'aria-describedby': hintId }) : children;
  return (
    <div className="flex flex-col gap-1 text-sm">
      <label className="flex flex-col gap-1">
        <span className="font-medium">{label}</span>
        {field}
      </label>
      {hint && (
        <span id={hintId} className="text-xs text-slate-600 dark:text-slate-300">
          {hint}
        </span>
      )}
    </div>
  );
}

export const inputClass =
  'rounded border border-slate-400 bg-white px-2 py-1.5 text-sm text-slate-900 dark:border-slate-500 dark:bg-slate-800 dark:text-slate-100';

/** What a screen with nothing to show says: what this is and what to do next. */
export function EmptyState({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="rounded-lg border border-dashed border-slate-400 p-6 text-center dark:border-slate-600" aria-label={title} data-testid="empty-state">
      <h2 className="text-lg font-semibold">{title}</h2>
      <div className="mx-auto mt-1 max-w-prose text-sm">{children}</div>
      {actions && <div className="mt-3 flex flex-wrap justify-center gap-2">{actions}</div>}
    </section>
  );
}

/** Names the browser tab after the screen (and the agent): "Usage · Paddock". */
export function useTitle(title: string | null | undefined) {
  useEffect(() => {
    document.title = title ? `${title} · Paddock` : 'Paddock';
  }, [title]);
}

/** A native <dialog> shown as modal while `open` (focus trap and Escape for free); `onOpen` runs once it shows. */
export function useDialog(open: boolean, onOpen?: (d: HTMLDialogElement) => void) {
  const ref = useRef<HTMLDialogElement>(null);
  const opened = useRef(onOpen);
  opened.current = onOpen;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      d.showModal();
      opened.current?.(d);
    }
    if (!open && d.open) d.close();
  }, [open]);
  return ref;
}

/** A dialog's heading and its Close button. */
export function DialogBar({ title, onClose }: { title: string; onClose: () => void }) {
  return (
    <div className="flex items-center justify-between gap-2">
      <h2 className="text-lg font-semibold">{title}</h2>
      <Button onClick={onClose} aria-label="Close">
        ✕
      </Button>
    </div>
  );
}

/** A modal dialog; focus lands on its first field (not the Close button the browser would pick). */
export function Modal({ open, onClose, title, children }: { open: boolean; onClose: () => void; title: string; children: ReactNode }) {
  const ref = useDialog(open, (d) => d.querySelector<HTMLElement>('input:not([type=hidden]):not([disabled]), select, textarea')?.focus());
  return (
    <dialog
      ref={ref}
      onClose={onClose}
      aria-label={title}
      className="m-auto w-[min(40rem,calc(100vw-1rem))] rounded-lg border border-slate-300 bg-white p-0 text-slate-900 backdrop:bg-black/50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
    >
      {open && (
        <div className="flex max-h-[85vh] flex-col gap-3 overflow-auto p-4">
          <DialogBar title={title} onClose={onClose} />
          {children}
        </div>
      )}
    </dialog>
  );
}

export function usd(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n === 0) return '$0';
  return n < 0.01 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`;
}

export function tokens(n: number | null | undefined): string {
  if (!n) return '0';
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${(n / 1000).toFixed(0)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return String(n);
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

export function ago(ts: string | null | undefined): string {
  if (!ts) return '';
  const s = Math.round((Date.now() - Date.parse(ts)) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** A region that scrolls sideways on narrow screens, reachable by keyboard. */
export function ScrollX({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="relative overflow-x-auto" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

/** A form whose submission stays in the page. */
export function Form({ onSubmit, className, children }: { onSubmit: () => void; className?: string; children: ReactNode }) {
  return (
    <form
      className={className}
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      {children}
    </form>
  );
}

/** A dialog form's buttons: submit (disabled while it runs) and cancel. */
export function DialogActions({ submit, pending, onCancel }: { submit: string; pending: boolean; onCancel: () => void }) {
  return (
    <div className="flex gap-2">
      <Button tone="primary" type="submit" disabled={pending}>
        {submit}
      </Button>
      <Button onClick={onCancel}>Cancel</Button>
    </div>
  );
}

/** A row of labelled figures (two columns on a phone, four wider). */
export function Stats({ label, cells, testId }: { label: string; cells: [string, string][]; testId?: string }) {
  return (
    <dl className="grid grid-cols-2 gap-2 sm:grid-cols-4" aria-label={label} data-testid={testId}>
      {cells.map(([k, v]) => (
        <div key={k} className="rounded border border-slate-300 bg-white p-2 dark:border-slate-700 dark:bg-slate-900">
          <dt className="text-xs text-slate-700 dark:text-slate-300">{k}</dt>
          <dd className="text-lg font-semibold">{v}</dd>
        </div>
      ))}
    </dl>
  );
}
