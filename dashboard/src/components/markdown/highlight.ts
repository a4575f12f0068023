// Syntax highlighting of Markdown code blocks: a rehype plugin over lowlight
// (highlight.js) with a handful of common languages only, so the bundle
// stays lean. Code in another language is left as plain text.

import type { Element, ElementContent, Root, RootContent } from 'hast';
import { createLowlight } from 'lowlight';
import bash from 'highlight.js/lib/languages/bash';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import ini from 'highlight.js/lib/languages/ini';
import css from 'highlight.js/lib/languages/css';

const lowlight = createLowlight({ bash, css, diff, go, ini, javascript, json, python, rust, sql, typescript, xml, yaml });
lowlight.registerAlias({
  bash: ['sh', 'shell', 'zsh', 'console'],
  javascript: ['js', 'jsx', 'mjs'],
  typescript: ['ts', 'tsx'],
  python: ['py'],
  rust: ['rs'],
  ini: ['toml'],
  xml: ['html', 'svg'],
  yaml: ['yml'],
});

/** The language a `code` element names (`language-x` class), if any. */
function languageOf(code: Element): string | null {
  const cls = code.properties?.className;
  const list: unknown[] = Array.isArray(cls) ? cls : [];
  for (const c of list) {
    if (typeof c === 'string' && c.startsWith('language-')) return c.slice('language-'.length);
  }
  return null;
}

function textOf(node: ElementContent): string {
  if (node.type === 'text') return node.value;
  if (node.type === 'element') return node.children.map(textOf).join('');
  return '';
}

/** Whether lowlight knows a language (by name or alias). */
export function knownLanguage(lang: string): boolean {
  return lowlight.registered(lang);
}

function visit(node: Root | RootContent): void {
  if (node.type !== 'root' && node.type !== 'element') return;
  if (node.type === 'element' && node.tagName === 'pre') {
    for (const child of node.children) {
      if (child.type !== 'element' || child.tagName !== 'code') continue;
      const lang = languageOf(child);
      if (!lang || !lowlight.registered(lang)) continue;
      const tree = lowlight.highlight(lang, child.children.map(textOf).join(''));
      child.children = tree.children as ElementContent[];
      const cls = child.properties.className;
      child.properties.className = [...(Array.isArray(cls) ? cls : []), 'hljs'];
    }
    return;
  }
  for (const child of node.children) visit(child);
}

/** The rehype plugin. */
export function rehypeHighlightSome() {
  return (tree: Root) => visit(tree);
}
