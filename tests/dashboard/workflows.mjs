// Workflows in Chromium: `paddock serve` with the scripted model and a git
// repository, an agent template made through the API, then the dashboard
// alone — the Workflows screen with no runs (its empty state), the YAML
// editor refusing a definition with the field named at its line, the fixed
// definition saved, a run started from its Run form, the run view going
// live through the step (its agent writes a file, the verify command
// passes) to the human gate, the gate's diff shown and approved in place,
// the merge landing in the repository, the run listed as succeeded, a
// step's agent opened from the run view; then an agent that delegates (made
// through the API) listing its sub-agent, which names its parent; then the
// built-in best-of-3 run from its form — its three attempts side by side
// (columns at 1440 px, stacked at 375 px), only attempt 2's verify passing,
// kept and highlighted, its diff shown and merged into the run's branch
// with its Merge button. Started by
// tests/dashboard_workflows.rs (`workflows_in_chromium`), which makes the
// scripted model, the repository and the data dir; screenshots at 1440 and
// 375 px (axe-checked, no sideways scrolling) in E2E_ARTIFACTS.

import { execFileSync } from 'node:child_process';
import { Host, Steps, check, env, freePort, launch, shoot, waitFor } from './lib.mjs';

const BIN = env('PADDOCK_BIN');
const DATA = env('E2E_DATA_DIR');
const CONFIG = env('E2E_CONFIG');
const ROOT = env('E2E_WORKSPACE_ROOT');
const REPO = env('E2E_REPO');
const ART = env('E2E_ARTIFACTS');
const ADMIN = env('PADDOCK_ADMIN_TOKEN');

const NAME = 'greet-and-merge';
/** The definition as first typed: step `write` names a template that does not exist. */
const BAD = `name: ${NAME}
description: "Write a greeting, check it, ask a person, merge it"
inputs:
  - name: who
    description: "whom to greet"
workspace:
  repo: "${REPO}"
steps:
  - id: write
    template: no-such-template
    prompt: "write-greeting for {{inputs.who}}"
    verify:
      command: "test -f greeting.txt"
  - id: approve
    gate:
      message: "Merge the greeting for {{inputs.who}}?"
  - id: merge
    merge: true
`;
const GOOD = BAD.replace('no-such-template', 'greeter');
/** best-of-3's test command: it passes only in attempt 2's worktree (its branch ends in `-a2`). */
const ONLY_A2 = "test -f best.txt && git branch --show-current | grep -q -- '-a2$' && echo 'attempt 2 passes' || { echo \"FAIL: not attempt 2 ($(git branch --show-current))\"; exit 1; }";

const host = new Host({ bin: BIN, dataDir: DATA, args: ['--config', CONFIG, '--workspace-root', ROOT], port: await freePort() });
await host.start();
const { browser, page } = await launch();
const steps = new Steps(ART);
/** One story: after a failure the rest are skipped (reported, not run). */
const step = async (name, fn) => {
  if (steps.failures > 0) {
    console.log(`skip ${name}`);
    return;
  }
  await steps.run(page, name, fn);
};
let runUrl = '';

