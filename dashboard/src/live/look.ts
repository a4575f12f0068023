// How a status looks on every screen: its words, its colours (light and
// dark) and a sign beside the words, so that a state never rests on colour
// alone. The tones are shared so that "running" or "failed" look the same
// on the Workflows and the Evaluations screens.

export interface Look {
  label: string;
  tone: string;
  /** A sign beside the words, so the state never rests on colour alone. */
  icon: string;
  meaning: string;
}

export const green = 'bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100';
export const blue = 'bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100';
export const amber = 'bg-amber-200 text-amber-950 dark:bg-amber-800 dark:text-amber-50';
export const red = 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100';
export const grey = 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100';
