// The team in Chromium: `paddock serve` with people in it (made through the
// API with the admin service token: an admin, two members, a viewer; an
// agent owned by each member), then the dashboard as each of them —
// signing in with a password, the CSRF header on every change (and a
// request without it refused from the page itself), signing out ending the
// session, an admin adding a user and a script user's token (shown once), a
// group, sharing an agent, and a member who neither sees the admin screens
// nor another member's agent. Started by tests/dashboard.rs
// (`team_in_chromium`), which makes the scripted model and the data dir;
// screenshots at 1440 and 375 px (axe-checked) in E2E_ARTIFACTS.

import { tmpdir } from 'node:os';
import { Host, Steps, check, env, freePort, launch, shoot, waitFor } from './lib.mjs';

const BIN = env('PADDOCK_BIN');
const DATA = env('E2E_DATA_DIR');
const CONFIG = env('E2E_CONFIG');
const WS = env('E2E_WORKSPACE');
const ART = env('E2E_ARTIFACTS');
const ADMIN = env('PADDOCK_ADMIN_TOKEN');

/** The people, with their passwords (12 characters at least). */
const PEOPLE = {
  ada: { role: 'admin', password: 'ada-password-0001', display_name: 'Ada Admin' },
  bob: { role: 'member', password: 'bob-password-0002', display_name: 'Bob Member' },
  cy: { role: 'member', password: 'cy-password-00003', display_name: 'Cy Member' },
  vi: { role: 'viewer', password: 'vi-password-00004', display_name: 'Vi Viewer' },
};

const host = new Host({ bin: BIN, dataDir: DATA, args: ['--config', CONFIG, '--workspace-root', tmpdir()], port: await freePort() });
await host.start();
const { browser, page } = await launch();
const steps = new Steps(ART);
/** Without the people (the first step) nothing can run; after that, each step stands alone (a failure is reported, the next step still runs). */
let ready = false;
const step = async (p, name, fn) => {
  if (!ready && steps.failures > 0) {
    console.log(`skip ${name}`);
    return;
  }
  await steps.run(p, name, fn);
};

/** A request with any credentials (or none): the status and the JSON body. */
async function call(method, path, { bearer, cookie, body, headers = {} } = {}) {
  const resp = await fetch(host.base + path, {
    method,
    headers: {
      ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
      ...(cookie ? { Cookie: cookie } : {}),
      ...(body ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: resp.status, body: json };
}

/** A request from inside the page (its cookies, its origin), as a script on it would make; `csrf`: with the CSRF header, as the dashboard sends it. */
function fromPage(p, method, path, { body, headers = {}, csrf = false } = {}) {
  return p.evaluate(
    async ([method, path, body, headers, csrf]) => {
      if (csrf) {
        const m = document.cookie.match(/paddock_csrf_\d+=([^;]+)/);
        headers = { ...headers, 'X-Paddock-CSRF': m ? decodeURIComponent(m[1]) : '' };
      }
      const resp = await fetch(path, {
        method,
        headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
        credentials: 'same-origin',
      });
      const text = await resp.text();
      let json;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = text;
      }
      return { status: resp.status, body: json };
    },
    [method, path, body ?? null, headers, csrf],
  );
}

/** Signs `p` in as `name` through the sign-in page. */
async function signInAs(p, name) {
  await p.goto(host.base + '/');
  const form = p.getByRole('region', { name: 'Sign in to Paddock' });
  await form.waitFor();
  await form.getByLabel('Name', { exact: true }).fill(name);
  await form.getByLabel('Password', { exact: true }).fill(PEOPLE[name].password);
  await form.getByRole('button', { name: 'Sign in', exact: true }).click();
  await p.getByTestId('user-menu').filter({ hasText: PEOPLE[name].display_name }).waitFor();
}

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, bypassCSP: true });
  const p = await ctx.newPage();
  p.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  p.on('dialog', (d) => d.accept());
  return p;
}

const ids = {};
/** The token bob makes in the CSRF step. */
let secret = '';
const agents = {};

