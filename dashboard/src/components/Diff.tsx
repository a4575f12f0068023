// A unified diff, line by line, with added and removed lines marked by
// colour and by their +/- sign (not colour alone).

import { createTwoFilesPatch } from 'diff';

export function unifiedDiff(path: string, before: string, after: string): string {
  return createTwoFilesPatch(`a/${path}`, `b/${path}`, before, after, '', '', { context: 3 });
}

export interface DiffStats {
  added: number;
  removed: number;
}

export function diffStats(diff: string): DiffStats {
  let added = 0;
  let removed = 0;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+') && !line.startsWith('+++')) added++;
    else if (line.startsWith('-') && !line.startsWith('---')) removed++;
  }
  return { added, removed };
}

export function Diff({ diff, label }: { diff: string; label: string }) {
  const lines = diff.replace(/\n$/, '').split('\n');
  const stats = diffStats(diff);
  return (
    <figure className="overflow-hidden rounded border border-slate-300 dark:border-slate-700" data-testid="diff">
      <figcaption className="flex justify-between bg-slate-100 px-2 py-1 text-xs dark:bg-slate-800">
        <span>{label}</span>
        <span>
          <span className="text-green-800 dark:text-green-300">+{stats.added}</span> <span className="text-red-800 dark:text-red-300">−{stats.removed}</span>
        </span>
      </figcaption>
      <pre className="max-h-96 overflow-auto text-xs leading-5" tabIndex={0} aria-label={`diff of ${label}`}>
        {lines.map((l, i) => {
          let cls = 'text-slate-800 dark:text-slate-200';
          if (l.startsWith('+++') || l.startsWith('---')) cls = 'font-semibold text-slate-700 dark:text-slate-300';
          else if (l.startsWith('+')) cls = 'bg-green-100 text-green-950 dark:bg-green-950 dark:text-green-100';
          else if (l.startsWith('-')) cls = 'bg-red-100 text-red-950 dark:bg-red-950 dark:text-red-100';
          else if (l.startsWith('@@')) cls = 'bg-blue-50 text-blue-900 dark:bg-blue-950 dark:text-blue-100';
          return (
            <div key={i} className={`px-2 whitespace-pre ${cls}`}>
              {l || ' '}
            </div>
          );
        })}
      </pre>
    </figure>
  );
}
