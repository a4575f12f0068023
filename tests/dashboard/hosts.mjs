// The Hosts screen in Chromium: two `paddock serve` hosts on one throwaway
// PostgreSQL database (same configuration, master key and tokens, a data
// dir each), six agents placed over both (some of them answering slowly,
// so at work), the dashboard on the first host — both hosts listed with
// their state, load, heartbeat, version, address and agents (named, linked
// to their screens, whose header names the host) — then `kill -9` of the
// second: its card turns unreachable (or leaves once it is gone for two
// leases) while its agents move to the first host. Last, a SQLite host
// shows the single-host state. Started by tests/dashboard.rs
// (`hosts_in_chromium`), which makes the database, the scripted model, the
// configurations and the data dirs; screenshots at 1440 and 375 px
// (axe-checked) in E2E_ARTIFACTS.

import { tmpdir } from 'node:os';
import { Host, Steps, check, env, freePort, launch, shoot, waitFor } from './lib.mjs';

const BIN = env('PADDOCK_BIN');
const ART = env('E2E_ARTIFACTS');
const ADMIN = env('PADDOCK_ADMIN_TOKEN');
const WS = env('E2E_WORKSPACE');
const LEASE_SECS = Number(env('E2E_LEASE_SECS'));

/** The cluster's hosts: their ids, data dirs and the database they share. */
async function clusterHost(id, dataDir) {
  const port = await freePort();
  return new Host({
    bin: BIN,
    dataDir,
    args: ['--config', env('E2E_CLUSTER_CONFIG'), '--workspace-root', tmpdir()],
    port,
    env: {
      PADDOCK_DATABASE_URL: env('E2E_DATABASE_URL'),
      PADDOCK_MASTER_KEY: env('E2E_MASTER_KEY'),
      PADDOCK_HOST_ID: id,
      PADDOCK_ADVERTISE_URL: `http://127.0.0.1:${port}`,
    },
  });
}

const a = await clusterHost('paddock-a', env('E2E_DATA_A'));
const b = await clusterHost('paddock-b', env('E2E_DATA_B'));
/** The browser, once launched (the hosts are killed whatever happens, so none outlives this script). */
let browser;
let page;
const steps = new Steps(ART);
/** Without the agents on both hosts (the first step) nothing else means anything. */
let ready = false;
const step = async (p, name, fn) => {
  if (!ready && steps.failures > 0) {
    console.log(`skip ${name}`);
    return;
  }
  await steps.run(p, name, fn);
};

/** The agents: name → first message (`slow…` answers for about a minute, so its agent stays at work). */
const AGENTS = {
  'alpha-docs': 'hello',
  'bravo-refactor': 'slow refactor',
  'charlie-tests': 'slow tests',
  'delta-lint': 'hello',
  'echo-deps': 'slow deps',
  'foxtrot-ci': 'hello',
};
/** id → name, and host id → the ids it runs (as the API says before the kill). */
const names = {};
let placed = {};

/** Kills a host unless it is dead already (`kill9` would wait for an exit that has happened). */
async function stop(host) {
  if (host.child && host.child.exitCode === null && host.child.signalCode === null) await host.kill9();
}

const hostsOf = (via) => via.api(ADMIN, 'GET', '/api/hosts');

/** A host's card on the page (matching nothing when it is not shown). */
function card(hostId) {
  return page.locator(`[data-testid="host"][data-host-id="${hostId}"]`);
}

/** The agent names a host's card lists. */
async function listedNames(hostId) {
  const c = card(hostId);
  if ((await c.count()) === 0) return null;
  return (await c.getByTestId('host-agent').locator('a').allTextContents()).sort();
}

