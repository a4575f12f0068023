// Paddock plugin SDK for JavaScript: tools (world `tool`), risk assessors
// (`risk-assessor`) and MCP adapters (`mcp-adapter`) as WebAssembly
// components built with componentize-js (`paddock-js build`).
//
// The component's imports (`log`, `exec`) are bound by the entry module that
// `paddock-js build` generates; outside a component (native tests under
// Node) logging goes to standard error and `exec` throws `ExecUnavailable`.

/** The imports of the running component, bound by the generated entry module. */
const bound = { log: null, exec: null, preopens: null, environment: null, clock: null, httpOut: null, httpTypes: null };

/**
 * Binds the component's imports. Called by the entry module that
 * `paddock-js build` generates; plugin code never calls it.
 * @param {object} imports `log`, and for tools `exec`, `preopens`,
 *   `environment`, `clock`, `httpOut`, `httpTypes` (WASI 0.2 interfaces)
 */
export function __bindImports(imports) {
  for (const key of Object.keys(bound)) bound[key] = imports[key] ?? null;
}

// ---------------------------------------------------------------- logging

function emit(level, message) {
  const text = String(message);
  if (bound.log) {
    bound.log.log(level, text);
  } else {
    console.error(`[${level}] ${text}`);
  }
}

/** Structured logging into the host's log; the model never sees it. */
export const log = {
  trace: (m) => emit('trace', m),
  debug: (m) => emit('debug', m),
  info: (m) => emit('info', m),
  warn: (m) => emit('warn', m),
  error: (m) => emit('error', m),
};

// ---------------------------------------------------------------- errors

const TOOL_ERROR_KINDS = ['invalid-input', 'unknown-tool', 'denied', 'failed'];

/**
 * A tool call failed; the message is shown to the model and the user.
 * Use `ToolError.invalidInput(msg)` (name the field), `ToolError.denied(msg)`
 * or `ToolError.failed(msg)`; `unknown-tool` is produced for you.
 */
export class ToolError extends Error {
  /**
   * @param {'invalid-input'|'unknown-tool'|'denied'|'failed'} kind
   * @param {string} message
   */
  constructor(kind, message) {
    if (!TOOL_ERROR_KINDS.includes(kind)) {
      throw new TypeError(`unknown tool error kind ${JSON.stringify(kind)}; expected one of ${TOOL_ERROR_KINDS.join(', ')}`);
    }
    super(message);
    this.name = 'ToolError';
    this.kind = kind;
    // What componentize-js lowers into the WIT `tool-error` variant.
    this.payload = { tag: kind, val: message };
  }
  static invalidInput(message) { return new ToolError('invalid-input', message); }
  static unknownTool(message) { return new ToolError('unknown-tool', message); }
  static denied(message) { return new ToolError('denied', message); }
  static failed(message) { return new ToolError('failed', message); }
}

/** A command could not be run (base class of the `Exec*` errors). */
export class ExecError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'ExecError';
    this.kind = kind;
  }
}
/** The plugin was not granted `exec`. */
export class ExecDenied extends ExecError { constructor(m) { super('denied', m); this.name = 'ExecDenied'; } }
/** No sandbox is available for this agent; the text says why. */
export class ExecUnavailable extends ExecError { constructor(m) { super('unavailable', m); this.name = 'ExecUnavailable'; } }
/** The request was malformed (empty argv, bad cwd, unknown job...). */
export class ExecInvalid extends ExecError { constructor(m) { super('invalid', m); this.name = 'ExecInvalid'; } }
/** The sandbox failed to run the command. */
export class ExecFailed extends ExecError { constructor(m) { super('failed', m); this.name = 'ExecFailed'; } }

const EXEC_ERRORS = { denied: ExecDenied, unavailable: ExecUnavailable, invalid: ExecInvalid, failed: ExecFailed };

// ---------------------------------------------------------------- exec

function execImport() {
  if (!bound.exec) {
    throw new ExecUnavailable('exec is only available inside Paddock (a component of world `tool`)');
  }
  return bound.exec;
}

function execCall(fn, arg) {
  try {
    return fn(arg);
  } catch (e) {
    const p = e && e.payload;
    if (p && typeof p.tag === 'string') {
      const Cls = EXEC_ERRORS[p.tag] ?? ExecFailed;
      throw new Cls(String(p.val));
    }
    throw e;
  }
}

