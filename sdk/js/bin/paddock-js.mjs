#!/usr/bin/env node
// paddock-js: builds a Paddock plugin written in JavaScript into a
// WebAssembly component.
//
//   paddock-js build SOURCE.js -o OUT.wasm [--world tool|risk-assessor|mcp-adapter] [--manifest paddock-plugin.toml]
//
// It bundles SOURCE.js with the SDK (esbuild) behind a generated entry module
// that binds the component's imports (`log`, and `exec` for tools), then
// componentizes the bundle with componentize-js against the WIT this SDK
// targets (`../wit`, the one setting to change when moving to a newer WIT
// version). The world is `--world`, else the manifest's `world = "..."`,
// else `tool`.

import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The WIT package this SDK targets. */
const WIT_DIR = resolve(here, '..', 'wit');
const SDK_ENTRY = resolve(here, '..', 'src', 'index.js');
const WORLDS = ['tool', 'risk-assessor', 'mcp-adapter'];
/**
 * The WASI 0.2 interfaces tools use for files, environment variables and
 * waiting (the SDK's `fs`, `env` and `sleep`), from the WIT files jco ships.
 */
const WASI_VERSION = '0.2.12';
const WASI_IMPORTS = {
  preopens: 'wasi:filesystem/preopens',
  environment: 'wasi:cli/environment',
  clock: 'wasi:clocks/monotonic-clock',
  // The SDK's `net`: outgoing HTTP requests, waited for synchronously (the
  // host lets through only the hosts the plugin was granted, `net:HOST:PORT`).
  httpOut: 'wasi:http/outgoing-handler',
  httpTypes: 'wasi:http/types',
};

function usage(message) {
  if (message) console.error(`paddock-js: ${message}`);
  console.error('usage: paddock-js build SOURCE.js -o OUT.wasm [--world tool|risk-assessor|mcp-adapter] [--manifest FILE]');
  process.exit(2);
}

async function witVersion() {
  const text = await readFile(join(WIT_DIR, 'worlds.wit'), 'utf8');
  const m = /^package\s+paddock:plugin@([0-9.]+)\s*;/m.exec(text);
  if (!m) throw new Error(`${WIT_DIR}/worlds.wit has no \`package paddock:plugin@VERSION;\` line`);
  return m[1];
}

async function worldFromManifest(path) {
  if (!existsSync(path)) return null;
  const m = /^\s*world\s*=\s*"([^"]*)"/m.exec(await readFile(path, 'utf8'));
  return m ? m[1] : null;
}

/**
 * A WIT directory whose world `world` is the Paddock world plus, for tools,
 * the WASI interfaces of `WASI_IMPORTS`: `wit/world.wit` and `wit/deps/`
 * (this SDK's Paddock WIT and jco's WASI WIT).
 */
async function composeWit(work, world, version) {
  const dir = join(work, 'wit');
  const deps = join(dir, 'deps');
  await mkdir(join(deps, 'paddock-plugin'), { recursive: true });
  for (const f of await readdir(WIT_DIR)) {
    if (f.endsWith('.wit')) await cp(join(WIT_DIR, f), join(deps, 'paddock-plugin', f));
  }
  const require = createRequire(import.meta.url);
  // jco's exports map hides package.json: walk up from its entry point.
  let jco = dirname(require.resolve('@bytecodealliance/jco'));
  while (!existsSync(join(jco, 'package.json')) && dirname(jco) !== jco) jco = dirname(jco);
  const wasi = join(jco, 'lib', 'wit', 'builtin', WASI_VERSION);
  if (!existsSync(wasi)) throw new Error(`jco has no WASI ${WASI_VERSION} WIT in ${wasi}`);
  for (const pkg of await readdir(wasi)) {
    await cp(join(wasi, pkg), join(deps, pkg), { recursive: true });
  }
  const extra =
    world === 'tool'
      ? Object.values(WASI_IMPORTS).map((i) => `  import ${i}@${WASI_VERSION};`)
      : [];
  const text = [
    'package paddock:js-plugin;',
    '',
    `world ${world} {`,
    `  include paddock:plugin/${world}@${version};`,
    ...extra,
    '}',
    '',
  ].join('\n');
  await writeFile(join(dir, 'world.wit'), text);
  return dir;
}

async function main(argv) {
  if (argv[0] !== 'build') usage(argv[0] ? `unknown command ${JSON.stringify(argv[0])}` : 'no command');
  let source = null;
  let out = null;
  let world = null;
  let manifest = 'paddock-plugin.toml';
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '-o' || a === '--out') out = value();
    else if (a === '--world') world = value();
    else if (a === '--manifest') manifest = value();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (source === null) source = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!source) usage('no SOURCE.js given');
  if (!out) usage('no -o OUT.wasm given');
  world = world ?? (await worldFromManifest(manifest)) ?? 'tool';
  if (!WORLDS.includes(world)) usage(`unknown world ${JSON.stringify(world)}; expected one of ${WORLDS.join(', ')}`);
  const sourcePath = resolve(source);
  const outPath = resolve(out);
  if (!existsSync(sourcePath)) usage(`${source} does not exist`);

  const version = await witVersion();
  const { build } = await import('esbuild');
  const { componentize } = await import('@bytecodealliance/componentize-js');

  const work = await mkdtemp(join(tmpdir(), 'paddock-js-'));
  try {
    const witDir = await composeWit(work, world, version);
    const imports = [`import * as log from 'paddock:plugin/log@${version}';`];
    const bind = ['log'];
    if (world === 'tool') {
      imports.push(`import * as exec from 'paddock:plugin/exec@${version}';`);
      bind.push('exec');
      for (const [name, iface] of Object.entries(WASI_IMPORTS)) {
        imports.push(`import * as ${name} from '${iface}@${WASI_VERSION}';`);
        bind.push(name);
      }
    }
    const entry = [
      ...imports,
      `import { __bindImports } from '@paddock/sdk';`,
      `__bindImports({ ${bind.join(', ')} });`,
      `export * from ${JSON.stringify(sourcePath)};`,
      '',
    ].join('\n');
    const entryPath = join(work, 'entry.js');
    await writeFile(entryPath, entry);
    const bundlePath = join(work, 'bundle.js');
    await build({
      entryPoints: [entryPath],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      outfile: bundlePath,
      logLevel: 'warning',
      plugins: [
        {
          name: 'paddock',
          setup(b) {
            b.onResolve({ filter: /^@paddock\/sdk$/ }, () => ({ path: SDK_ENTRY }));
            b.onResolve({ filter: /^(paddock|wasi):/ }, (args) => ({ path: args.path, external: true }));
          },
        },
      ],
    });
    // componentize-js reads the WIT through a WASI shim that only sees the
    // current directory: run it from the work directory, with relative paths.
    const home = process.cwd();
    process.chdir(work);
    let component;
    try {
      ({ component } = await componentize({
        sourcePath: 'bundle.js',
        witPath: 'wit',
        worldName: world,
        disableFeatures: ['http', 'fetch-event'],
      }));
    } finally {
      process.chdir(home);
    }
    await writeFile(outPath, component);
    console.log(`paddock-js: built ${out} (world ${world}, paddock:plugin@${version}, ${component.length} bytes)`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`paddock-js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