try {
  await a.start();
  await b.start();
  ({ browser, page } = await launch());
  await step(page, 'six agents are placed over two hosts on one PostgreSQL', async () => {
    const hosts = [a, b];
    let i = 0;
    for (const [name, task] of Object.entries(AGENTS)) {
      // Created through either host: placement spreads them.
      const made = await hosts[i++ % 2].api(ADMIN, 'POST', '/api/agents', {
        name,
        model: { provider: 'scripted', model: 'scripted' },
        workspace: WS,
        task,
      });
      names[made.id] = name;
    }
    placed = await waitFor(
      async () => {
        const list = await hostsOf(a);
        const byId = Object.fromEntries(list.map((h) => [h.id, h]));
        const total = list.reduce((n, h) => n + h.agents, 0);
        if (list.length !== 2 || total !== 6 || !byId['paddock-a']?.agents || !byId['paddock-b']?.agents) return null;
        check(
          list.every((h) => h.state === 'live'),
          `a host is not live: ${JSON.stringify(list)}`,
        );
        return { 'paddock-a': byId['paddock-a'].agent_ids, 'paddock-b': byId['paddock-b'].agent_ids };
      },
      'six agents listed over two live hosts',
      30_000,
    );
    console.log(`placed: paddock-a ${placed['paddock-a'].length}, paddock-b ${placed['paddock-b'].length}`);
    ready = true;
  });

  await step(page, 'the Hosts screen lists both hosts with state, load, heartbeat, version, address and agents', async () => {
    await page.goto(a.loginUrl);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hosts', exact: true }).click();
    await page.getByRole('heading', { name: 'Hosts', level: 1 }).waitFor();
    await waitFor(async () => (await page.getByTestId('host').count()) === 2, 'two host cards');
    const api = Object.fromEntries((await hostsOf(a)).map((h) => [h.id, h]));
    for (const [id, host] of [
      ['paddock-a', a],
      ['paddock-b', b],
    ]) {
      const c = card(id);
      check((await c.getAttribute('data-state')) === 'live', `${id} is not shown live`);
      check((await c.getByTestId('host-state').textContent()) === 'live', `${id}'s badge: ${await c.getByTestId('host-state').textContent()}`);
      check((await c.getByTestId('this-host').count()) === (id === 'paddock-a' ? 1 : 0), `${id}: the "this host" marker is wrong`);
      check((await c.getByTestId('host-address').textContent()) === host.base, `${id}'s address: ${await c.getByTestId('host-address').textContent()}`);
      check(
        /^(just now|\d+ s ago)$/.test(await c.getByTestId('host-heartbeat').textContent()),
        `${id}'s heartbeat: ${await c.getByTestId('host-heartbeat').textContent()}`,
      );
      check((await c.getByTestId('host-version').textContent()) === api[id].version, `${id}'s version`);
      check((await c.getByRole('meter').getAttribute('aria-valuemax')) === String(api[id].capacity), `${id}'s load bar has no capacity`);
      // Its agents, by name, as the API places them (they refresh every two seconds).
      await waitFor(async () => {
        const want = (await hostsOf(a))
          .find((h) => h.id === id)
          .agent_ids.map((x) => names[x])
          .sort();
        const shown = await listedNames(id);
        return JSON.stringify(shown) === JSON.stringify(want);
      }, `${id}'s agents listed by name`);
      await waitFor(
        async () => Number(await c.getByTestId('host-agents').textContent()) === (await hostsOf(a)).find((h) => h.id === id).agents,
        `${id}'s agent count as the API says`,
      );
    }
    // The totals: two live hosts, six agents.
    const totals = await page.getByTestId('host-totals').textContent();
    check(totals.includes('2 of 2') && totals.includes('Agents6'), `totals: ${totals}`);
    // Slow agents are at work somewhere.
    await waitFor(async () => (await hostsOf(a)).some((h) => h.busy > 0), 'an agent at work');
    await shoot(page, ART, 'hosts', 1440);
    await shoot(page, ART, 'hosts', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step(page, "an agent's link opens its screen, which names its host", async () => {
    const id = placed['paddock-b'][0];
    await card('paddock-b').getByRole('link', { name: names[id], exact: true }).click();
    await page.waitForURL(`**/agents/${id}`);
    await page.getByRole('heading', { name: names[id], level: 1 }).waitFor();
    const where = page.getByTestId('agent-host');
    await where.waitFor();
    check((await where.textContent()) === 'host: paddock-b', `the agent's host: ${await where.textContent()}`);
    await shoot(page, ART, 'agent-host', 375, { fullPage: false });
    await page.setViewportSize({ width: 1440, height: 900 });
    // The host's name leads back to the Hosts screen.
    await where.getByRole('link', { name: 'paddock-b' }).click();
    await page.getByRole('heading', { name: 'Hosts', level: 1 }).waitFor();
  });

  await step(page, 'kill -9 of a host: it turns unreachable (or leaves) and its agents move to the other', async () => {
    await waitFor(async () => (await page.getByTestId('host').count()) === 2, 'two host cards');
    const moved = placed['paddock-b'].map((id) => names[id]).sort();
    const killed = Date.now();
    await b.kill9();
    // Within about a lease its card says unreachable (it leaves after two leases without a heartbeat once its agents are taken).
    const seen = await waitFor(
      async () => {
        const c = card('paddock-b');
        if ((await c.count()) === 0) return 'gone';
        return (await c.getAttribute('data-state')) === 'unreachable' ? 'unreachable' : null;
      },
      'paddock-b shown unreachable or gone',
      (LEASE_SECS * 3 + 10) * 1000,
    );
    console.log(`paddock-b ${seen} on the page ${Date.now() - killed} ms after kill -9`);
    if (seen === 'unreachable') {
      const c = card('paddock-b');
      check((await c.getByTestId('host-state').textContent()) === 'unreachable', 'the badge says unreachable');
      check(/No heartbeat for \d+ s/.test(await c.textContent()), 'the card says why it is unreachable');
      // Until they are taken over, its agents may be listed as waiting for a host: only its own.
      const waiting = (await page.getByTestId('waiting-agents').locator('a').allTextContents()).sort();
      check(
        waiting.every((n) => moved.includes(n)),
        `agents of paddock-a listed as waiting: ${waiting}`,
      );
      console.log(`waiting for a host on the page: ${waiting.join(', ') || 'none'}`);
      await shoot(page, ART, 'hosts-unreachable', 1440);
      await shoot(page, ART, 'hosts-unreachable', 375);
      await page.setViewportSize({ width: 1440, height: 900 });
    }
    // Its agents are taken over by paddock-a, and the page lists them there.
    await waitFor(
      async () => {
        const onA = (await listedNames('paddock-a')) ?? [];
        return moved.every((n) => onA.includes(n));
      },
      `paddock-b's agents (${moved.join(', ')}) listed on paddock-a`,
      (LEASE_SECS * 4 + 20) * 1000,
    );
    console.log(`paddock-b's ${moved.length} agents on paddock-a's card ${Date.now() - killed} ms after kill -9`);
    const agents = await a.api(ADMIN, 'GET', '/api/agents');
    for (const ag of agents) check(ag.host === 'paddock-a', `agent ${ag.name} is on ${ag.host}`);
    // paddock-b: unreachable with nothing left, or gone.
    const left = card('paddock-b');
    if ((await left.count()) > 0) {
      check((await left.getAttribute('data-state')) === 'unreachable', 'paddock-b is neither gone nor unreachable');
      check((await left.getByTestId('host-agents').textContent()) === '0', 'paddock-b still lists agents');
    }
    check((await card('paddock-a').getByTestId('host-agents').textContent()) === '6', 'paddock-a does not run all six');
    await shoot(page, ART, 'hosts-after-kill', 1440);
    await shoot(page, ART, 'hosts-after-kill', 375);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step(page, 'SQLite: one host, and what several hosts need', async () => {
    const one = new Host({
      bin: BIN,
      dataDir: env('E2E_DATA_SINGLE'),
      args: ['--config', env('E2E_SINGLE_CONFIG'), '--workspace-root', tmpdir()],
      port: await freePort(),
    });
    await one.start();
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, bypassCSP: true });
    const p = await ctx.newPage();
    p.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    try {
      const made = await one.api(ADMIN, 'POST', '/api/agents', {
        name: 'solo-agent',
        model: { provider: 'scripted', model: 'scripted' },
        workspace: WS,
        task: 'hello',
      });
      await p.goto(one.loginUrl);
      await p.goto(one.base + '/hosts');
      const note = p.getByTestId('single-host');
      await note.waitFor();
      const text = await note.textContent();
      check(text.includes('One host (SQLite)') && text.includes('Several hosts need PostgreSQL'), `the single-host note: ${text}`);
      check((await p.getByTestId('host-totals').count()) === 0, 'a single host shows cluster totals');
      const solo = p.locator('[data-testid="host"][data-host-id="this host"]');
      await solo.getByRole('link', { name: 'solo-agent', exact: true }).waitFor();
      // No host line on an agent of a single host.
      await p.goto(`${one.base}/agents/${made.id}`);
      await p.getByRole('heading', { name: 'solo-agent', level: 1 }).waitFor();
      check((await p.getByTestId('agent-host').count()) === 0, 'a single host names itself on the agent screen');
      await p.goto(one.base + '/hosts');
      await note.waitFor();
      await shoot(p, ART, 'hosts-single', 1440);
      await shoot(p, ART, 'hosts-single', 375);
    } finally {
      await ctx.close();
      await stop(one);
    }
  });
} finally {
  await browser?.close();
  await stop(a);
  await stop(b);
}

if (steps.failures > 0) {
  console.log(`\n${steps.failures} hosts step(s) failed`);
  process.exit(1);
}
console.log('\nall hosts steps passed');