function toCommand(argv, opts = {}) {
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) {
    throw new ExecInvalid('argv must be an array of strings');
  }
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => [k, String(v)]);
  return {
    argv,
    cwd: opts.cwd ?? undefined,
    env,
    timeoutMs: opts.timeoutMs === undefined ? undefined : BigInt(opts.timeoutMs),
    maxOutputBytes: opts.maxOutputBytes === undefined ? undefined : BigInt(opts.maxOutputBytes),
    stdin: opts.stdin ?? undefined,
  };
}

function toOutput(o) {
  return {
    exitCode: o.exitCode ?? null,
    stdout: o.stdout,
    stderr: o.stderr,
    truncated: o.truncated,
    timedOut: o.timedOut,
    durationMs: Number(o.durationMs),
  };
}

/**
 * Run commands in the agent's sandbox (needs the `exec` grant; without it
 * every function throws `ExecDenied`). `argv` is never passed through a
 * shell. Options: `cwd`, `env` (object), `timeoutMs`, `maxOutputBytes`,
 * `stdin`. A non-zero exit is not an error: read `exitCode`.
 */
export const exec = {
  run(argv, opts) {
    const cmd = toCommand(argv, opts);
    return toOutput(execCall(execImport().run, cmd));
  },
  spawn(argv, opts) {
    const cmd = toCommand(argv, opts);
    return execCall(execImport().spawn, cmd);
  },
  poll(job) {
    const s = execCall(execImport().poll, job);
    return { running: s.running, output: toOutput(s.output) };
  },
  kill(job) {
    const s = execCall(execImport().kill, job);
    return { running: s.running, output: toOutput(s.output) };
  },
};

// ---------------------------------------------------------------- input checks

function typeName(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return 'number';
  return typeof v;
}

const JSON_TYPES = {
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  array: (v) => Array.isArray(v),
  string: (v) => typeof v === 'string',
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === 'number',
  boolean: (v) => typeof v === 'boolean',
  null: (v) => v === null,
};

/**
 * Checks `value` against the parts of JSON Schema a tool input uses (`type`,
 * `properties`, `required`, `additionalProperties: false`, `items`, `enum`,
 * `minimum`/`maximum`, `minLength`/`maxLength`); throws
 * `ToolError('invalid-input')` naming the field.
 */
export function checkInput(schema, value, where = 'input') {
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!allowed.some((t) => (JSON_TYPES[t] ?? (() => true))(value))) {
      throw ToolError.invalidInput(`${where}: expected ${allowed.join(' or ')}, got ${typeName(value)}`);
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((c) => JSON.stringify(c) === JSON.stringify(value))) {
    throw ToolError.invalidInput(`${where}: must be one of ${schema.enum.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) throw ToolError.invalidInput(`${where}: must be at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) throw ToolError.invalidInput(`${where}: must be at most ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) throw ToolError.invalidInput(`${where}: must be at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) throw ToolError.invalidInput(`${where}: must be at most ${schema.maxLength} characters`);
  }
  if (JSON_TYPES.object(value)) {
    const props = schema.properties ?? {};
    for (const name of schema.required ?? []) {
      if (!Object.hasOwn(value, name)) throw ToolError.invalidInput(`${where}: missing field \`${name}\``);
    }
    for (const [name, item] of Object.entries(value)) {
      if (Object.hasOwn(props, name)) {
        checkInput(props[name], item, `${where}.${name}`);
      } else if (schema.additionalProperties === false) {
        const known = Object.keys(props).map((p) => `\`${p}\``).join(', ') || 'none';
        throw ToolError.invalidInput(`${where}: unknown field \`${name}\` (known fields: ${known})`);
      }
    }
  }
  if (Array.isArray(value) && schema.items && typeof schema.items === 'object') {
    value.forEach((item, i) => checkInput(schema.items, item, `${where}[${i}]`));
  }
}

// ---------------------------------------------------------------- tools

const NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** JSON with sorted keys and no whitespace (a stable prompt prefix). */
function stableJson(value) {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A context for native tests. */
export function testContext() {
  return { agentId: 'test-agent', callId: 'test-call', workspace: '/workspace' };
}

/**
 * The tools of one plugin and their dispatch. Declare each tool with
 * `tool({ name, description, inputSchema, readOnly, run })`; `run(input,
 * ctx)` returns a string or `{ content, structured }` (any JSON value), or
 * throws a `ToolError`. Export with `export const tools = toolbox.export()`.
 */
export class Toolbox {
  constructor() {
    this.specs = new Map();
  }

  /** Adds a tool; a malformed or duplicate name throws (the install or your first test catches it). */
  tool({ name, description, inputSchema, readOnly = false, run }) {
    if (typeof name !== 'string' || !NAME.test(name)) throw new TypeError(`tool name ${JSON.stringify(name)} must match ^[a-z][a-z0-9_]{0,63}$`);
    if (this.specs.has(name)) throw new TypeError(`tool ${JSON.stringify(name)} is declared twice`);
    if (typeof description !== 'string' || !description.trim()) throw new TypeError(`tool ${name}: the description is empty`);
    if (!JSON_TYPES.object(inputSchema) || inputSchema.type !== 'object') throw new TypeError(`tool ${name}: inputSchema must be an object with type "object"`);
    if (typeof run !== 'function') throw new TypeError(`tool ${name}: run must be a function`);
    this.specs.set(name, { name, description, inputSchema, readOnly: Boolean(readOnly), run });
    return this;
  }

  /** The tools as the model sees them (WIT `tool-spec`). */
  describe() {
    return [...this.specs.values()].map((s) => ({
      name: s.name,
      description: s.description,
      inputSchema: stableJson(s.inputSchema),
      readOnly: s.readOnly,
    }));
  }

  /** Parses and checks the input, runs the tool; returns `{content, structured}` or throws `ToolError`. */
  invoke(name, inputJson, ctx) {
    const spec = this.specs.get(name);
    if (!spec) {
      throw ToolError.unknownTool(`no tool named \`${name}\` in this plugin (its tools: ${[...this.specs.keys()].join(', ') || 'none'})`);
    }
    let input;
    try {
      input = JSON.parse(inputJson);
    } catch (e) {
      throw ToolError.invalidInput(`${name}: input is not JSON: ${e.message}`);
    }
    if (!JSON_TYPES.object(input)) throw ToolError.invalidInput(`${name}: input must be a JSON object, got ${typeName(input)}`);
    checkInput(spec.inputSchema, input, name);
    let out;
    try {
      out = spec.run(input, ctx);
    } catch (e) {
      if (e instanceof ToolError) throw e;
      if (e instanceof ExecError) {
        throw new ToolError(e.kind === 'denied' ? 'denied' : 'failed', `${name}: exec ${e.kind}: ${e.message}`);
      }
      const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      log.warn(`${name}: ${text}`);
      throw ToolError.failed(`${name}: ${text}`);
    }
    if (typeof out === 'string') return { content: out, structured: undefined };
    if (out && typeof out.content === 'string') {
      return { content: out.content, structured: out.structured === undefined ? undefined : stableJson(out.structured) };
    }
    throw ToolError.failed(`${name}: the tool returned ${typeName(out)}; expected a string or {content, structured}`);
  }

  /** The object componentize-js exports for the `tools` interface. */
  export() {
    return {
      describe: () => this.describe(),
      invoke: (name, input, context) => this.invoke(name, input, context),
    };
  }
}

// ---------------------------------------------------------------- assessors

const LEVELS = ['low', 'medium', 'high', 'critical'];
const ACTIONS = ['allow', 'ask', 'deny'];

/** Verdicts of a risk assessor: `{ level, action, reason }`. */
export const Assessment = {
  allow: (reason) => ({ level: 'low', action: 'allow', reason }),
  ask: (level, reason) => ({ level, action: 'ask', reason }),
  deny: (level, reason) => ({ level, action: 'deny', reason }),
  /** The more severe of two verdicts (higher level, then stricter action). */
  max: (a, b) => {
    const ka = [LEVELS.indexOf(a.level), ACTIONS.indexOf(a.action)];
    const kb = [LEVELS.indexOf(b.level), ACTIONS.indexOf(b.action)];
    return kb[0] > ka[0] || (kb[0] === ka[0] && kb[1] > ka[1]) ? b : a;
  },
};

/**
 * What the exported `assess` answers for a WIT `tool-call` (for tests).
 * Fails closed: input that is not an object, a throw or a malformed verdict
 * gives high/ask.
 */
export function assessRaw(fn, call) {
  let input;
  try {
    input = JSON.parse(call.input);
  } catch {
    input = null;
  }
  if (!JSON_TYPES.object(input)) return Assessment.ask('high', `the input of \`${call.tool}\` is not a JSON object`);
  let v;
  try {
    v = fn({ tool: call.tool, input, agentId: call.agentId, callId: call.callId });
  } catch (e) {
    log.error(`assessor threw: ${e}`);
    return Assessment.ask('high', `the assessor failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!v || !LEVELS.includes(v.level) || !ACTIONS.includes(v.action) || typeof v.reason !== 'string') {
    return Assessment.ask('high', 'the assessor answered a malformed verdict');
  }
  return { level: v.level, action: v.action, reason: v.reason };
}

/** `export const assessor = exportAssessor((call) => Assessment.allow('...'))`. */
export function exportAssessor(fn) {
  return { assess: (call) => assessRaw(fn, call) };
}

// ---------------------------------------------------------------- adapters

function parseObject(text) {
  try {
    const v = JSON.parse(text);
    return JSON_TYPES.object(v) ? v : null;
  } catch {
    return null;
  }
}

/** An MCP `CallToolResult` that is an error with `text`. */
export function errorResult(text) {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * Base class of MCP adapters: override `listTools(server, tools)` (tools are
 * `{name, description, inputSchema}` with the schema an object; answer
 * `{original, tool}` items), `onCall(call)` (answer `{forward: call}` or
 * `{refuse: text}`) and/or `onResult(call, result)`. Every default changes
 * nothing.
 */
export class Adapter {
  listTools(_server, tools) {
    return tools.map((tool) => ({ original: tool.name, tool }));
  }
  onCall(call) {
    return { forward: call };
  }
  onResult(_call, result) {
    return result;
  }
}

/** The JSON glue the exported adapter runs (for tests). Fails closed. */
export function adapterRaw(adapter) {
  return {
    listTools(server, tools) {
      const parsed = [];
      for (const t of tools) {
        const schema = parseObject(t.inputSchema);
        if (schema === null) {
          log.warn(`${server}: tool \`${t.name}\` has a schema that is not a JSON object; hidden`);
          continue;
        }
        parsed.push({ name: t.name, description: t.description, inputSchema: schema });
      }
      let shown;
      try {
        shown = adapter.listTools(server, parsed);
      } catch (e) {
        log.error(`listTools threw: ${e}`);
        return [];
      }
      return shown.map((s) => ({
        original: s.original,
        tool: { name: s.tool.name, description: s.tool.description, inputSchema: JSON.stringify(s.tool.inputSchema) },
      }));
    },
    onCall(call) {
      const args = parseObject(call.arguments);
      if (args === null) return { tag: 'refuse', val: `the arguments of \`${call.tool}\` are not a JSON object` };
      let d;
      try {
        d = adapter.onCall({ server: call.server, tool: call.tool, arguments: args });
      } catch (e) {
        log.error(`onCall threw: ${e}`);
        return { tag: 'refuse', val: `the MCP adapter failed: ${e instanceof Error ? e.message : String(e)}` };
      }
      if (d && typeof d.refuse === 'string') return { tag: 'refuse', val: d.refuse };
      if (d && d.forward && typeof d.forward.tool === 'string') {
        const c = d.forward;
        return { tag: 'forward', val: { server: c.server, tool: c.tool, arguments: JSON.stringify(c.arguments ?? {}) } };
      }
      return { tag: 'refuse', val: 'the MCP adapter answered neither {forward} nor {refuse}' };
    },
    onResult(call, result) {
      const args = parseObject(call.arguments);
      const res = parseObject(result);
      if (args === null || res === null) {
        return JSON.stringify(errorResult('the MCP adapter received malformed JSON; the result was withheld'));
      }
      try {
        const out = adapter.onResult({ server: call.server, tool: call.tool, arguments: args }, res);
        if (!JSON_TYPES.object(out)) return JSON.stringify(errorResult('the MCP adapter answered a result that is not an object; withheld'));
        return JSON.stringify(out);
      } catch (e) {
        log.error(`onResult threw: ${e}`);
        return JSON.stringify(errorResult('the MCP adapter failed; the result was withheld'));
      }
    },
  };
}

