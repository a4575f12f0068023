// Assistant text as Markdown, rendered safely (see markdown/Renderer.tsx).
// The renderer and its highlighter load on first use; until then (and for
// assistive technology nothing changes) the text shows as it is.

import { Component, type ReactNode, Suspense, lazy } from 'react';

const Renderer = lazy(() => import('./markdown/Renderer'));

function Plain({ text }: { text: string }) {
  return <div className="whitespace-pre-wrap">{text}</div>;
}

/** Falls back to the plain text if the renderer fails (a chunk that did not load). */
class Fallback extends Component<{ text: string; children: ReactNode }, { failed: boolean }> {
  state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  render() {
    return this.state.failed ? <Plain text={this.props.text} /> : this.props.children;
  }
}

export function Markdown({ text }: { text: string }) {
  return (
    <Fallback text={text}>
      <Suspense fallback={<Plain text={text} />}>
        <Renderer text={text} />
      </Suspense>
    </Fallback>
  );
}
