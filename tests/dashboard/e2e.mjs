// The dashboard's end-to-end tests: the real `paddock serve` (started,
// killed and restarted here) and Debian's Chromium driven by
// playwright-core. Started by tests/dashboard.rs, which prepares the data
// dir (200 agents, one with a 10,000-event log, one — `thinker` — with a
// run over the Responses API: reasoning summaries, reasoning tokens,
// failover), the workspace and a scripted model, and passes them in E2E_*
// variables. paddock.toml has a provider `openai` over the Responses API
// whose model `gpt-5` fails over to the scripted model (nothing listens at
// its address).
//
// Each step prints `ok` or `FAIL` with its time; figures (first render,
// burst) are printed, never asserted. Every screen is checked with
// axe-core (WCAG 2.1 A/AA; no serious or critical violation, light and
// dark) at 375, 768 and 1440 px, and saved as a screenshot. The workspace
// steps make their own git repository under the temp dir (the host's
// allowed root).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Host as Paddock, Steps, axe, check, env, freePort, launch, waitFor } from './lib.mjs';

const BIN = env('PADDOCK_BIN');
const DATA = env('E2E_DATA_DIR');
const CONFIG = env('E2E_CONFIG');
const WS = env('E2E_WORKSPACE');
const BIG = env('E2E_BIG_AGENT');
const THINKER = env('E2E_THINKER');
const BIG_EVENTS = Number(env('E2E_BIG_EVENTS'));
const AGENTS = Number(env('E2E_AGENTS'));
const BURST = Number(env('E2E_BURST_CALLS'));
const ART = env('E2E_ARTIFACTS');
const PLUGINS = env('E2E_TEST_PLUGINS');
const MCP_TIME = env('E2E_MCP_TIME');
const ADMIN = env('PADDOCK_ADMIN_TOKEN');
const USER = env('PADDOCK_TOKEN');
const WIDTHS = [375, 768, 1440];

// ---- the host ----

/** The host on `--config CONFIG` and the temp dir as its workspace root; `api` as the admin. */
class Host extends Paddock {
  constructor(port) {
    super({ bin: BIN, dataDir: DATA, args: ['--config', CONFIG, '--workspace-root', tmpdir()], port });
  }

  api(method, path, body) {
    return super.api(ADMIN, method, path, body);
  }
}

// ---- the steps ----

const figures = [];
/** Directories the steps made, removed at the end. */
const madeDirs = [];
const steps = new Steps(ART);
const step = (page, name, fn) => steps.run(page, name, fn);

/** Screenshots at the three widths, no sideways scrolling, axe at each. */
async function screens(page, name, url, ready) {
  for (const w of WIDTHS) {
    await page.setViewportSize({ width: w, height: 900 });
    await page.goto(url);
    await ready();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 1, `${name} at ${w}px scrolls sideways by ${overflow}px`);
    await axe(page, `${name} at ${w}px`);
    // Whole pages, unless a virtualised list makes them very long.
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.screenshot({ path: join(ART, `${name}-${w}.png`), fullPage: height < 5000 });
    if (w === 1440) {
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: join(ART, `${name}-${w}-dark.png`), fullPage: height < 5000 });
      await page.emulateMedia({ colorScheme: 'light' });
    }
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}

async function createInDialog(page, { name, task, mode }) {
  await page.goto(host.base + '/');
  await page.getByRole('button', { name: 'New agent' }).click();
  const dialog = page.getByRole('dialog', { name: 'New agent' });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByLabel('Workspace').fill(WS);
  await dialog.getByLabel('Task').fill(task);
  if (mode) await dialog.getByLabel('Approval mode').selectOption(mode);
  await dialog.getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
  return page.url().split('/').pop();
}

/** The sign-in page's token form, opened when it is folded under the password form. */
async function showTokenForm(page) {
  const signIn = page.getByRole('region', { name: 'Sign in to Paddock' });
  if (!(await signIn.getByLabel('Token').isVisible())) await signIn.getByText('Sign in with a token instead').click();
}

/** Signs in with `token` on the sign-in page. */
async function tokenSignIn(page, token) {
  const signIn = page.getByRole('region', { name: 'Sign in to Paddock' });
  await signIn.waitFor();
  await showTokenForm(page);
  await signIn.getByLabel('Token').fill(token);
  await signIn.getByRole('button', { name: 'Sign in with token' }).click();
  await page.getByTestId('user-menu').waitFor();
}

const timeline = (page) => page.getByTestId('timeline');
const lastSeq = async (page) => Number(await timeline(page).getAttribute('data-last-seq'));

// ---- main ----

const host = new Host(await freePort());
await host.start();
const { browser, context, page } = await launch();