/** `export const adapter = exportAdapter(new MyAdapter())`. */
export function exportAdapter(adapter) {
  return adapterRaw(adapter);
}

// ---------------------------------------------------------------- files

/** A file operation failed; `code` is the WASI error code (`no-entry`, `access`, `not-permitted`, ...). */
export class FsError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'FsError';
    this.code = code;
  }
}

function fsCode(e) {
  if (e && e.payload !== undefined) return String(e.payload);
  return e instanceof Error ? e.message : String(e);
}

function fsCall(what, path, f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof FsError) throw e;
    const code = fsCode(e);
    throw new FsError(code, `${what} ${path}: ${code}`);
  }
}

/** The granted directory holding `path` and the path relative to it. */
function locate(path) {
  if (!bound.preopens) throw new FsError('unsupported', 'files are only available inside Paddock (a component of world `tool`)');
  if (typeof path !== 'string' || path === '') throw new FsError('invalid', 'the path must be a non-empty string');
  const absolute = path.startsWith('/') ? path : `/workspace/${path}`;
  let best = null;
  for (const [descriptor, guestPath] of bound.preopens.getDirectories()) {
    const root = guestPath.replace(/\/+$/, '') || '/';
    const inside = absolute === root || absolute.startsWith(root === '/' ? '/' : `${root}/`);
    if (inside && (!best || root.length > best.root.length)) best = { descriptor, root };
  }
  if (!best) throw new FsError('access', `${path}: not inside a granted directory`);
  const rest = absolute.slice(best.root.length).replace(/^\/+/, '') || '.';
  return { dir: best.descriptor, rest };
}

