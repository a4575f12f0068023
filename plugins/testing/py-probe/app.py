"""py-probe: a test plugin in Python whose tools each attempt one thing (a
capability escape or a fault) and report what happened.

Built with componentize-py and the Python SDK (sdk/python) by the capability
matrix (tests/capabilities_polyglot.rs); never installed by default.
"""

import os
import socket
import time

from paddock_sdk import exec, log
from paddock_sdk.tool import ToolError, Toolbox

#: Calls served by this instance: a fresh instance per call keeps it at 1.
CALLS = 0

toolbox = Toolbox()

PATH = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}


@toolbox.tool("probe_read", "Read a file with open(); returns its text.", PATH, read_only=True)
def probe_read(input, ctx):
    path = input["path"]
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ToolError.failed(f"read {path}: {e}")


@toolbox.tool(
    "probe_write",
    "Write `content` to a file with open(..., 'w').",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
def probe_write(input, ctx):
    path = input["path"]
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(input["content"])
    except OSError as e:
        raise ToolError.failed(f"write {path}: {e}")
    return f"wrote {len(input['content'])} bytes to {path}"


@toolbox.tool("probe_list", "List a directory's entry names, sorted, one per line.", PATH, read_only=True)
def probe_list(input, ctx):
    path = input["path"]
    try:
        return "\n".join(sorted(os.listdir(path)))
    except OSError as e:
        raise ToolError.failed(f"list {path}: {e}")


@toolbox.tool(
    "probe_connect",
    "Open a TCP connection to `addr` (host:port) with the socket module; returns what the peer sent.",
    {"type": "object", "properties": {"addr": {"type": "string"}}, "required": ["addr"]},
    read_only=True,
)
def probe_connect(input, ctx):
    addr = input["addr"]
    host, _, port = addr.rpartition(":")
    try:
        # An IP address: the socket module's name lookups need the `idna`
        # codec, which componentize-py's standard library lacks.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect((host, int(port)))
            chunks = []
            while True:
                data = s.recv(4096)
                if not data:
                    break
                chunks.append(data)
    except (OSError, ValueError) as e:
        raise ToolError.failed(f"connect {addr}: {e}")
    return f"connected to {addr}: {b''.join(chunks).decode('utf-8', 'replace').rstrip()}"


@toolbox.tool(
    "probe_env",
    "Read an environment variable from os.environ.",
    {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    read_only=True,
)
def probe_env(input, ctx):
    name = input["name"]
    value = os.environ.get(name)
    if value is None:
        raise ToolError.failed(f"env {name}: not present")
    return value


@toolbox.tool(
    "probe_exec",
    "Run a command through the exec import; errors carry the exec-error kind.",
    {"type": "object", "properties": {"argv": {"type": "array", "items": {"type": "string"}}}, "required": ["argv"]},
)
def probe_exec(input, ctx):
    out = exec.run(input["argv"], timeout_ms=5000)
    return f"exit {out.exit_code}\n{out.stdout}{out.stderr}"


@toolbox.tool("probe_spin", "Loop forever without yielding.", {"type": "object"}, read_only=True)
def probe_spin(input, ctx):
    log.info("probe_spin: looping forever")
    n = 0
    while True:
        n += 1


@toolbox.tool(
    "probe_sleep",
    "Sleep for `ms` milliseconds (blocks in a host call).",
    {"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}, "required": ["ms"]},
    read_only=True,
)
def probe_sleep(input, ctx):
    time.sleep(input["ms"] / 1000)
    return f"slept {input['ms']} ms"


@toolbox.tool(
    "probe_alloc",
    "Allocate and touch `bytes` bytes of memory, in 1 MiB chunks.",
    {"type": "object", "properties": {"bytes": {"type": "integer", "minimum": 0}}, "required": ["bytes"]},
    read_only=True,
)
def probe_alloc(input, ctx):
    total = input["bytes"]
    chunks = []
    left = total
    while left > 0:
        size = min(left, 1 << 20)
        chunk = bytearray(size)
        for i in range(0, size, 4096):
            chunk[i] = 1
        chunks.append(chunk)
        left -= size
    touched = sum(sum(c[i] for i in range(0, len(c), 4096)) for c in chunks)
    return f"allocated {total} bytes ({touched} pages touched)"


@toolbox.tool(
    "probe_raise",
    "Raise RuntimeError(`message`) from the handler.",
    {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
    read_only=True,
)
def probe_raise(input, ctx):
    raise RuntimeError(input["message"])


@toolbox.tool(
    "probe_big_output",
    "Return a content string of `bytes` bytes.",
    {"type": "object", "properties": {"bytes": {"type": "integer", "minimum": 0}}, "required": ["bytes"]},
    read_only=True,
)
def probe_big_output(input, ctx):
    return "x" * input["bytes"]


@toolbox.tool("probe_echo", "Return `ok` and the call context.", {"type": "object"}, read_only=True)
def probe_echo(input, ctx):
    log.info("probe_echo called")
    return f"ok\nagent_id={ctx.agent_id}\ncall_id={ctx.call_id}\nworkspace={ctx.workspace}"


@toolbox.tool(
    "probe_counter",
    "Increment a module-level counter and return it (1 with a fresh instance per call).",
    {"type": "object"},
    read_only=True,
)
def probe_counter(input, ctx):
    global CALLS
    CALLS += 1
    return str(CALLS)


Tools = toolbox.export()
