// js-probe: a test plugin in JavaScript whose tools each attempt one thing (a
// capability escape or a fault) and report what happened.
//
// Built with the JavaScript SDK (sdk/js, `paddock-js build`) by the
// capability matrix (tests/capabilities_polyglot.rs); never installed by
// default.

import { NetError, Toolbox, ToolError, exec, env, fs, log, net, sleep } from '@paddock/sdk';

/** Calls served by this instance: a fresh instance per call keeps it at 1. */
let calls = 0;

const PATH = { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] };
const NUMBER = (field) => ({
  type: 'object',
  properties: { [field]: { type: 'integer', minimum: 0 } },
  required: [field],
});

function failed(e) {
  return ToolError.failed(e instanceof Error ? e.message : String(e));
}

const toolbox = new Toolbox()
  .tool({
    name: 'probe_read',
    description: 'Read a file with fs.readText; returns its text.',
    inputSchema: PATH,
    readOnly: true,
    run: ({ path }) => {
      try {
        return fs.readText(path);
      } catch (e) {
        throw failed(e);
      }
    },
  })
  .tool({
    name: 'probe_write',
    description: 'Write `content` to a file with fs.write.',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
    run: ({ path, content }) => {
      try {
        fs.write(path, content);
      } catch (e) {
        throw failed(e);
      }
      return `wrote ${content.length} bytes to ${path}`;
    },
  })
  .tool({
    name: 'probe_list',
    description: "List a directory's entry names, sorted, one per line.",
    inputSchema: PATH,
    readOnly: true,
    run: ({ path }) => {
      try {
        return fs.list(path).join('\n');
      } catch (e) {
        throw failed(e);
      }
    },
  })
  .tool({
    name: 'probe_http',
    description: 'GET `url` with net.get; returns the status and the body.',
    inputSchema: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
    readOnly: true,
    run: ({ url }) => {
      try {
        const r = net.get(url);
        return `${r.status} ${r.text().trim()}`;
      } catch (e) {
        if (e instanceof NetError && e.kind === 'denied') throw ToolError.denied(e.message);
        throw failed(e);
      }
    },
  })
  .tool({
    name: 'probe_env',
    description: 'Read an environment variable with env.get.',
    inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    readOnly: true,
    run: ({ name }) => {
      const value = env.get(name);
      if (value === undefined) throw ToolError.failed(`env ${name}: not present`);
      return value;
    },
  })
  .tool({
    name: 'probe_exec',
    description: 'Run a command through the exec import; errors carry the exec-error kind.',
    inputSchema: {
      type: 'object',
      properties: { argv: { type: 'array', items: { type: 'string' } } },
      required: ['argv'],
    },
    run: ({ argv }) => {
      const out = exec.run(argv, { timeoutMs: 5000 });
      return `exit ${out.exitCode}\n${out.stdout}${out.stderr}`;
    },
  })
  .tool({
    name: 'probe_spin',
    description: 'Loop forever without yielding.',
    inputSchema: { type: 'object' },
    readOnly: true,
    run: () => {
      log.info('probe_spin: looping forever');
      let n = 0;
      for (;;) n += 1;
    },
  })
  .tool({
    name: 'probe_sleep',
    description: 'Sleep for `ms` milliseconds (blocks in a host call).',
    inputSchema: NUMBER('ms'),
    readOnly: true,
    run: ({ ms }) => {
      sleep(ms);
      return `slept ${ms} ms`;
    },
  })
  .tool({
    name: 'probe_alloc',
    description: 'Allocate and touch `bytes` bytes of memory, in 1 MiB chunks.',
    inputSchema: NUMBER('bytes'),
    readOnly: true,
    run: ({ bytes }) => {
      const chunks = [];
      let left = bytes;
      while (left > 0) {
        const size = Math.min(left, 1 << 20);
        const chunk = new Uint8Array(size);
        for (let i = 0; i < size; i += 4096) chunk[i] = 1;
        chunks.push(chunk);
        left -= size;
      }
      let touched = 0;
      for (const c of chunks) for (let i = 0; i < c.length; i += 4096) touched += c[i];
      return `allocated ${bytes} bytes (${touched} pages touched)`;
    },
  })
  .tool({
    name: 'probe_raise',
    description: 'Throw new Error(`message`) from the tool.',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
    readOnly: true,
    run: ({ message }) => {
      throw new Error(message);
    },
  })
  .tool({
    name: 'probe_big_output',
    description: 'Return a content string of `bytes` bytes.',
    inputSchema: NUMBER('bytes'),
    readOnly: true,
    run: ({ bytes }) => 'x'.repeat(bytes),
  })
  .tool({
    name: 'probe_echo',
    description: 'Return `ok` and the call context.',
    inputSchema: { type: 'object' },
    readOnly: true,
    run: (_input, ctx) => {
      log.info('probe_echo called');
      return `ok\nagent_id=${ctx.agentId}\ncall_id=${ctx.callId}\nworkspace=${ctx.workspace}`;
    },
  })
  .tool({
    name: 'probe_counter',
    description: 'Increment a module-level counter and return it (1 with a fresh instance per call).',
    inputSchema: { type: 'object' },
    readOnly: true,
    run: () => String(++calls),
  });

export const tools = toolbox.export();
