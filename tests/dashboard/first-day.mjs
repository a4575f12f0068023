// The first day, in Chromium: `paddock serve` on an EMPTY data dir, opened
// through the sign-in link it prints, reaches a finished agent through the
// dashboard alone — setup screen → a provider pointing at the scripted model
// → Test → the first agent (on a plain directory) → approval from its diff →
// the command's approval → reload mid-answer shows the whole partial answer
// → Changes shows the directory's diff → Terminal shows the command → the
// offline demo. Started by tests/dashboard.rs (`first_day_in_chromium`),
// which makes the scripted model, the directory and the data dir and, after
// this script, greps the data dir for the key typed here.
//
// Printed, not asserted: the time from opening the page to the first
// streamed token of the first agent, and the clicks it took. The agent
// screen's and the setup's screenshots at 1440 and 375 px are also written
// to E2E_README_SHOTS (docs/screenshots: the README's picture).

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Host, Steps, axe, check, env, freePort, launch, shoot, waitFor } from './lib.mjs';

const BIN = env('PADDOCK_BIN');
const DATA = env('E2E_DATA_DIR');
const DIR = env('E2E_DIRECTORY');
const ROOT = env('E2E_WORKSPACE_ROOT');
const MODEL_URL = env('E2E_MODEL_URL');
const KEY = env('E2E_PROVIDER_KEY');
const ART = env('E2E_ARTIFACTS');
const SHOTS = process.env.E2E_README_SHOTS;
const TASK = 'first-day: fix add() in calc.py';

const host = new Host({
  bin: BIN,
  dataDir: DATA,
  args: ['--workspace-root', ROOT],
  port: await freePort(),
});
await host.start();
const { browser, page } = await launch();
const steps = new Steps(ART);
/** The steps are one story: after a failure the rest are skipped (reported, not run). */
const step = async (name, fn) => {
  if (steps.failures > 0) {
    console.log(`skip ${name}`);
    return;
  }
  await steps.run(page, name, fn);
};
const figures = [];
let clicks = 0;
/** A click a person makes (counted for the figure). */
const click = async (locator) => {
  clicks++;
  await locator.click();
};
let opened = 0;
let agentId = '';