const utf8 = {
  decode: (bytes) => new TextDecoder().decode(bytes),
  encode: (text) => new TextEncoder().encode(text),
};

/**
 * Files in the directories the plugin was granted (`fs = [...]` in the
 * manifest and `fs:` grants), through WASI: `/workspace` is the agent's
 * workspace. A path that is not granted, or that climbs out with `..` or a
 * symlink, throws `FsError` (raised out of a tool, it becomes `failed`).
 */
export const fs = {
  /** The bytes of a file (Uint8Array). */
  readBytes(path) {
    const { dir, rest } = locate(path);
    return fsCall('read', path, () => {
      const file = dir.openAt({ symlinkFollow: true }, rest, {}, { read: true });
      const parts = [];
      let offset = 0n;
      for (;;) {
        const [chunk, end] = file.read(65536n, offset);
        parts.push(chunk);
        offset += BigInt(chunk.length);
        if (end || chunk.length === 0) break;
      }
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    });
  },
  /** The text of a UTF-8 file. */
  readText(path) {
    return utf8.decode(fs.readBytes(path));
  },
  /** Writes (creates or truncates) a file with `data` (a string or Uint8Array). */
  write(path, data) {
    const { dir, rest } = locate(path);
    const bytes = typeof data === 'string' ? utf8.encode(data) : data;
    fsCall('write', path, () => {
      const file = dir.openAt({ symlinkFollow: true }, rest, { create: true, truncate: true }, { write: true });
      let offset = 0n;
      while (offset < BigInt(bytes.length)) {
        const n = file.write(bytes.subarray(Number(offset)), offset);
        offset += n;
      }
    });
  },
  /** The names of a directory's entries, sorted. */
  list(path) {
    const { dir, rest } = locate(path);
    return fsCall('list', path, () => {
      const d = rest === '.' ? dir : dir.openAt({ symlinkFollow: true }, rest, { directory: true }, { read: true });
      const stream = d.readDirectory();
      const names = [];
      for (let e = stream.readDirectoryEntry(); e; e = stream.readDirectoryEntry()) names.push(e.name);
      return names.sort();
    });
  },
};

// ---------------------------------------------------------------- environment

/** Environment variables the plugin was granted (`env:NAME`); others are absent. */
export const env = {
  /** The variable's value, or `undefined`. */
  get(name) {
    if (!bound.environment) return undefined;
    const hit = bound.environment.getEnvironment().find(([k]) => k === name);
    return hit ? hit[1] : undefined;
  },
};

// ---------------------------------------------------------------- time

/**
 * Blocks for `ms` milliseconds (a WASI clock wait; the plugin's `timeout_ms`
 * still applies). Outside a component it busy-waits.
 */
export function sleep(ms) {
  if (!Number.isFinite(ms) || ms < 0) throw new TypeError('sleep: ms must be a non-negative number');
  if (bound.clock) {
    bound.clock.subscribeDuration(BigInt(Math.round(ms)) * 1000000n).block();
    return;
  }
  const end = Date.now() + ms;
  while (Date.now() < end) { /* native fallback */ }
}

// ---------------------------------------------------------------- network

/**
 * Why an HTTP request failed: `kind` is `denied` (the plugin was not granted
 * `net:HOST:PORT` for that host), `invalid` (a bad URL, method or header),
 * `unsupported` (outside Paddock) or `failed` (the connection or the
 * exchange failed; the message says how).
 */
export class NetError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'NetError';
    this.kind = kind;
  }
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