try {
  await step(page, 'sign in: the printed link once, a wrong link, a token, sign out', async () => {
    // Nothing without credentials: the sign-in page asks.
    await page.goto(host.base + '/');
    const signIn = page.getByRole('region', { name: 'Sign in to Paddock' });
    await signIn.waitFor();
    await showTokenForm(page);
    await signIn.getByText('Open the sign-in link').waitFor();
    await page.screenshot({ path: join(ART, 'sign-in-1440.png') });
    await page.setViewportSize({ width: 375, height: 900 });
    await page.screenshot({ path: join(ART, 'sign-in-375.png') });
    await page.setViewportSize({ width: 1440, height: 900 });
    await axe(page, 'sign-in page');
    // The link `paddock serve` printed signs a browser in as admin, once.
    const other = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const linked = await other.newPage();
    await linked.goto(host.loginUrl);
    await linked.waitForURL(host.base + '/');
    await linked.getByTestId('user-menu').filter({ hasText: 'admin' }).waitFor();
    const again = await (await browser.newContext()).newPage();
    await again.goto(host.loginUrl);
    await again.getByText('That sign-in link was used already').waitFor();
    await again.context().close();
    await other.close();
    // A token signs this browser in through the page.
    await signIn.getByLabel('Token').fill('not-the-token');
    await signIn.getByRole('button', { name: 'Sign in with token' }).click();
    await signIn.getByText('That token is not valid.').waitFor();
    await signIn.getByLabel('Token').fill(USER);
    await signIn.getByRole('button', { name: 'Sign in with token' }).click();
    await signIn.waitFor({ state: 'hidden' });
    await page.getByTestId('user-menu').waitFor();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name.startsWith('paddock_session'));
    check(session && session.httpOnly && session.sameSite === 'Strict', `the session cookie is not HttpOnly+Strict: ${JSON.stringify(session)}`);
    check(!(await page.evaluate(() => document.cookie)).includes('paddock_session'), 'a script can read the session cookie');
    // Sign out, and back in.
    await page.getByTestId('user-menu').locator('summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.reload();
    await signIn.waitFor();
    await tokenSignIn(page, USER);
  });

  await step(page, `agents screen with ${AGENTS} agents`, async () => {
    const t0 = Date.now();
    await page.goto(host.base + '/');
    await page.getByText(`${AGENTS} of ${AGENTS} agents`).waitFor();
    await page.getByTestId('agent-row').first().waitFor();
    const ms = Date.now() - t0;
    const rendered = await page.getByTestId('agent-row').count();
    figures.push(`agents screen, ${AGENTS} agents: first render ${ms} ms (${rendered} rows in the DOM: virtualised)`);
    check(rendered < AGENTS / 2, `the list is not virtualised: ${rendered} rows rendered`);
    await page.getByLabel('Search').fill('fleet-19');
    await page.getByText(`10 of ${AGENTS} agents`).waitFor(); // fleet-190 … fleet-199
  });

  await step(page, `agent with ${BIG_EVENTS} events: first render`, async () => {
    const { last_seq: total } = await host.api('GET', `/api/agents/${BIG}`);
    check(total >= BIG_EVENTS, `the big agent has ${total} events`);
    const t0 = Date.now();
    await page.goto(`${host.base}/agents/${BIG}`);
    await page.locator(`[data-testid=timeline][data-last-seq="${total}"]`).waitFor({ timeout: 60_000 });
    await page
      .getByText(/File \d+ is fine\./)
      .last()
      .waitFor();
    const ms = Date.now() - t0;
    const rows = await timeline(page).locator('[data-index]').count();
    figures.push(`agent screen, ${total}-event log: first render ${ms} ms (${rows} rows in the DOM)`);
    check(rows < 200, `the timeline is not virtualised: ${rows} rows`);
  });

  let storyteller = '';
  await step(page, 'create an agent, watch it stream, interrupt it', async () => {
    storyteller = await createInDialog(page, { name: 'storyteller', task: 'tell me a long story' });
    const streaming = page.getByTestId('msg-streaming');
    await streaming.getByText(/word3\b/).waitFor({ timeout: 30_000 });
    const before = (await streaming.textContent()) ?? '';
    await streaming.getByText(/word6\b/).waitFor({ timeout: 30_000 });
    const after = (await streaming.textContent()) ?? '';
    check(after.length > before.length, 'the streamed text did not grow');
    await page.getByRole('button', { name: 'Interrupt' }).click();
    await page
      .getByTestId('status-line')
      .filter({ hasText: /interrupt/i })
      .waitFor();
    await waitFor(async () => (await page.getByTestId('status').first().textContent()) === 'idle', 'status idle after the interrupt');
  });

  let editor = '';
  await step(page, 'approve a risky call: card, diff, approvals screen, result', async () => {
    editor = await createInDialog(page, { name: 'editor', task: 'update the env file' });
    const card = page.getByTestId('approval-card');
    await card.waitFor({ timeout: 30_000 });
    // The new card takes the focus (its heading), and is pinned in view.
    await waitFor(
      () => page.evaluate(() => document.activeElement?.closest('[data-testid=approval-card]') !== null && document.activeElement?.tagName === 'H2'),
      'the approval card to take the focus',
    );
    check(await card.isVisible(), 'the approval card is not in view');
    check((await page.title()) === 'editor · Paddock', `the page title is ${JSON.stringify(await page.title())}`);
    const diff = card.getByTestId('diff');
    await diff.getByText('-COLOR=red').waitFor();
    await diff.getByText('+COLOR=blue').waitFor();
    await axe(page, 'agent screen with an approval card');
    await page.screenshot({ path: join(ART, 'approval-card-1440.png'), fullPage: true });
    // The same approval, across agents.
    await page.getByRole('link', { name: /Approvals/ }).click();
    await page.getByTestId('approval-card').getByText('editor: approve').waitFor();
    await screens(page, 'approvals', host.base + '/approvals', () => page.getByTestId('approval-card').first().waitFor());
    await page.goto(`${host.base}/agents/${editor}`);
    const cardDiff = await page.getByTestId('approval-card').getByTestId('diff').locator('pre').innerText();
    await page.getByTestId('approval-card').getByRole('button', { name: 'Approve' }).click();
    await page.getByTestId('msg-assistant').getByText('Done: .env now says COLOR=blue.').waitFor({ timeout: 30_000 });
    check((await page.getByTestId('approval-card').count()) === 0, 'the approval card is still shown');
    const env = readFileSync(join(WS, '.env'), 'utf8');
    check(env === 'COLOR=blue\n', `.env is ${JSON.stringify(env)}`);
    const calls = await page.getByTestId('tool-call').count();
    check(calls === 1, `one call shows as ${calls} timeline items`);
    const tool = page.getByTestId('tool-call').first();
    await tool.locator('summary').click();
    await tool.getByText(/Approved by/).waitFor();
    await tool.getByTestId('diff').getByText('+COLOR=blue').waitFor();
    // The timeline shows the very diff the approval card showed.
    check((await tool.getByTestId('diff').locator('pre').innerText()) === cardDiff, 'the timeline diff differs from the approval card diff');
    // Interrupt is for a busy agent only.
    check(await page.getByRole('button', { name: 'Interrupt' }).isDisabled(), 'Interrupt is enabled on an agent at rest');
  });

  await step(page, 'agent screen: side panel tabs by keyboard, drawer on a phone, usage detail, a missing agent', async () => {
    await page.goto(`${host.base}/agents/${editor}`);
    const panel = page.getByTestId('side-panel');
    const changes = panel.getByRole('tab', { name: 'Changes' });
    check((await changes.getAttribute('aria-selected')) === 'true', 'Changes is not the first tab shown');
    await changes.focus();
    await page.keyboard.press('ArrowRight');
    const terminal = panel.getByRole('tab', { name: /^Terminal/ });
    check((await terminal.getAttribute('aria-selected')) === 'true', 'ArrowRight did not select Terminal');
    check(await terminal.evaluate((t) => t === document.activeElement), 'the focus did not follow the selected tab');
    await panel
      .getByRole('tabpanel')
      .getByText(/No commands yet/)
      .waitFor();
    await page.keyboard.press('End');
    // The editor works in a plain directory (no managed workspace): the files its calls named.
    await panel.getByRole('tabpanel').getByTestId('call-files').getByText('.env', { exact: true }).waitFor();
    // Usage: one line that opens to the detail.
    check((await page.getByTestId('usage-output-tokens').count()) === 0, 'the usage detail is open at first');
    await page.getByTestId('usage-summary').click();
    await page.getByTestId('usage-output-tokens').waitFor();
    // A phone: the panel is a drawer.
    await page.setViewportSize({ width: 375, height: 900 });
    await page.getByTestId('side-panel').waitFor({ state: 'detached' }); // no column beside the chat at 375 px
    await page.getByRole('button', { name: 'Changes · Terminal · Files' }).click();
    const drawer = page.getByRole('dialog', { name: 'Changes, terminal and files' });
    await drawer.getByTestId('diff').getByText('+COLOR=blue').first().waitFor();
    await axe(page, 'agent screen with the side panel drawer at 375px');
    await page.screenshot({ path: join(ART, 'agent-drawer-375.png') });
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'hidden' });
    await page.setViewportSize({ width: 1440, height: 900 });
    // A missing agent: a small screen with a way back.
    await page.goto(`${host.base}/agents/00000000-0000-0000-0000-000000000000`);
    await page.getByRole('heading', { name: 'Agent not found' }).waitFor();
    await page.getByRole('link', { name: 'Back to the agents' }).waitFor();
    check((await page.getByTestId('status').count()) === 0, 'a missing agent shows a status');
  });

  await step(page, 'replay a finished agent step by step', async () => {
    await page.goto(`${host.base}/agents/${editor}`);
    await page.getByTestId('msg-assistant').getByText('Done: .env now says COLOR=blue.').waitFor();
    const total = await lastSeq(page);
    await page.getByRole('button', { name: 'Replay' }).click();
    await page.getByTestId('replay-step').getByText(`0 / ${total}`).waitFor();
    check((await page.getByTestId('msg-user').count()) === 0, 'step 0 shows messages');
    await page.getByRole('button', { name: 'Step forward' }).click();
    await page.getByRole('button', { name: 'Step forward' }).click();
    await page.getByTestId('replay-step').getByText(`2 / ${total}`).waitFor();
    await page.getByTestId('msg-user').getByText('update the env file').waitFor();
    check((await page.getByTestId('msg-assistant').count()) === 0, 'step 2 already shows the answer');
    await page.getByLabel('Event').fill(String(total));
    await page.getByTestId('msg-assistant').getByText('Done: .env now says COLOR=blue.').waitFor();
    await page.getByRole('button', { name: 'Back to live' }).click();
    await page.getByRole('button', { name: 'Replay' }).waitFor();
  });

  await step(page, 'restart the host mid-run: the view reconnects and the history continues', async () => {
    const agent = await host.api('POST', '/api/agents', { name: 'survivor', workspace: WS, task: 'survive a restart' });
    await page.goto(`${host.base}/agents/${agent.id}`);
    await page
      .getByTestId('msg-streaming')
      .getByText(/word4\b/)
      .waitFor({ timeout: 30_000 });
    const seqBefore = await lastSeq(page);
    await host.kill9();
    await page.getByText(/Connection to Paddock lost/).waitFor({ timeout: 15_000 });
    await host.start();
    await page.getByText(/Connection to Paddock lost/).waitFor({ state: 'detached', timeout: 30_000 });
    await page.getByTestId('error-line').filter({ hasText: 'host_restarted' }).waitFor({ timeout: 30_000 });
    await page.getByTestId('msg-assistant').filter({ hasText: 'Slowly answering' }).waitFor({ timeout: 60_000 });
    await page.getByLabel('Message').fill('and once more');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByTestId('msg-assistant').filter({ hasText: 'Second answer after the restart.' }).waitFor({ timeout: 30_000 });
    // Nothing lost, nothing twice: the page holds exactly the stored log.
    const stored = await host.api('GET', `/api/agents/${agent.id}/events?limit=5000`);
    await waitFor(async () => (await lastSeq(page)) === stored.last_seq, 'the page to reach the stored last seq');
    check((await lastSeq(page)) > seqBefore, 'no events after the restart');
    const users = await page.getByTestId('msg-user').allTextContents();
    check(users.length === 2, `user messages shown: ${JSON.stringify(users)}`);
    const answers = await page.getByTestId('msg-assistant').allTextContents();
    const storedAnswers = stored.events.filter((e) => e.type === 'message.assistant').length;
    check(answers.length === storedAnswers, `${answers.length} answers shown, ${storedAnswers} stored`);
  });

  await step(page, `a burst of ${BURST} live events`, async () => {
    const agent = await host.api('POST', '/api/agents', { name: 'burster', workspace: WS, approval_mode: 'auto' });
    await page.goto(`${host.base}/agents/${agent.id}`);
    await page.locator('[data-testid=timeline][data-last-seq="1"]').waitFor();
    await page.evaluate(() => {
      window.__paddockStats = { events: 0, batches: 0, applyMs: 0, maxBatchMs: 0 };
    });
    const t0 = Date.now();
    await page.getByLabel('Message').fill('make a burst');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByTestId('msg-assistant').filter({ hasText: 'Burst done.' }).waitFor({ timeout: 120_000 });
    const ms = Date.now() - t0;
    const stored = await host.api('GET', `/api/agents/${agent.id}`);
    await waitFor(async () => (await lastSeq(page)) === stored.last_seq, 'the page to hold every event');
    const stats = await page.evaluate(() => window.__paddockStats);
    figures.push(
      `burst of ${stats.events} live events (${BURST} tool results): ${ms} ms from send to rendered, host included; ` +
        `the page spent ${stats.applyMs.toFixed(1)} ms applying them in ${stats.batches} batches (largest ${stats.maxBatchMs.toFixed(1)} ms)`,
    );
    check(stats.events >= BURST, `only ${stats.events} events reached the page`);
  });

  await step(page, 'install a plugin and grant it a capability (admin)', async () => {
    await page.goto(host.base + '/plugins');
    await page.getByRole('button', { name: 'Sign in as admin' }).click();
    await tokenSignIn(page, ADMIN);
    await page.waitForURL(host.base + '/plugins');
    await page.getByRole('heading', { name: /fs-tools/ }).waitFor();
    await page.getByRole('button', { name: 'Install plugin' }).click();
    const dir = join(PLUGINS, 'probe');
    const wasm = readdirSync(dir).find((f) => f.endsWith('.wasm'));
    const dialog = page.getByRole('dialog', { name: 'Install a plugin' });
    await dialog.getByLabel('Manifest (paddock-plugin.toml)').setInputFiles(join(dir, 'paddock-plugin.toml'));
    await dialog.getByLabel('Component (.wasm)').setInputFiles(join(dir, wasm));
    await dialog.getByRole('button', { name: 'Install' }).click();
    const card = page.locator('section').filter({ has: page.getByRole('heading', { name: /^probe/ }) });
    await card.waitFor();
    const exec = card.getByRole('checkbox', { name: 'exec' });
    check(!(await exec.isChecked()), 'exec was granted at install');
    await card.getByText('can run commands in the agent sandbox').waitFor();
    await exec.click(); // the confirmation dialog is accepted
    await waitFor(async () => (await host.api('GET', '/api/plugins/probe')).granted.includes('exec'), 'exec to be granted');
    await waitFor(() => exec.isChecked(), 'the checkbox to show the grant');
    await exec.click();
    await waitFor(async () => !(await host.api('GET', '/api/plugins/probe')).granted.includes('exec'), 'exec to be revoked');
    await screens(page, 'plugins', host.base + '/plugins', () => page.getByRole('heading', { name: /^probe/ }).waitFor());
  });

  await step(page, 'add an MCP server and test it', async () => {
    await page.goto(host.base + '/mcp');
    await page.getByRole('button', { name: 'Add server' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add an MCP server' });
    await dialog.getByLabel('Name').fill('clock');
    await dialog.getByLabel(/Server entry/).fill(JSON.stringify({ command: MCP_TIME, args: [] }));
    await dialog.getByRole('button', { name: 'Add' }).click();
    const card = page.locator('section').filter({ has: page.getByRole('heading', { name: 'clock' }) });
    await card.waitFor();
    await card.getByRole('button', { name: 'Test clock' }).click();
    await card
      .getByTestId('mcp-test')
      .getByText(/^OK: connected/)
      .waitFor({ timeout: 60_000 });
    await screens(page, 'mcp', host.base + '/mcp', () => page.getByRole('heading', { name: 'clock' }).waitFor());
  });

  let wtAgent = '';
  await step(page, 'workspace: diff, commit, merge from the agent screen', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'paddock-e2e-repo-'));
    madeDirs.push(repo);
    const git = (...args) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8' }).trim();
    git('init', '-q', '-b', 'main');
    git('config', 'user.email', 'e2e@example.com');
    git('config', 'user.name', 'Paddock e2e');
    writeFileSync(join(repo, 'greeting.txt'), 'hello\n');
    git('add', 'greeting.txt');
    git('commit', '-q', '-m', 'First greeting');
    const start = git('rev-parse', 'main');
    // Two worktree agents from the same commit: one made through the API,
    // one through the new-agent dialog.
    const alpha = await host.api('POST', '/api/agents', { name: 'wt-alpha', worktree: { repo }, approval_mode: 'auto' });
    check(alpha.config.workspace_id, 'the worktree agent has no workspace_id');
    await page.goto(host.base + '/');
    await page.getByRole('button', { name: 'New agent' }).click();
    const dialog = page.getByRole('dialog', { name: 'New agent' });
    await dialog.getByLabel('Name').fill('wt-beta');
    await dialog.getByRole('radio', { name: 'A new git worktree' }).check();
    await dialog.getByLabel('Git repository').fill(repo);
    await dialog.getByLabel('Approval mode').selectOption('auto');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
    const beta = await host.api('GET', `/api/agents/${page.url().split('/').pop()}`);
    check(beta.config.workspace_id && beta.config.workspace !== alpha.config.workspace, `wt-beta's workspace: ${JSON.stringify(beta.config)}`);
    // The agents' edits: the same line, changed two ways.
    writeFileSync(join(alpha.config.workspace, 'greeting.txt'), 'hello from alpha\n');
    writeFileSync(join(beta.config.workspace, 'greeting.txt'), 'hello from beta\n');

    await page.goto(`${host.base}/agents/${alpha.id}`);
    const panel = page.getByTestId('workspace-panel');
    await panel.getByTestId('workspace-facts').getByText('paddock/wt-alpha → main').waitFor();
    await panel.getByTestId('diff-file').filter({ hasText: 'greeting.txt' }).getByText('modified').waitFor();
    await panel.getByTestId('diff').getByText('+hello from alpha', { exact: true }).waitFor();
    await panel.getByTestId('diff').getByText('-hello', { exact: true }).waitFor();
    await panel.getByLabel('Commit message').fill('Alpha greets');
    await panel.getByRole('button', { name: 'Commit', exact: true }).click();
    await panel.getByTestId('commit-result').waitFor();
    const committed = git('rev-parse', 'paddock/wt-alpha');
    await panel.getByTestId('commit-result').getByText(committed.slice(0, 7)).waitFor();
    await panel.getByRole('button', { name: 'Merge into main' }).click();
    await panel
      .getByTestId('merge-result')
      .getByText(/fast-forward/)
      .waitFor();
    const merged = git('rev-parse', 'main');
    check(merged !== start && merged === committed, `main is at ${merged}, the commit was ${committed}`);
    const subject = git('log', '-1', '--format=%s', 'main');
    check(subject === 'Alpha greets', `main's last commit is ${JSON.stringify(subject)}`);
    const content = readFileSync(join(repo, 'greeting.txt'), 'utf8');
    check(content === 'hello from alpha\n', `the repository's greeting.txt is ${JSON.stringify(content)}`);
    // The diff is read again: nothing is left between the branch and main.
    await panel
      .getByTestId('diff-summary')
      .getByText(/^No changes/)
      .waitFor();

    await page.goto(`${host.base}/agents/${beta.id}`);
    const panelB = page.getByTestId('workspace-panel');
    await panelB.getByTestId('diff').getByText('+hello from beta', { exact: true }).waitFor();
    await panelB.getByLabel('Commit message').fill('Beta greets');
    await panelB.getByRole('button', { name: 'Commit', exact: true }).click();
    await panelB.getByTestId('commit-result').waitFor();
    await panelB.getByRole('button', { name: 'Merge into main' }).click();
    const conflicts = panelB.getByTestId('merge-conflicts');
    await conflicts.getByText(/Nothing was changed/).waitFor();
    await conflicts.locator('li').filter({ hasText: 'greeting.txt' }).waitFor();
    check(git('rev-parse', 'main') === merged, 'main moved although the merge conflicted');
    check(readFileSync(join(repo, 'greeting.txt'), 'utf8') === 'hello from alpha\n', 'the conflicting merge changed the repository');
    wtAgent = beta.id;
    await axe(page, 'agent screen with a merge conflict');
    await page.screenshot({ path: join(ART, 'merge-conflict-1440.png'), fullPage: true });
  });

  await step(page, 'workspaces screen: files, backup and restore, delete, create', async () => {
    await page.goto(host.base + '/workspaces');
    await page.getByTestId('workspace-row').filter({ hasText: 'wt-beta' }).waitFor();
    await page
      .locator('a[href^="/workspaces/"]')
      .filter({ hasText: /^wt-alpha$/ })
      .click();
    const detail = page.getByRole('region', { name: 'wt-alpha' });
    const files = detail.getByTestId('file-browser');
    await files.getByRole('button', { name: 'greeting.txt' }).click();
    await files.getByTestId('file-content').getByText('hello from alpha').waitFor();
    await files.getByRole('button', { name: '(root)' }).click();
    await files.getByRole('button', { name: 'greeting.txt' }).waitFor();
    // In use by wt-alpha: refused, with the host's reason.
    await detail.getByRole('button', { name: 'Delete workspace' }).click();
    await detail.getByRole('alert').filter({ hasText: 'in_use' }).waitFor();
    // Back up, restore as a new workspace, delete that one with its files.
    await detail.getByRole('button', { name: 'Back up' }).click();
    await detail.getByTestId('backup-result').waitFor();
    await detail
      .getByTestId('backup-row')
      .first()
      .getByRole('button', { name: /^Restore/ })
      .click();
    const restore = page.getByRole('dialog', { name: 'Restore a backup' });
    await restore.getByLabel('New name').fill('alpha-copy');
    await restore.getByRole('button', { name: 'Restore' }).click();
    const copy = page.getByRole('region', { name: 'alpha-copy' });
    await copy.getByTestId('workspace-facts').getByText('restored').waitFor();
    await copy.getByTestId('file-browser').getByRole('button', { name: 'greeting.txt' }).click();
    await copy.getByTestId('file-content').getByText('hello from alpha').waitFor();
    const restored = await host.api('GET', '/api/workspaces/alpha-copy');
    await copy.getByLabel('Remove its files too').check();
    await copy.getByRole('button', { name: 'Delete workspace' }).click();
    await page.waitForURL(/\/workspaces$/);
    await page.getByTestId('workspace-row').filter({ hasText: 'wt-beta' }).waitFor();
    await page.getByTestId('workspace-row').filter({ hasText: 'alpha-copy' }).waitFor({ state: 'detached', timeout: 10_000 });
    check(!(await host.api('GET', '/api/workspaces')).some((w) => w.id === restored.id), 'alpha-copy still exists');
    // A new empty one, and an agent put in it from the new-agent dialog.
    await page.getByRole('button', { name: 'New workspace' }).click();
    const create = page.getByRole('dialog', { name: 'New workspace' });
    await create.getByLabel('Name').fill('scratch');
    await create.getByRole('radio', { name: 'An empty directory' }).check();
    await create.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('region', { name: 'scratch' }).getByText('Empty folder.').waitFor();
    const scratch = await host.api('GET', '/api/workspaces/scratch');
    await page.goto(host.base + '/');
    await page.getByRole('button', { name: 'New agent' }).click();
    const dialog = page.getByRole('dialog', { name: 'New agent' });
    await dialog.getByLabel('Name').fill('in-scratch');
    await dialog.getByRole('radio', { name: 'An existing one' }).check();
    await dialog.getByRole('combobox', { name: /^Existing one/ }).selectOption({ label: 'scratch (empty)' });
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
    const agent = await host.api('GET', `/api/agents/${page.url().split('/').pop()}`);
    check(agent.config.workspace_id === scratch.id, `in-scratch works in ${JSON.stringify(agent.config)}`);
    await page
      .getByTestId('workspace-panel')
      .getByText(/^No changes/)
      .waitFor();
  });

  await step(page, 'Responses API: the provider in Settings, reasoning summaries, reasoning tokens, failover', async () => {
    // Settings: each provider's wire API, the reasoning model and its failover chain.
    await page.goto(host.base + '/settings');
    const openai = page.getByRole('region', { name: 'Provider openai' });
    await openai.getByTestId('provider-api').getByText('Responses API', { exact: true }).waitFor();
    await page.getByRole('region', { name: 'Provider scripted' }).getByTestId('provider-api').getByText('Chat Completions', { exact: true }).waitFor();
    const gpt5 = openai.getByRole('row', { name: /gpt-5/ });
    await gpt5.getByTestId('model-reasoning').waitFor();
    await gpt5.getByTestId('model-failover').getByText('→ scripted/scripted', { exact: true }).waitFor();
    check((await openai.getByTestId('circuit-open').count()) === 0, 'the circuit is shown open before any call');

    // A stored run: the answer's thinking is collapsed, and opens.
    await page.goto(`${host.base}/agents/${THINKER}`);
    const first = page.getByTestId('msg-assistant').filter({ hasText: 'The build is red because the colour test expects blue.' });
    const thinking = first.getByTestId('thinking');
    await thinking.waitFor();
    check(!(await thinking.evaluate((d) => d.open)), 'the thinking is open before it is asked for');
    check(!(await thinking.getByText('Reading the CI log').isVisible()), 'the collapsed thinking shows its text');
    await thinking.locator('summary').click();
    await thinking.getByText('Reading the CI log: the failing step is the colour test.').waitFor();
    await thinking.getByText('It asserts COLOR=blue, while .env still says red.').waitFor();
    check(await thinking.evaluate((d) => d.open), 'the thinking did not open');
    // Usage lines: reasoning tokens, and how failover served each call.
    const usage = page.getByTestId('usage-line');
    await usage.first().getByText('scripted: 1000 in (400 cached) / 200 out (150 reasoning)', { exact: false }).waitFor();
    await usage.nth(1).getByText('/ 200 out (40 reasoning)', { exact: false }).waitFor();
    const failovers = await page.getByTestId('usage-failover').allTextContents();
    check(
      failovers.length === 2 &&
        failovers[0].includes('served by scripted/scripted after openai/gpt-5 failed: connection refused') &&
        failovers[1].includes('served by scripted/scripted after openai/gpt-5 was passed over: circuit open'),
      `the failover lines: ${JSON.stringify(failovers)}`,
    );
    await page.getByTestId('error-line').filter({ hasText: 'model_failover' }).getByText('Warning').waitFor();
    await page.getByTestId('usage-summary').click();
    const output = page.getByTestId('usage-output-tokens');
    await output.getByText('190 of them reasoning').waitFor();
    const lines = (await output.innerText()).split('\n');
    check(lines[0] === '400', `the output tokens say ${JSON.stringify(lines)}`);
    await page.getByText('reasoning effort: high').waitFor();
    await screens(page, 'agent-reasoning', `${host.base}/agents/${THINKER}`, () => page.getByTestId('thinking').first().waitFor());
    // The same, with both answers' thinking open.
    for (const w of [1440, 375]) {
      await page.setViewportSize({ width: w, height: 900 });
      await page.goto(`${host.base}/agents/${THINKER}`);
      await page.getByTestId('thinking').nth(1).waitFor();
      for (const t of await page.getByTestId('thinking').all()) await t.locator('summary').click();
      await page.getByText('One line in .env is enough.').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      check(overflow <= 1, `the open thinking at ${w}px scrolls sideways by ${overflow}px`);
      await axe(page, `agent screen with open thinking at ${w}px`);
      await page.screenshot({ path: join(ART, `agent-reasoning-open-${w}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1440, height: 900 });

    // Live: an agent on openai/gpt-5 made in the dialog, with a reasoning effort.
    for (const w of [375, 1440]) {
      await page.setViewportSize({ width: w, height: 900 });
      await page.goto(host.base + '/');
      await page.getByRole('button', { name: 'New agent' }).click();
      const dialog = page.getByRole('dialog', { name: 'New agent' });
      await dialog.getByLabel('Name').fill('failing-over');
      await dialog.getByLabel('Workspace').fill(WS);
      await dialog.getByLabel('Task').fill('say hello');
      await dialog.getByRole('combobox', { name: /^Model/ }).selectOption({ label: 'openai/gpt-5 (reasoning)' });
      // The reasoning effort is among the dialog's "More options".
      await dialog.getByText(/^More options/).click();
      const effort = dialog.getByRole('combobox', { name: /^Reasoning effort/ });
      check((await effort.inputValue()) === '', 'the reasoning effort is not the model default at first');
      await effort.selectOption('high');
      await effort.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(ART, `new-agent-reasoning-${w}.png`) });
      if (w === 375) await dialog.getByRole('button', { name: 'Cancel' }).click();
    }
    await axe(page, 'new-agent dialog with a reasoning effort');
    await page.getByRole('dialog', { name: 'New agent' }).getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
    const agent = await host.api('GET', `/api/agents/${page.url().split('/').pop()}`);
    check(agent.config.reasoning_effort === 'high', `the agent's configuration: ${JSON.stringify(agent.config)}`);
    check(agent.config.model.provider === 'openai' && agent.config.model.model === 'gpt-5', `the agent's model: ${JSON.stringify(agent.config.model)}`);
    // Its call to openai/gpt-5 fails (nothing listens) and fails over to the scripted model.
    await page.getByTestId('msg-assistant').getByText('Hello from the scripted model.').waitFor({ timeout: 30_000 });
    await page.getByTestId('error-line').filter({ hasText: 'model_failover' }).waitFor();
    await page
      .getByTestId('usage-failover')
      .getByText(/served by scripted\/scripted after openai\/gpt-5 failed: /)
      .waitFor();
    // Its circuit is open now: Settings says so.
    await page.goto(host.base + '/settings');
    await openai
      .getByTestId('circuit-open')
      .getByText(/^circuit open: passed over for \d+ s$/)
      .waitFor();
    await page.screenshot({ path: join(ART, 'settings-circuit-open-1440.png'), fullPage: true });
  });

  await step(page, 'environments: add one in Settings, choose it for a new agent, watch its setup, remove it', async () => {
    await page.goto(host.base + '/settings');
    const card = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Environments' }) });
    await card.getByLabel('New environment name').fill('greeter');
    const definition = {
      env: { GREETING: 'hi' },
      setup: "echo setting up the greeter; printf '#!/bin/sh\\necho $GREETING\\n' > $PADDOCK_ENV/bin/greet; chmod +x $PADDOCK_ENV/bin/greet",
    };
    await card.getByLabel(/^Definition/).fill(JSON.stringify(definition, null, 2));
    await card.getByRole('button', { name: 'Add environment' }).click();
    await card.getByTestId('environment').filter({ hasText: 'greeter — added here' }).waitFor();
    await page.screenshot({ path: join(ART, 'settings-environments-1440.png'), fullPage: true });
    // The new-agent dialog offers it.
    await page.goto(host.base + '/');
    await page.getByRole('button', { name: 'New agent' }).click();
    const dialog = page.getByRole('dialog', { name: 'New agent' });
    await dialog.getByLabel('Name').fill('greeter-agent');
    await dialog.getByLabel('Workspace').fill(WS);
    await dialog.getByLabel('Task').fill('prepare the environment');
    await dialog.getByText(/^More options/).click();
    await dialog.getByRole('combobox', { name: /^Environment/ }).selectOption('greeter');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
    const setup = page.getByTestId('environment-setup');
    await page.locator('[data-testid="environment-setup"][data-state="ready"]').waitFor({ timeout: 60_000 });
    const summary = (await setup.locator('summary').textContent()) ?? '';
    check(/Environment greeter ready/.test(summary), `the setup line says ${summary}`);
    check(!(await setup.evaluate((d) => d.open)), 'a finished setup is collapsed');
    await setup.locator('summary').click();
    await setup.locator('pre').getByText('setting up the greeter').waitFor();
    for (const w of [375, 1440]) {
      await page.setViewportSize({ width: w, height: 900 });
      await axe(page, `agent environment setup at ${w}px`);
      await page.screenshot({ path: join(ART, `agent-environment-${w}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1440, height: 900 });
    // Removed from Settings.
    await page.goto(host.base + '/settings');
    await card.getByRole('button', { name: 'Delete environment greeter' }).click();
    await card.getByTestId('environment').filter({ hasText: 'greeter' }).waitFor({ state: 'detached' });
  });

  await step(page, 'new-agent dialog: network only for these hosts, a bad entry named by the API', async () => {
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(host.base + '/');
    await page.getByRole('button', { name: 'New agent' }).click();
    const dialog = page.getByRole('dialog', { name: 'New agent' });
    await dialog.getByLabel('Name').fill('allow-listed');
    await dialog.getByLabel('Workspace').fill(WS);
    await dialog.getByText(/^More options/).click();
    await dialog.getByRole('radio', { name: 'Only these hosts' }).check();
    const hosts = dialog.getByRole('textbox', { name: 'Allowed hosts' });
    await hosts.fill('https://pypi.org/\n*.github.com');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByText(/https:\/\/pypi\.org\/.*not a URL/).waitFor();
    await hosts.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ART, 'new-agent-hosts-error-1440.png') });
    await page.setViewportSize({ width: 375, height: 900 });
    await hosts.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ART, 'new-agent-hosts-error-375.png') });
    await page.setViewportSize({ width: 1440, height: 900 });
    await axe(page, 'new-agent dialog with an allow-list');
    await hosts.fill('pypi.org\n*.github.com:443');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
    const agent = await host.api('GET', `/api/agents/${page.url().split('/').pop()}`);
    check(
      JSON.stringify(agent.config.network) === JSON.stringify(['pypi.org', '*.github.com:443']),
      `the agent's network: ${JSON.stringify(agent.config.network)}`,
    );
  });

  await step(page, 'keyboard: open and close the new-agent dialog without a mouse', async () => {
    await page.goto(host.base + '/');
    await page.getByText(/of \d+ agents/).waitFor();
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'New agent'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    }
    check(focused === 'New agent', 'Tab never reached the New agent button');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'New agent' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog', { name: 'New agent' }).waitFor({ state: 'hidden' });
  });

  await step(page, 'every screen at 375, 768 and 1440 px: screenshots and axe-core', async () => {
    await screens(page, 'agents', host.base + '/', () => page.getByTestId('agent-row').first().waitFor());
    await screens(page, 'agent', `${host.base}/agents/${editor}`, () => page.getByTestId('msg-assistant').first().waitFor());
    await screens(page, 'agent-big-log', `${host.base}/agents/${BIG}`, () =>
      page
        .getByText(/File \d+ is fine\./)
        .last()
        .waitFor(),
    );
    await screens(page, 'usage', host.base + '/usage', () => page.getByRole('heading', { name: 'Per agent', exact: true }).waitFor());
    await screens(page, 'settings', host.base + '/settings', () => page.getByRole('heading', { name: /^scripted/ }).waitFor());
    await screens(page, 'workspaces', host.base + '/workspaces/wt-alpha', () =>
      page.getByTestId('file-browser').getByRole('button', { name: 'greeting.txt' }).waitFor(),
    );
    await screens(page, 'agent-workspace', `${host.base}/agents/${wtAgent}`, async () => {
      // Below 1024 px the changes are in the drawer.
      await page.getByTestId('timeline').waitFor();
      const drawer = page.getByRole('button', { name: 'Changes · Terminal · Files' });
      if (await drawer.count()) await drawer.click();
      await page.getByTestId('diff-summary').waitFor();
    });
    void storyteller;
  });
} finally {
  await browser.close();
  await host.kill9();
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
}

console.log('\nfigures (printed, not asserted):');
for (const f of figures) console.log(`  ${f}`);
console.log(`screenshots: ${ART}`);
writeFileSync(join(ART, 'figures.txt'), figures.join('\n') + '\n');
if (steps.failures > 0) {
  console.log(`\n${steps.failures} step(s) failed`);
  process.exit(1);
}
console.log('\nall dashboard steps passed');