try {
  await step('an agent template for the steps, made through the API', async () => {
    await host.api(ADMIN, 'POST', '/api/config/agent-templates', {
      name: 'greeter',
      description: 'writes greetings (scripted)',
      model: { provider: 'scripted', model: 'scripted' },
      approval_mode: 'auto',
    });
  });

  await step('the Workflows screen: the built-in example, no runs yet and what to do', async () => {
    await page.goto(host.loginUrl);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Workflows' }).click();
    await page.getByRole('heading', { name: 'Workflows', level: 1 }).waitFor();
    const empty = page.getByTestId('empty-state');
    await empty.waitFor();
    check((await empty.textContent()).includes('No runs yet'), `the empty state says: ${await empty.textContent()}`);
    const builtin = page.locator('[data-testid=workflow][data-name=plan-implement-test]');
    await builtin.waitFor();
    check((await builtin.getByTestId('workflow-source').textContent()) === 'built-in', 'the example is marked built-in');
    check((await builtin.getByTestId('workflow-chain').locator('li').count()) >= 5, 'the example shows its steps as a chain');
    check((await page.title()) === 'Workflows · Paddock', `title: ${await page.title()}`);
    await shoot(page, ART, 'workflows-empty', 1440);
    await shoot(page, ART, 'workflows-empty', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('the editor: a definition naming a missing template is refused at its line', async () => {
    await page.getByRole('button', { name: 'New workflow' }).click();
    const dialog = page.getByRole('dialog', { name: 'New workflow' });
    await dialog.getByLabel('Definition (YAML)').fill(BAD);
    await dialog.getByRole('button', { name: 'Check' }).click();
    const error = dialog.getByTestId('workflow-error');
    await error.waitFor();
    const text = await error.textContent();
    check(text.includes('steps[0].template'), `the error names the field: ${text}`);
    check(text.includes('no-such-template'), `the error names the template: ${text}`);
    // Line 10 of BAD is `    template: no-such-template`.
    check((await dialog.getByTestId('workflow-error-line').textContent()).includes('Line 10'), `the error points at line 10: ${text}`);
    await dialog.getByRole('button', { name: 'Show in the editor' }).click();
    const selected = await dialog.getByLabel('Definition (YAML)').evaluate((a) => a.value.slice(a.selectionStart, a.selectionEnd));
    check(selected.trim() === 'template: no-such-template', `the editor selects the line: ${JSON.stringify(selected)}`);
    await shoot(page, ART, 'workflow-editor-error', 1440, { fullPage: false });
    await shoot(page, ART, 'workflow-editor-error', 375, { fullPage: false });
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('the editor: the fixed definition is checked and saved, listed as the API’s', async () => {
    const dialog = page.getByRole('dialog', { name: 'New workflow' });
    await dialog.getByLabel('Definition (YAML)').fill(GOOD);
    await dialog.getByRole('button', { name: 'Check' }).click();
    await dialog.getByText('The definition is valid.').waitFor();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const card = page.locator(`[data-testid=workflow][data-name=${NAME}]`);
    await card.waitFor();
    check((await card.getByTestId('workflow-source').textContent()) === 'API', 'saved through the dashboard: source API');
    const chain = (await card.getByTestId('workflow-chain').textContent()).replace(/\s+/g, ' ');
    check(/write · greeter, verify.*approve · human gate.*merge/.test(chain), `the chain: ${chain}`);
  });

  await step('Run: the form asks for the required input, then the run view opens', async () => {
    await page.getByRole('button', { name: `Run ${NAME}` }).click();
    const dialog = page.getByRole('dialog', { name: `Run ${NAME}` });
    await dialog.getByRole('button', { name: 'Start the run' }).click();
    await dialog.getByText('who: required').waitFor();
    await dialog.getByLabel('who (required)').fill('the team');
    await dialog.getByRole('button', { name: 'Start the run' }).click();
    await page.waitForURL(/\/workflows\/runs\/[^/]+$/);
    runUrl = page.url();
    await page.getByTestId('pipeline').waitFor();
    const ids = await page.getByTestId('step').evaluateAll((els) => els.map((e) => e.getAttribute('data-step')));
    check(JSON.stringify(ids) === JSON.stringify(['write', 'approve', 'merge']), `the steps in order: ${ids}`);
  });

  await step('live: the step’s agent writes the file, the verify passes, the gate asks with the diff', async () => {
    const write = page.locator('[data-testid=step][data-step=write]');
    await waitFor(async () => (await write.getAttribute('data-status')) === 'succeeded', 'step write to succeed');
    const gate = page.getByTestId('gate');
    await gate.waitFor({ timeout: 60_000 });
    check((await gate.textContent()).includes('Merge the greeting for the team?'), 'the gate shows its rendered message');
    const diff = gate.getByTestId('diff');
    await diff.first().waitFor();
    check((await diff.first().textContent()).includes('greeting.txt'), 'the diff shows greeting.txt');
    check((await gate.textContent()).includes('+Hello, the team!'), 'the diff shows the added line');
    check((await page.getByTestId('run-status').textContent()).includes('waiting for approval'), 'the run waits for approval, in words');
    const verify = write.getByTestId('step-verify');
    check((await verify.textContent()).includes('exit 0'), `the verify's exit code: ${await verify.textContent()}`);
    await shoot(page, ART, 'workflow-run-gate', 1440);
    await shoot(page, ART, 'workflow-run-gate', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('the gate approved in place: the merge lands and the run succeeds', async () => {
    const gate = page.getByTestId('gate');
    await gate.getByLabel('Reason (optional)').fill('looks right');
    await gate.getByRole('button', { name: 'Approve' }).click();
    await waitFor(async () => ((await page.getByTestId('run-status').textContent()) ?? '').includes('succeeded'), 'the run to succeed', 90_000);
    const decision = page.locator('[data-testid=step][data-step=approve]').getByTestId('gate-decision');
    check((await decision.textContent()).includes('approved'), `the gate's decision: ${await decision.textContent()}`);
    check((await decision.textContent()).includes('looks right'), 'the decision keeps its reason');
    const merged = execFileSync('git', ['-C', REPO, 'show', 'HEAD:greeting.txt'], { encoding: 'utf8' });
    check(merged.includes('Hello, the team!'), `the merge landed in the repository: ${merged}`);
    await shoot(page, ART, 'workflow-run-done', 1440);
    await shoot(page, ART, 'workflow-run-done', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('the run listed on the Workflows screen as succeeded, newest first', async () => {
    await page.getByRole('link', { name: '← Workflows' }).click();
    const row = page.getByTestId('run-row').first();
    await row.waitFor();
    check((await row.textContent()).includes(NAME), 'the newest run is ours');
    // The list may show what it held before the page went back to it, then what the host says now.
    await waitFor(async () => ((await row.getByTestId('run-status').textContent()) ?? '').includes('succeeded'), 'the run listed as succeeded');
    await shoot(page, ART, 'workflows', 1440);
    await shoot(page, ART, 'workflows', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('a step’s agent opens from the run view', async () => {
    await page.goto(runUrl);
    const link = page.locator('[data-testid=step][data-step=write]').getByTestId('step-agent').first();
    await link.waitFor();
    await link.click();
    await page.waitForURL(/\/agents\/[^/]+$/);
    await page.getByText('Wrote greeting.txt.').first().waitFor();
  });
  await step('an agent that delegates lists its sub-agent, and the sub-agent names its parent', async () => {
    const boss = await host.api(ADMIN, 'POST', '/api/agents', {
      name: 'boss',
      model: { provider: 'scripted', model: 'scripted' },
      workspace: REPO,
      approval_mode: 'auto',
      delegation: { max_depth: 1, max_children: 2 },
      task: 'delegate-greeting',
    });
    await page.goto(`${host.base}/agents/${boss.id}`);
    await page.getByText('The helper said hello.').first().waitFor({ timeout: 60_000 });
    const child = page.getByTestId('agent-child');
    await child.first().waitFor();
    check((await child.count()) === 1, 'one sub-agent listed');
    const link = child.first().getByRole('link');
    check(((await link.textContent()) ?? '').includes('helper'), `the sub-agent's name: ${await link.textContent()}`);
    await child.first().getByTestId('status').waitFor();
    await shoot(page, ART, 'agent-children', 1440, { fullPage: false });
    await shoot(page, ART, 'agent-children', 375, { fullPage: false });
    await page.setViewportSize({ width: 1440, height: 900 });
    await link.click();
    const parent = page.getByTestId('agent-parent');
    await parent.waitFor();
    check(((await parent.textContent()) ?? '').includes('boss'), `the parent named: ${await parent.textContent()}`);
    await page.getByText('Hello from the helper.').first().waitFor();
    await parent.getByRole('link', { name: 'boss' }).click();
    await page.waitForURL(new RegExp(`/agents/${boss.id}$`));
  });
  await step('best-of-3: three attempts side by side, the passing one kept and merged into the run’s branch', async () => {
    await page.goto(`${host.base}/workflows`);
    await page.getByRole('button', { name: 'Run best-of-3' }).click();
    const dialog = page.getByRole('dialog', { name: 'Run best-of-3' });
    await dialog.getByLabel('task (required)').fill('best-greeting: write best.txt');
    await dialog.getByLabel('repo (required)').fill(REPO);
    await dialog.getByLabel('test_command', { exact: true }).fill(ONLY_A2);
    await dialog.getByRole('button', { name: 'Start the run' }).click();
    await page.waitForURL(/\/workflows\/runs\/[^/]+$/);
    // The run's own page, not the list still on screen for a moment after
    // the URL changed (its badge says the earlier run succeeded).
    await page.getByTestId('pipeline').waitFor();
    await page.getByTestId('run-started').waitFor();
    check((await page.getByTestId('run-status').count()) === 1, 'one run status on the run page');
    await waitFor(async () => ((await page.getByTestId('run-status').textContent()) ?? '').includes('succeeded'), 'the best-of-3 run to succeed', 120_000);
    const attempts = page.getByTestId('attempt');
    await waitFor(async () => (await attempts.count()) === 3, 'three attempts shown');
    const states = await attempts.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-attempt')}:${e.getAttribute('data-status')}:${e.getAttribute('data-kept')}`));
    const want = ['1:failed:false', '2:passed:true', '3:failed:false'];
    if (JSON.stringify(states) !== JSON.stringify(want)) {
      // Say whether the page or the host is wrong: the host's view of the same run.
      const v = await host.api(ADMIN, 'GET', `/api/workflow-runs/${page.url().split('/').pop()}`);
      const api = (v.steps[0]?.best_of ?? []).map((t) => `${t.attempt}:${t.status}:${t.kept}`);
      check(false, `the attempts on the page: ${states}; the host's view (${v.status}, last_seq ${v.last_seq}): ${api}`);
    }
    const summary = await page.getByTestId('attempts-summary').textContent();
    check(summary.includes('1 of 3 attempts passed') && summary.includes('kept attempt 2'), `the summary: ${summary}`);
    const kept = page.locator('[data-testid=attempt][data-attempt="2"]');
    await kept.getByTestId('diff').first().waitFor();
    check((await kept.getByTestId('diff').first().textContent()).includes('best.txt'), 'the kept attempt shows its diff');
    const failed = page.locator('[data-testid=attempt][data-attempt="1"]');
    await failed.getByTestId('attempt-verify').locator('summary').click();
    check((await failed.getByTestId('attempt-verify').textContent()).includes('FAIL: not attempt 2'), 'a failed attempt shows its verify output');
    check((await failed.getByRole('button', { name: /^Merge/ }).count()) === 0, 'a failed attempt offers no merge');
    // Columns side by side on a wide screen: the three cards share a row.
    const tops = await attempts.evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().top)));
    check(new Set(tops).size === 1, `side by side at 1440 px: ${tops}`);
    await shoot(page, ART, 'workflow-best-of-3', 1440);
    await shoot(page, ART, 'workflow-best-of-3', 375);
    const stacked = await attempts.evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().top)));
    check(new Set(stacked).size === 3, `stacked at 375 px: ${stacked}`);
    await page.setViewportSize({ width: 1440, height: 900 });
    const merge = kept.getByRole('button', { name: /^Merge into paddock\// });
    await merge.click();
    const merged = kept.getByTestId('attempt-merged');
    await merged.waitFor();
    const text = (await merged.textContent()) ?? '';
    check(/Merged attempt 2 into paddock\/best-of-3-/.test(text), `the merge: ${text}`);
    const branch = text.match(/into (paddock\/best-of-3-[0-9a-f]+)/)?.[1];
    const landed = execFileSync('git', ['-C', REPO, 'show', `${branch}:best.txt`], { encoding: 'utf8' });
    check(landed.includes('the best greeting'), `the kept attempt landed on the run's branch: ${landed}`);
    await shoot(page, ART, 'workflow-best-of-3-merged', 1440, { fullPage: false });
  });
} finally {
  await browser.close();
  await host.kill9();
}
process.exit(steps.failures > 0 ? 1 : 0);
