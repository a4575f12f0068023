// Plugins from an OCI registry in Chromium: an admin (signed in with the
// link `paddock serve` prints) installs a signed plugin by its reference,
// sees where it came from, its pinned digest and its signer; a new version
// that requests a new capability is pushed, "Check for update" shows the
// capability diff, and nothing changes until the admin accepts it. Started
// by tests/plugins_oci.rs (`registry_plugins_in_chromium`), which starts the
// registry, makes and trusts the key and pushes the first version;
// screenshots at 1440 and 375 px (axe-checked) in E2E_ARTIFACTS.

import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { Host, Steps, check, env, freePort, launch, shoot, waitFor } from './lib.mjs';

const BIN = env('PADDOCK_BIN');
const DATA = env('E2E_DATA_DIR');
const CONFIG = env('E2E_CONFIG');
const ART = env('E2E_ARTIFACTS');
const ADMIN = env('PADDOCK_ADMIN_TOKEN');
const USER = env('PADDOCK_TOKEN');
const REFERENCE = env('E2E_REFERENCE');
const DIGEST1 = env('E2E_DIGEST1');
const NEXT = env('E2E_NEXT_VERSION_DIR');
const KEY = env('E2E_SIGNING_KEY');
const KEY_ID = env('E2E_KEY_ID');

const host = new Host({ bin: BIN, dataDir: DATA, args: ['--config', CONFIG, '--workspace-root', tmpdir()], port: await freePort() });
await host.start();
const { browser, page } = await launch();
const steps = new Steps(ART);
const card = () => page.locator('section').filter({ has: page.getByRole('heading', { name: /^probe/ }) });
let digest2 = '';

try {
  await steps.run(page, 'a member may not install from a registry', async () => {
    const resp = await fetch(host.base + '/api/oci/install', {
      method: 'POST',
      headers: { Authorization: `Bearer ${USER}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ reference: REFERENCE }),
    });
    check(resp.status === 403, `a member got ${resp.status}`);
  });

  await steps.run(page, 'install by reference: origin, pinned digest, signer', async () => {
    await page.goto(host.loginUrl);
    await page.waitForURL(host.base + '/');
    await page.goto(host.base + '/plugins');
    await page.getByRole('button', { name: 'Install plugin' }).click();
    const dialog = page.getByRole('dialog', { name: 'Install a plugin' });
    await dialog.getByLabel('From a registry').check();
    await dialog.getByLabel('OCI reference').fill(REFERENCE);
    await dialog.getByRole('button', { name: 'Install' }).click();
    await card().waitFor();
    await waitFor(async () => (await card().getByTestId('plugin-digest').textContent()) === DIGEST1, 'the pinned digest');
    check((await card().getByTestId('plugin-origin').textContent()) === REFERENCE, 'the origin is shown');
    check((await card().getByTestId('plugin-signer').textContent()).includes(KEY_ID), 'the signer is shown');
    await shoot(page, ART, 'plugins-registry-installed', 1440);
    await shoot(page, ART, 'plugins-registry-installed', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await steps.run(page, 'an update requesting a new capability shows the diff and waits', async () => {
    const out = execFileSync(BIN, ['--data-dir', DATA, 'plugin', 'push', NEXT, REFERENCE, '--key', KEY], { encoding: 'utf8' });
    digest2 = out.match(/digest: (sha256:[0-9a-f]{64})/)[1];
    await card().getByRole('button', { name: 'Check for update (probe)' }).click();
    const update = page.getByRole('region', { name: 'Update of probe' });
    await update.waitFor();
    await update.getByText('+ env:PROBE_SECRET').waitFor();
    check((await update.textContent()).includes(digest2), 'the new digest is shown');
    const now = await host.api(ADMIN, 'GET', '/api/plugins/probe');
    check(now.version === '1.0.0' && now.origin.digest === DIGEST1, 'nothing changed before acceptance');
    await shoot(page, ART, 'plugins-registry-update', 1440);
    await shoot(page, ART, 'plugins-registry-update', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await steps.run(page, 'accepting applies it; the new capability stays ungranted', async () => {
    await page.getByRole('region', { name: 'Update of probe' }).getByRole('button', { name: 'Accept update' }).click();
    await waitFor(async () => (await card().getByTestId('plugin-digest').textContent()) === digest2, 'the new digest');
    await card().getByText('v2.0.0').waitFor();
    const now = await host.api(ADMIN, 'GET', '/api/plugins/probe');
    check(now.version === '2.0.0' && now.granted.length === 0, `after acceptance: ${JSON.stringify(now)}`);
    check(now.missing.includes('env:PROBE_SECRET'), 'the new request is not granted');
    await card().getByRole('checkbox', { name: 'env:PROBE_SECRET' }).waitFor();
    check(!(await card().getByRole('checkbox', { name: 'env:PROBE_SECRET' }).isChecked()), 'the checkbox shows it ungranted');
    await shoot(page, ART, 'plugins-registry-accepted', 1440);
  });
} finally {
  await browser.close();
  await host.kill9();
}
if (steps.failures > 0) {
  console.log(`${steps.failures} step(s) failed`);
  process.exit(1);
}
console.log(`screenshots: ${ART}`);
