// The Markdown renderer (loaded lazily by ../Markdown.tsx): GitHub-flavoured
// Markdown, raw HTML never rendered (no rehype-raw: it shows as the text it
// is), links open safely, code blocks highlighted.

import ReactMarkdown, { type Components } from 'react-markdown';
import remarkGfm from 'remark-gfm';
import { rehypeHighlightSome } from './highlight';
import './markdown.css';

interface MdNode {
  type: string;
  depth?: number;
  children?: MdNode[];
}

/** A remark plugin: an answer's heading levels become consecutive from 1
 *  (`##` then `####` read as 1 then 2), so with the page's h1 and the chat's
 *  h2 above them no level is ever skipped. */
export function headingRanks() {
  return (tree: MdNode) => {
    const headings: MdNode[] = [];
    const walk = (node: MdNode): void => {
      if (node.type === 'heading') headings.push(node);
      node.children?.forEach(walk);
    };
    walk(tree);
    const depths = [...new Set(headings.map((h) => h.depth ?? 1))].sort((a, b) => a - b);
    for (const h of headings) h.depth = depths.indexOf(h.depth ?? 1) + 1;
  };
}

/** A remark plugin: HTML in the Markdown becomes plain text (shown, never parsed). */
function htmlAsText() {
  const walk = (node: MdNode): void => {
    if (node.type === 'html') node.type = 'text';
    node.children?.forEach(walk);
  };
  return (tree: MdNode) => walk(tree);
}

const components: Components = {
  a: ({ href, children }) => (
    <a href={href} target="_blank" rel="noopener noreferrer">
      {children}
    </a>
  ),
  // Wide tables scroll sideways instead of widening the page.
  table: ({ children }) => (
    <div className="md-table" tabIndex={0} role="group" aria-label="Table">
      <table>{children}</table>
    </div>
  ),
  // The answer's headings sit below the page's (h1) and the chat's: h3 and down.
  h1: ({ children }) => <h3 className="md-h1">{children}</h3>,
  h2: ({ children }) => <h4 className="md-h2">{children}</h4>,
  h3: ({ children }) => <h5 className="md-h3">{children}</h5>,
  h4: ({ children }) => <h6 className="md-h4">{children}</h6>,
  h5: ({ children }) => <h6 className="md-h4">{children}</h6>,
  // Code blocks scroll sideways, reachable by keyboard.
  pre: ({ children }) => <pre tabIndex={0}>{children}</pre>,
};

export default function Renderer({ text }: { text: string }) {
  return (
    <div className="md">
      <ReactMarkdown remarkPlugins={[remarkGfm, htmlAsText, headingRanks]} rehypePlugins={[rehypeHighlightSome]} components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
}