try {
  await step(page, 'the admin service token makes the people and an agent for each member', async () => {
    for (const [name, p] of Object.entries(PEOPLE)) {
      const r = await call('POST', '/api/users', { bearer: ADMIN, body: { name, role: p.role, display_name: p.display_name, password: p.password } });
      check(r.status === 201, `POST /api/users ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      ids[name] = r.body.id;
    }
    for (const name of ['bob', 'cy']) {
      const t = await call('POST', `/api/users/${ids[name]}/tokens`, { bearer: ADMIN, body: { name: 'seed', scope: 'write', expires_in_days: 1 } });
      check(t.status === 201 && t.body.secret, `a token for ${name}: ${t.status} ${JSON.stringify(t.body)}`);
      const a = await call('POST', '/api/agents', {
        bearer: t.body.secret,
        body: { name: `${name}-own`, model: { provider: 'scripted', model: 'scripted' }, workspace: WS },
      });
      check(a.status === 201 || a.status === 200, `${name} creates an agent: ${a.status} ${JSON.stringify(a.body)}`);
      agents[name] = a.body.id;
    }
    ready = true;
  });

  await step(page, 'the sign-in page: a wrong password said plainly, then the right one', async () => {
    await page.goto(host.base + '/');
    const form = page.getByRole('region', { name: 'Sign in to Paddock' });
    await form.waitFor();
    check(!(await page.getByRole('navigation', { name: 'Main' }).isVisible()), 'the menu shows to a signed-out browser');
    await shoot(page, ART, 'sign-in', 1440);
    await shoot(page, ART, 'sign-in', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
    await form.getByLabel('Name', { exact: true }).fill('bob');
    await form.getByLabel('Password', { exact: true }).fill('not-bobs-password');
    await form.getByRole('button', { name: 'Sign in', exact: true }).click();
    await form.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    await form.getByLabel('Password', { exact: true }).fill(PEOPLE.bob.password);
    await form.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByTestId('user-menu').filter({ hasText: 'Bob Member' }).waitFor();
    const me = await fromPage(page, 'GET', '/api/me');
    check(me.status === 200 && me.body.name === 'bob' && me.body.via === 'session', `GET /api/me: ${JSON.stringify(me)}`);
    // A failed single sign-on comes back with its reason, shown as it is.
    const other = await newPage();
    await other.goto(host.base + '/?login=failed&reason=the%20provider%20refused');
    await other.getByTestId('login-failed').filter({ hasText: 'Sign-in failed: the provider refused.' }).waitFor();
    await other.context().close();
  });

  await step(page, 'CSRF: the dashboard sends the header (a token is made, shown once); a request without it is refused', async () => {
    const csrf = await page.evaluate(() => document.cookie);
    check(/paddock_csrf_\d+=/.test(csrf), `no CSRF cookie readable by the page: ${csrf}`);
    check(!csrf.includes('paddock_session'), 'a script can read the session cookie');
    await page.getByTestId('user-menu').locator('summary').click();
    await page.getByRole('link', { name: 'Tokens and keys' }).click();
    await page.getByRole('heading', { name: 'Account' }).waitFor();
    await page.getByLabel('Token name').fill('laptop');
    await page.getByLabel('Scope').selectOption('read');
    await page.getByLabel('Expires in (days)').fill('30');
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByTestId('token-secret');
    await shown.waitFor();
    secret = await page.getByTestId('token-secret-value').inputValue();
    check(/^pdk_[0-9A-Za-z]{40}$/.test(secret), `the secret shown: ${secret}`);
    await shoot(page, ART, 'account-token-shown', 1440);
    await shoot(page, ART, 'account-token-shown', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
    await shown.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'hidden' });
    const row = page.getByTestId('token-row').filter({ hasText: 'laptop' });
    await row.waitFor();
    check(!(await page.content()).includes(secret), 'the secret is still in the page after Done');
    check((await row.innerText()).includes(secret.slice(0, 12)), 'the token’s row shows its prefix');
    // The secret works, as bob and read-only.
    const me = await call('GET', '/api/me', { bearer: secret });
    check(me.status === 200 && me.body.name === 'bob' && me.body.scope === 'read', `GET /api/me with the new token: ${JSON.stringify(me)}`);
    // From the page without the header (a forged request): refused.
    const forged = await fromPage(page, 'POST', '/api/me/tokens', { body: { name: 'forged', scope: 'read' }, headers: { 'X-Paddock-Request': '1' } });
    check(forged.status === 403 && forged.body?.error?.code === 'csrf_failed', `a request without X-Paddock-CSRF: ${JSON.stringify(forged)}`);
    const wrong = await fromPage(page, 'POST', '/api/me/tokens', {
      body: { name: 'forged', scope: 'read' },
      headers: { 'X-Paddock-Request': '1', 'X-Paddock-CSRF': 'not-the-value' },
    });
    check(wrong.status === 403, `a request with a wrong X-Paddock-CSRF: ${JSON.stringify(wrong)}`);
    const listed = await fromPage(page, 'GET', '/api/me/tokens');
    check(!listed.body.some((t) => t.name === 'forged'), 'a forged request made a token');
    // Revoked from the page: the token stops working.
    await row.getByRole('button', { name: 'Revoke laptop' }).click();
    await waitFor(async () => (await row.innerText()).includes('revoked') || (await row.getByRole('button').count()) === 0, 'the token revoked');
    await waitFor(async () => (await call('GET', '/api/me', { bearer: secret })).status === 401, 'the revoked token refused', 10_000);
  });

  await step(page, 'sign out ends the session: the sign-in page, and the next API call 401s', async () => {
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name.startsWith('paddock_session'));
    check(session, 'no session cookie');
    await page.getByTestId('user-menu').locator('summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('region', { name: 'Sign in to Paddock' }).waitFor();
    const after = await fromPage(page, 'GET', '/api/me');
    check(after.status === 401, `GET /api/me after sign-out: ${after.status}`);
    // The old cookie, replayed, is refused too: the server forgot the session.
    const replayed = await call('GET', '/api/agents', { cookie: `${session.name}=${session.value}` });
    check(replayed.status === 401, `the signed-out session replayed: ${replayed.status}`);
  });

  let dee = '';
  await step(page, 'an admin: Users — adds a user, makes a script user’s token (shown once)', async () => {
    await signInAs(page, 'ada');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await page.getByRole('region', { name: 'User bob' }).waitFor();
    await page.getByRole('button', { name: 'Add user' }).click();
    const add = page.getByRole('dialog', { name: 'Add a user' });
    await add.getByLabel('Name', { exact: true }).fill('dee');
    await add.getByLabel('Display name').fill('Dee Script');
    await add.getByLabel('Role').selectOption('member');
    await add.getByRole('button', { name: 'Add user' }).click();
    await add.waitFor({ state: 'hidden' });
    const row = page.getByRole('region', { name: 'User dee' });
    await row.waitFor();
    check((await row.innerText()).includes('tokens only'), `dee (no password) is not shown as tokens-only: ${await row.innerText()}`);
    await row.getByRole('button', { name: 'New token' }).click();
    const dialog = page.getByRole('dialog', { name: 'A token for dee' });
    await dialog.getByLabel('Token name').fill('ci');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    dee = await dialog.getByTestId('token-secret-value').inputValue();
    const me = await call('GET', '/api/me', { bearer: dee });
    check(me.status === 200 && me.body.name === 'dee', `dee's token: ${JSON.stringify(me)}`);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'hidden' });
    // Opened again, the dialog offers a new token: the old secret is gone.
    await row.getByRole('button', { name: 'New token' }).click();
    check((await dialog.getByTestId('token-secret').count()) === 0, 'the secret is shown again');
    check(!(await page.content()).includes(dee), 'the secret is still in the page');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await shoot(page, ART, 'users', 1440);
    await shoot(page, ART, 'users', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step(page, 'an admin: Groups — a group with members', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Groups' }).click();
    await page.getByRole('button', { name: 'New group' }).click();
    const dialog = page.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill('ops');
    await dialog.getByRole('checkbox', { name: /Bob Member/ }).check();
    await dialog.getByRole('checkbox', { name: /Dee Script/ }).check();
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const members = page.getByTestId('group-members');
    await members.filter({ hasText: 'bob' }).filter({ hasText: 'dee' }).waitFor();
    await shoot(page, ART, 'groups', 1440);
    await shoot(page, ART, 'groups', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step(page, 'a member sees their own agent, not another member’s, and no admin screens', async () => {
    const page = await newPage();
    await signInAs(page, 'bob');
    await page.goto(host.base + '/');
    const list = page.getByRole('list', { name: 'Agents' });
    await list.getByRole('link', { name: 'bob-own' }).waitFor();
    check((await list.getByRole('link', { name: 'cy-own' }).count()) === 0, 'bob sees cy’s agent in the list');
    const nav = page.getByRole('navigation', { name: 'Main' });
    check((await nav.getByRole('link', { name: 'Users' }).count()) === 0, 'a member has Users in the menu');
    check((await nav.getByRole('link', { name: 'Groups' }).count()) === 0, 'a member has Groups in the menu');
    await page.goto(`${host.base}/agents/${agents.cy}`);
    await page.getByRole('heading', { name: 'Agent not found' }).waitFor();
    await page.goto(host.base + '/users');
    await page.getByTestId('admins-only').waitFor();
    const users = await fromPage(page, 'GET', '/api/users');
    check(users.status === 403 || users.status === 404, `a member lists the users: ${users.status}`);
    await page.goto(host.base + '/');
    await list.getByRole('link', { name: 'bob-own' }).waitFor();
    await shoot(page, ART, 'member-agents', 1440, { fullPage: false });
    await shoot(page, ART, 'member-agents', 375, { fullPage: false });
    await page.context().close();
  });

  await step(page, 'owners on agents; an admin shares cy’s agent with bob, who then sees it', async () => {
    await page.goto(host.base + '/');
    const list = page.getByRole('list', { name: 'Agents' });
    const cyRow = page.getByTestId('agent-row').filter({ hasText: 'cy-own' });
    await cyRow.getByTestId('agent-owner').filter({ hasText: 'owner: cy' }).waitFor();
    await list.getByRole('link', { name: 'cy-own' }).click();
    await page.getByTestId('agent-owner').filter({ hasText: 'owner: cy' }).waitFor();
    await page.getByRole('button', { name: 'Share' }).click();
    const dialog = page.getByRole('dialog', { name: 'Share cy-own' });
    await dialog.getByLabel('Share with').selectOption('user');
    await dialog.getByLabel('User name').fill('bob');
    await dialog.getByRole('button', { name: 'Add', exact: true }).click();
    await dialog.getByTestId('share-entry').filter({ hasText: 'bob' }).waitFor();
    await shoot(page, ART, 'share', 1440, { fullPage: false });
    await dialog.getByRole('button', { name: 'Save sharing' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByTestId('agent-owner').filter({ hasText: 'shared with bob' }).waitFor();
    // Bob, in his own browser, now sees it — with its owner named.
    const bob = await newPage();
    await signInAs(bob, 'bob');
    const row = bob.getByTestId('agent-row').filter({ hasText: 'cy-own' });
    await row.getByTestId('agent-owner').filter({ hasText: 'owner: cy' }).waitFor();
    await bob.context().close();
  });

  await step(page, 'a viewer: what would change something is off, with the reason', async () => {
    const vi = await newPage();
    await signInAs(vi, 'vi');
    const create = vi.getByRole('button', { name: 'New agent' });
    await create.waitFor();
    check(await create.isDisabled(), 'a viewer can press New agent');
    await vi.getByText('Viewers can look but not change anything.').first().waitFor();
    // The API refuses it too, even with the CSRF header the dashboard sends.
    const made = await fromPage(vi, 'POST', '/api/agents', {
      body: { name: 'vi-own', model: { provider: 'scripted', model: 'scripted' }, workspace: WS },
      csrf: true,
    });
    check(made.status === 403, `a viewer creates an agent: ${JSON.stringify(made)}`);
    await shoot(vi, ART, 'viewer-agents', 1440, { fullPage: false });
    await vi.context().close();
  });
} finally {
  await browser.close();
  await host.kill9();
}

if (steps.failures > 0) {
  console.log(`\n${steps.failures} team step(s) failed`);
  process.exit(1);
}
console.log('\nall team steps passed');
