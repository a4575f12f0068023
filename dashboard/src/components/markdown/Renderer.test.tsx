import { describe, expect, it } from 'vitest';
import { renderToStaticMarkup } from 'react-dom/server';
import Renderer from './Renderer';

const html = (text: string) => renderToStaticMarkup(<Renderer text={text} />);

describe('Markdown renderer', () => {
  it('renders GitHub-flavoured Markdown', () => {
    const out = html('# Title\n\n- **bold** item\n- [x] done\n\n| a | b |\n|---|---|\n| 1 | 2 |\n');
    // Headings sit below the page's own.
    expect(out).toContain('<h3 class="md-h1">Title</h3>');
    expect(out).toContain('<strong>bold</strong>');
    expect(out).toContain('type="checkbox"');
    expect(out).toContain('<td>1</td>');
  });

  it('makes an answer’s heading levels consecutive, so none is skipped below the chat’s h2', () => {
    const out = html('## Summary\n\ntext\n\n#### Detail\n\nmore\n');
    expect(out).toContain('<h3 class="md-h1">Summary</h3>');
    expect(out).toContain('<h4 class="md-h2">Detail</h4>');
  });

  it('never renders raw HTML: it shows as text', () => {
    const out = html('Hi <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n<div onclick="x()">block</div>');
    expect(out).not.toContain('<script');
    expect(out).not.toContain('<img');
    expect(out).not.toContain('<div onclick');
    expect(out).toContain('&lt;script&gt;');
  });

  it('opens links safely and drops javascript: URLs', () => {
    const out = html('[site](https://example.com) [bad](javascript:alert(1))');
    expect(out).toContain('href="https://example.com" target="_blank" rel="noopener noreferrer"');
    expect(out).not.toContain('javascript:');
  });

  it('highlights known languages and leaves others plain', () => {
    const rust = html('```rust\nfn main() {}\n```');
    expect(rust).toContain('hljs-keyword');
    const other = html('```brainfuck\n+++\n```');
    expect(other).not.toContain('hljs-');
    expect(other).toContain('+++');
  });

  it('renders an unfinished fence (text still streaming) as code so far', () => {
    const out = html('Here:\n\n```python\nprint("hi")\n');
    expect(out).toContain('<pre');
    expect(out).toContain('print');
  });
});
