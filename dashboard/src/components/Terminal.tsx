// Shell output in a terminal view (xterm.js): colours and carriage returns
// render as a terminal would. Read-only. A group, not a landmark region:
// a timeline holds many, and landmarks must be few and uniquely named.

import { useEffect, useRef } from 'react';
import { Terminal as XTerm } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';

export function Terminal({ text, label }: { text: string; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<XTerm | null>(null);
  const written = useRef(0);
  const rows = Math.min(20, Math.max(3, text.split('\n').length + 1));

  useEffect(() => {
    if (!host.current) return;
    const dark = window.matchMedia?.('(prefers-color-scheme: dark)').matches;
    const t = new XTerm({
      rows,
      cols: 100,
      convertEol: true,
      disableStdin: true,
      cursorBlink: false,
      scrollback: 5000,
      fontSize: 12,
      theme: dark ? { background: '#0f172a', foreground: '#e2e8f0' } : { background: '#f8fafc', foreground: '#0f172a', cursor: '#f8fafc' },
    });
    t.open(host.current);
    // The helper textarea takes no input here; give it a name for screen readers.
    t.textarea?.setAttribute('aria-label', `${label} (read-only terminal)`);
    t.textarea?.setAttribute('readonly', 'true');
    term.current = t;
    written.current = 0;
    return () => {
      t.dispose();
      term.current = null;
    };
    // The terminal is created once; text is streamed in below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const t = term.current;
    if (!t) return;
    if (text.length < written.current) {
      t.reset();
      written.current = 0;
    }
    t.write(text.slice(written.current));
    written.current = text.length;
    t.resize(100, rows);
  }, [text, rows]);

  return (
    <div className="xterm-host max-w-full overflow-x-auto rounded border border-slate-300 dark:border-slate-700" tabIndex={0} role="group" aria-label={label}>
      <div ref={host} data-testid="terminal" />
      {/* The same text for assistive technology and for copy-paste. */}
      <pre className="sr-only">{text}</pre>
    </div>
  );
}