try {
  await step('first run: the sign-in link opens the setup', async () => {
    opened = Date.now();
    await page.goto(host.loginUrl);
    await page.getByRole('heading', { name: 'Welcome to Paddock' }).waitFor();
    check(/\/setup$/.test(page.url()), `the first run lands on ${page.url()}, not /setup`);
    check((await page.title()) === 'Set up · Paddock', `title: ${await page.title()}`);
    await shoot(page, ART, 'setup', 375);
    await shoot(page, ART, 'setup', 1440);
  });

  await step('setup: a provider pointing at the scripted model, tested for real, saved', async () => {
    await click(page.getByRole('radio', { name: /^OpenAI-compatible/ }));
    await page.getByLabel('Name', { exact: true }).fill('scripted');
    await page.getByLabel('Base URL').fill(MODEL_URL);
    await page.getByLabel('API key').fill(KEY);
    // A wrong address first: the server's error is shown plainly.
    await page.getByLabel('Base URL').fill('http://127.0.0.1:9/v1');
    await click(page.getByRole('button', { name: 'Test' }));
    const result = page.getByTestId('provider-test');
    await result.filter({ hasText: 'Failed' }).waitFor();
    await page.getByLabel('Base URL').fill(MODEL_URL);
    await click(page.getByRole('button', { name: 'Test' }));
    await result.filter({ hasText: 'Connected' }).waitFor();
    check((await page.getByLabel('Default model').inputValue()) === 'scripted', 'the tested server’s model is offered as the default');
    await click(page.getByRole('button', { name: 'Save and continue' }));
    await page.getByRole('dialog', { name: 'New agent' }).waitFor();
  });

  await step('first agent: a plain directory, every call asks', async () => {
    const dialog = page.getByRole('dialog', { name: 'New agent' });
    // Focus is on the dialog's first field, the task.
    check(await dialog.getByLabel('Task').evaluate((el) => el === document.activeElement), 'focus is not on the first field');
    await dialog.getByLabel('Task').fill(TASK);
    await dialog.getByLabel('Workspace').fill(DIR);
    await dialog.getByLabel('Approval mode').selectOption('ask-all');
    clicks++;
    await click(dialog.getByRole('button', { name: 'Create' }));
    await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
    agentId = page.url().split('/').pop();
    // The first streamed token.
    await waitFor(
      async () => (await page.getByTestId('msg-streaming').count()) > 0 || (await page.getByTestId('msg-assistant').count()) > 0,
      'the first token',
    );
    figures.push(`first day: ${Date.now() - opened} ms from opening the sign-in link on an empty data dir to the first streamed token, ${clicks} clicks`);
  });

  await step('the edit asks: the approval card, focused, with its diff', async () => {
    const card = page.getByTestId('approval-card');
    await card.waitFor();
    await card.getByTestId('diff').waitFor();
    check((await card.getByTestId('diff').innerText()).includes('return a + b'), 'the diff shows the fix');
    await waitFor(() => card.evaluate((el) => el.contains(document.activeElement)), 'focus on the new approval card', 5000);
    await shoot(page, ART, 'first-approval', 1440, { fullPage: false });
    await click(card.getByRole('button', { name: 'Approve' }));
  });

  await step('the command asks too; approved, it runs', async () => {
    const card = page.getByTestId('approval-card');
    await card.filter({ hasText: 'grep' }).waitFor();
    await click(card.getByRole('button', { name: 'Approve' }));
  });

  await step('reload mid-answer shows the whole partial answer', async () => {
    // The last answer streams slowly; once a few words are in, reload.
    const streaming = page.getByTestId('msg-streaming');
    await waitFor(async () => (await streaming.count()) > 0 && (await streaming.innerText()).split(/\s+/).length >= 4, 'the answer to stream');
    await page.reload();
    // The answer's first words come only with the partial answer the host
    // keeps: a view that joined late and saw only what streamed after the
    // reload could not show them until the answer is complete.
    await waitFor(
      async () => (await streaming.count()) > 0 && (await streaming.innerText()).includes('All done.'),
      'the partial answer from its start, while it still streams',
      5000,
    );
    await page.getByTestId('msg-assistant').filter({ hasText: 'All done.' }).waitFor();
  });

  await step('Changes shows the directory workspace’s diff', async () => {
    await click(page.getByRole('tab', { name: 'Changes' }));
    const diff = page.getByRole('tabpanel').getByTestId('workspace-diff');
    await diff.filter({ hasText: 'calc.py' }).waitFor();
    await diff.getByText('return a + b').first().waitFor();
  });

  await step('Terminal shows the command and its output', async () => {
    await click(page.getByRole('tab', { name: 'Terminal' }));
    const term = page.getByRole('tabpanel');
    await term.getByText('grep -n', { exact: false }).first().waitFor();
    await term.getByText('return a + b').first().waitFor();
  });

  await step('the agent screen at 1440 and 375 px (the README’s picture)', async () => {
    await page.getByTestId('status').filter({ hasText: /idle/ }).first().waitFor();
    check((await page.title()).includes('· Paddock'), `title: ${await page.title()}`);
    await click(page.getByRole('tab', { name: 'Changes' }));
    await shoot(page, ART, 'agent', 1440, { fullPage: false });
    await axe(page, 'agent at 1440px, Changes');
    await shoot(page, ART, 'agent', 375, { fullPage: false });
    if (SHOTS) {
      mkdirSync(SHOTS, { recursive: true });
      for (const w of [1440, 375]) copyFileSync(join(ART, `agent-${w}.png`), join(SHOTS, `agent-${w}.png`));
      copyFileSync(join(ART, 'setup-1440.png'), join(SHOTS, 'setup-1440.png'));
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('the stored key is never shown: Settings, the API, the log', async () => {
    await page.goto(host.base + '/settings');
    const provider = page.getByRole('region', { name: 'Provider scripted' });
    await provider
      .getByTestId('key-state')
      .filter({ hasText: `ends in …${KEY.slice(-4)}` })
      .waitFor();
    check(!(await page.content()).includes(KEY), 'the key is in the Settings page');
    const cookies = await page.context().cookies();
    const resp = await page.evaluate(async () => (await fetch('/api/config/providers')).text());
    check(!resp.includes(KEY), 'the key is in GET /api/config/providers');
    check(cookies.length > 0, 'signed in by cookie');
    check(!host.stdout.includes(KEY), 'the key is in the server’s output');
  });

  await step('Try it offline: the built-in demo', async () => {
    await page.goto(host.base + '/setup');
    await click(page.getByRole('button', { name: 'Start the demo' }));
    await page.waitForURL(/\/agents\/[0-9a-f-]+$/);
    const card = page.getByTestId('approval-card');
    await card.waitFor({ timeout: 60_000 });
    await click(card.getByRole('button', { name: 'Approve' }));
    await page.getByTestId('status').filter({ hasText: /idle/ }).first().waitFor({ timeout: 60_000 });
    await click(page.getByRole('tab', { name: 'Changes' }));
    await page.getByRole('tabpanel').getByTestId('workspace-diff').getByTestId('diff-file').first().waitFor();
    await shoot(page, ART, 'demo', 1440, { fullPage: false });
  });
} finally {
  await browser.close();
  await host.kill9();
}

console.log('\nfigures (printed, not asserted):');
for (const f of figures) console.log(`  ${f}`);
writeFileSync(join(ART, 'first-day-figures.txt'), figures.join('\n') + '\n');
writeFileSync(join(ART, 'first-day-agent.txt'), agentId + '\n');
if (steps.failures > 0) {
  console.log(`\n${steps.failures} first-day step(s) failed`);
  process.exit(1);
}
console.log('\nall first-day steps passed');
