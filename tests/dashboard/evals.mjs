// Evaluations in Chromium: `paddock serve` over a data dir holding two
// finished runs of `paddock eval run` on the same tasks (made by
// tests/dashboard_evals.rs with the scripted model: run A with one attempt
// per instance, run B with best-of-3, which resolves one more), then the
// dashboard alone — the Evaluations screen listing both (status, progress,
// resolved rate with its interval, which evaluation was used), run B's page
// (totals, results, the status filter, an instance opened with its patch
// and tests, the predictions downloaded), and the comparison of A and B
// (the rates, the difference, the loss, every instance). Screenshots at
// 1440 and 375 px (axe-checked, no sideways scrolling) in E2E_ARTIFACTS.

import { Host, Steps, check, env, freePort, launch, shoot } from './lib.mjs';

const BIN = env('PADDOCK_BIN');
const DATA = env('E2E_DATA_DIR');
const CONFIG = env('E2E_CONFIG');
const ART = env('E2E_ARTIFACTS');
const RUN_A = env('E2E_RUN_A');
const RUN_B = env('E2E_RUN_B');
/** What the Rust test read from the API: `{a: {name, rate}, b: {name, rate}, delta, loss, instances, resolved_in_b}`. */
const EXPECT = JSON.parse(env('E2E_EXPECT'));

// The browser first: when it cannot start, no host is left behind.
const { browser, page } = await launch();
const host = new Host({ bin: BIN, dataDir: DATA, args: ['--config', CONFIG], port: await freePort() });
try {
  await host.start();
} catch (e) {
  await browser.close();
  await host.kill9();
  throw e;
}
const steps = new Steps(ART);
const step = async (name, fn) => {
  if (steps.failures > 0) {
    console.log(`skip ${name}`);
    return;
  }
  await steps.run(page, name, fn);
};
const text = async (locator) => ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();

try {
  await step('the Evaluations screen lists both runs, newest first, with rate, interval and evaluation', async () => {
    await page.goto(host.loginUrl);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Evaluations' }).click();
    await page.getByRole('heading', { name: 'Evaluations', level: 1 }).waitFor();
    const rows = page.getByTestId('eval-row');
    await rows.nth(1).waitFor();
    const ids = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));
    check(JSON.stringify(ids) === JSON.stringify([RUN_B, RUN_A]), `newest first: ${ids}`);
    const b = rows.nth(0);
    check((await text(b.getByRole('link'))) === EXPECT.b.name, `run B's name: ${await text(b)}`);
    check((await text(b.getByTestId('eval-status'))).includes('finished'), `run B finished: ${await text(b)}`);
    check((await text(b.getByTestId('eval-rate'))).startsWith(EXPECT.b.rate), `run B's rate: ${await text(b.getByTestId('eval-rate'))}`);
    check((await text(rows.nth(1).getByTestId('eval-rate'))).startsWith(EXPECT.a.rate), `run A's rate: ${await text(rows.nth(1))}`);
    check((await text(b.getByTestId('eval-evaluation'))) === 'local tests', 'the evaluation used is named');
    const bar = b.getByRole('progressbar');
    check((await bar.getAttribute('aria-valuetext')) === `${EXPECT.instances} of ${EXPECT.instances} instances finished`, 'the progress is full');
    check((await page.title()) === 'Evaluations · Paddock', `title: ${await page.title()}`);
    await shoot(page, ART, 'evals', 1440);
    await shoot(page, ART, 'evals', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('run B’s page: totals, results, the status filter and an instance with its patch and tests', async () => {
    await page.getByTestId('eval-row').nth(0).getByRole('link').click();
    await page.waitForURL(new RegExp(`/evals/${RUN_B}$`));
    await page.getByTestId('eval-results').waitFor();
    check((await page.getByTestId('result-row').count()) === EXPECT.instances, 'a row per instance');
    check((await text(page.getByTestId('eval-totals'))).includes(EXPECT.b.rate), `the totals: ${await text(page.getByTestId('eval-totals'))}`);
    const error = page.locator('[data-testid=result-row][data-instance="acme__nothere-1"]');
    check((await text(error.getByTestId('instance-status'))).includes('error (repository missing)'), `the missing repository: ${await text(error)}`);
    await shoot(page, ART, 'eval-run', 1440);
    await shoot(page, ART, 'eval-run', 375);
    await page.setViewportSize({ width: 1440, height: 900 });

    const filter = page.getByTestId('status-filter');
    await filter.getByRole('button', { name: new RegExp(`^resolved \\(${EXPECT.resolved_in_b}\\)$`) }).click();
    check((await page.getByTestId('result-row').count()) === EXPECT.resolved_in_b, 'only the resolved ones');
    const best = page.locator(`[data-testid=result-row][data-instance="${EXPECT.loss}"]`);
    check((await text(best)).includes('3 of 3'), `best-of-3 kept its third attempt: ${await text(best)}`);
    await best.getByRole('button').click();
    const dialog = page.getByRole('dialog', { name: EXPECT.loss });
    await dialog.getByTestId('diff').first().waitFor();
    check((await text(dialog.getByTestId('instance-tests'))).includes('passed'), `its tests: ${await text(dialog.getByTestId('instance-tests'))}`);
    check((await dialog.getByTestId('instance-attempts').locator('li').count()) === 3, 'its three attempts');
    await shoot(page, ART, 'eval-instance', 1440, { fullPage: false });
    await shoot(page, ART, 'eval-instance', 375, { fullPage: false });
    await page.setViewportSize({ width: 1440, height: 900 });
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
  });

  await step('Download predictions: predictions.jsonl as the harness reads it', async () => {
    const link = page.getByTestId('download-predictions');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    check(lines.length === EXPECT.predictions, `one line per finished non-error instance: ${lines.length}`);
    for (const l of lines) {
      check(JSON.stringify(Object.keys(l).sort()) === '["instance_id","model_name_or_path","model_patch"]', `the harness's keys: ${Object.keys(l)}`);
    }
    check(download.suggestedFilename().endsWith('-predictions.jsonl'), `file name: ${download.suggestedFilename()}`);
  });

  await step('compare A with B: rates with intervals, the difference, the loss and every instance', async () => {
    await page.getByRole('link', { name: '← Evaluations' }).click();
    await page.getByTestId('compare-a').selectOption(RUN_A);
    await page.getByTestId('compare-b').selectOption(RUN_B);
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.waitForURL(new RegExp(`/evals/compare/${RUN_A}/${RUN_B}$`));
    await page.getByTestId('compare-difference').waitFor();
    check((await text(page.getByTestId('compare-side-a'))).includes(EXPECT.a.rate), `A: ${await text(page.getByTestId('compare-side-a'))}`);
    check((await text(page.getByTestId('compare-side-b'))).includes(EXPECT.b.rate), `B: ${await text(page.getByTestId('compare-side-b'))}`);
    check((await text(page.getByTestId('compare-delta'))) === EXPECT.delta, `the difference: ${await text(page.getByTestId('compare-delta'))}`);
    check((await text(page.getByTestId('compare-losses'))) === EXPECT.loss, `resolved by B only: ${await text(page.getByTestId('compare-losses'))}`);
    check((await page.getByTestId('compare-row').count()) === EXPECT.instances, 'every common instance');
    await shoot(page, ART, 'eval-compare', 1440);
    await shoot(page, ART, 'eval-compare', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });
} finally {
  await browser.close();
  await host.kill9();
}
process.exit(steps.failures > 0 ? 1 : 0);
