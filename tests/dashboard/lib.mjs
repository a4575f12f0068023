// What the dashboard's Chromium tests share: the real `paddock serve`
// (started, killed), Debian's Chromium through playwright-core, steps that
// print `ok`/`FAIL` with their time, axe-core (WCAG 2.1 A/AA; serious and
// critical violations fail, light and dark) and screenshots.

import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const require = createRequire(new URL('../../dashboard/package.json', import.meta.url));
export const { chromium } = require('playwright-core');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** An environment variable the Rust test that starts this script sets. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through tests/dashboard.rs (cargo test --test e2e dashboard::)`);
  return v;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `paddock serve` on a port of its own; `loginUrl` is the one-time sign-in link it prints. */
export class Host {
  /** `args`: what comes after `--data-dir DIR serve` (the bind address is added). */
  constructor({ bin, dataDir, args, env: extraEnv = {}, port }) {
    this.bin = bin;
    this.dataDir = dataDir;
    this.args = args;
    this.env = extraEnv;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.child = null;
    /** Everything it printed on stdout, for checks that nothing secret is logged. */
    this.stdout = '';
  }

  async start() {
    const child = spawn(this.bin, ['--data-dir', this.dataDir, 'serve', ...this.args, '--bind', `127.0.0.1:${this.port}`], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    const lines = createInterface({ input: child.stdout });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('paddock serve did not start within 60 s')), 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`paddock serve exited with ${code} at start`));
      });
      lines.on('line', (line) => {
        this.stdout += line + '\n';
        // The banner's last line: the one-time sign-in link.
        const link = line.match(/^open the dashboard.*?: (http\S+)$/);
        if (link) {
          this.loginUrl = link[1];
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** SIGKILL: a crash, not a shutdown. */
  async kill9() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** A request with `token` as the bearer. */
  async api(token, method, path, body) {
    const resp = await fetch(this.base + path, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await resp.text();
    if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-quic',
      '--no-first-run',
      '--disable-sync',
    ],
  });
  // bypassCSP: axe-core is injected as an inline script, which the
  // dashboard's content security policy rightly refuses.
  const context = await browser.newContext({
    viewport: { width: 1440, height: 900 },
    bypassCSP: true,
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  return { browser, context, page };
}

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

export async function waitFor(fn, what, timeoutMs = 60_000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Steps that print `ok`/`FAIL` with their time; a failed step leaves a screenshot in `art`. */
export class Steps {
  constructor(art) {
    this.art = art;
    this.failures = 0;
  }

  async run(page, name, fn) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
      return true;
    } catch (e) {
      this.failures++;
      console.log(`FAIL ${name} (${Date.now() - t0} ms)\n${e?.stack ?? e}`);
      try {
        await page.screenshot({
          path: join(this.art, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-')}.png`),
          fullPage: true,
        });
      } catch {
        // The page may be gone.
      }
      return false;
    }
  }
}

/** Moderate findings that once were here and must not come back (axe's best practices, not WCAG tags). */
const ALSO_FAIL = ['heading-order', 'landmark-unique'];

/** axe-core on the page as it is, light and dark: serious and critical WCAG 2.1 A/AA violations fail, and those of `ALSO_FAIL`. */
export async function axe(page, label) {
  const problems = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ content: AXE });
    const [wcag, kept] = await page.evaluate(
      async (rules) => [
        await window.axe.run(document, {
          runOnly: {
            type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'],
          },
          resultTypes: ['violations'],
        }),
        await window.axe.run(document, {
          runOnly: { type: 'rule', values: rules },
          resultTypes: ['violations'],
        }),
      ],
      ALSO_FAIL,
    );
    const show = (v) =>
      `${label} (${scheme}): ${v.id} [${v.impact}] ${v.help}: ${v.nodes
        .slice(0, 3)
        .map((n) => n.target.join(' '))
        .join(' | ')}`;
    for (const v of wcag.violations) if (v.impact === 'serious' || v.impact === 'critical') problems.push(show(v));
    for (const v of kept.violations) problems.push(show(v));
  }
  await page.emulateMedia({ colorScheme: 'light' });
  check(problems.length === 0, `accessibility violations:\n  ${problems.join('\n  ')}`);
}

/** The page as it is at `width` px: no sideways scrolling, axe, and a screenshot `name-width.png` in `dir`. */
export async function shoot(page, dir, name, width, { fullPage = true } = {}) {
  await page.setViewportSize({ width, height: 900 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 1, `${name} at ${width}px scrolls sideways by ${overflow}px`);
  await axe(page, `${name} at ${width}px`);
  await page.screenshot({ path: join(dir, `${name}-${width}.png`), fullPage });
}