/** The WASI error code of a failed exchange, as text. */
function errorCodeText(code) {
  if (code && typeof code === 'object' && 'tag' in code) {
    return code.val === undefined ? code.tag : `${code.tag}: ${JSON.stringify(code.val, (_, v) => (typeof v === 'bigint' ? Number(v) : v))}`;
  }
  return String(code);
}

/**
 * Outgoing HTTP, synchronous (`wasi:http/outgoing-handler`): only to hosts
 * the plugin was granted (`net:HOST:PORT`); `https://` is verified by the
 * host. Throws `NetError`.
 */
export const net = {
  /**
   * Sends one request and reads the whole response.
   * @param {{url: string, method?: string, headers?: Record<string,string>, body?: string|Uint8Array, maxBytes?: number}} req
   * @returns {{status: number, headers: Record<string,string>, body: Uint8Array, text: () => string}}
   */
  request({ url, method = 'GET', headers = {}, body, maxBytes = 16 * 1024 * 1024 }) {
    const { httpOut, httpTypes } = bound;
    if (!httpOut || !httpTypes) throw new NetError('unsupported', 'the network is only available inside Paddock (a component of world `tool`)');
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      throw new NetError('invalid', `url: ${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new NetError('invalid', `url: only http:// and https:// are supported, not ${parsed.protocol}`);
    }
    const verb = String(method).toUpperCase();
    if (!METHODS.includes(verb)) throw new NetError('invalid', `method: ${JSON.stringify(method)} is not an HTTP method`);
    const enc = new TextEncoder();
    const bytes = body === undefined ? undefined : typeof body === 'string' ? enc.encode(body) : body;
    const list = Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]);
    if (bytes !== undefined && !list.some(([k]) => k === 'content-length')) list.push(['content-length', String(bytes.length)]);
    let fields;
    try {
      fields = httpTypes.Fields.fromList(list.map(([k, v]) => [k, enc.encode(v)]));
    } catch (e) {
      throw new NetError('invalid', `headers: ${errorCodeText(e && e.payload !== undefined ? e.payload : e)}`);
    }
    const req = new httpTypes.OutgoingRequest(fields);
    req.setMethod({ tag: verb.toLowerCase() });
    req.setScheme({ tag: parsed.protocol === 'https:' ? 'HTTPS' : 'HTTP' });
    req.setAuthority(parsed.host);
    req.setPathWithQuery(parsed.pathname + parsed.search);
    const outBody = req.body();
    let future;
    try {
      future = httpOut.handle(req, undefined);
    } catch (e) {
      throw netFailure(e);
    }
    if (bytes !== undefined) {
      const stream = outBody.write();
      for (let at = 0; at < bytes.length; at += 4096) stream.blockingWriteAndFlush(bytes.subarray(at, at + 4096));
      stream[Symbol.dispose]?.();
    }
    httpTypes.OutgoingBody.finish(outBody, undefined);
    future.subscribe().block();
    const got = future.get();
    if (!got || got.tag !== 'ok') throw new NetError('failed', 'the response was already taken');
    if (got.val.tag !== 'ok') throw netFailure(got.val.val);
    const resp = got.val.val;
    const out = {};
    const dec = new TextDecoder();
    for (const [k, v] of resp.headers().entries()) out[k] = k in out ? `${out[k]}, ${dec.decode(v)}` : dec.decode(v);
    const incoming = resp.consume();
    const stream = incoming.stream();
    const chunks = [];
    let size = 0;
    for (;;) {
      let chunk;
      try {
        chunk = stream.blockingRead(65536n);
      } catch (e) {
        const err = e && e.payload !== undefined ? e.payload : e;
        if (err && err.tag === 'closed') break;
        throw new NetError('failed', `reading the response: ${errorCodeText(err)}`);
      }
      size += chunk.length;
      if (size > maxBytes) throw new NetError('failed', `the response is larger than maxBytes (${maxBytes})`);
      chunks.push(chunk);
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return { status: resp.status(), headers: out, body: all, text: () => dec.decode(all) };
  },

  /** `request` with method GET. */
  get(url, options = {}) {
    return net.request({ ...options, url, method: 'GET' });
  },
};

/** A `NetError` for a WASI HTTP error code (`HTTP-request-denied`: not granted). */
function netFailure(e) {
  const code = e && e.payload !== undefined ? e.payload : e;
  const text = errorCodeText(code);
  if (code && code.tag === 'HTTP-request-denied') return new NetError('denied', `the plugin was not granted this host (${text})`);
  return new NetError('failed', text);
}
