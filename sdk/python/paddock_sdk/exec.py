"""Run commands in the agent's sandbox (the WIT ``exec`` import, world ``tool``).

Only a plugin granted ``exec`` can run anything; without the grant every
function raises ``ExecDenied``. Errors are typed exceptions, all subclasses
of ``ExecError``; raised out of a tool handler, ``ExecDenied`` becomes the
tool error ``denied`` and the others ``failed``.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence


class ExecError(Exception):
    """A command could not be run (base class; see the subclasses)."""

    kind = "failed"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ExecDenied(ExecError):
    """The plugin was not granted ``exec``."""

    kind = "denied"


class ExecUnavailable(ExecError):
    """No sandbox is available for this agent; the text says why."""

    kind = "unavailable"


class ExecInvalid(ExecError):
    """The request was malformed (empty argv, bad cwd, unknown job...)."""

    kind = "invalid"


class ExecFailed(ExecError):
    """The sandbox failed to run the command."""

    kind = "failed"


@dataclass
class Output:
    """The outcome of a finished (or killed) command."""

    exit_code: Optional[int]
    stdout: str
    stderr: str
    truncated: bool
    timed_out: bool
    duration_ms: int


@dataclass
class JobStatus:
    """State of a background job."""

    running: bool
    output: Output


@dataclass
class Command:
    """A command: ``argv`` is never passed through a shell."""

    argv: List[str]
    cwd: Optional[str] = None
    env: Dict[str, str] = field(default_factory=dict)
    timeout_ms: Optional[int] = None
    max_output_bytes: Optional[int] = None
    stdin: Optional[str] = None


def _bindings():
    try:
        from wit_world.imports import exec as wit_exec  # type: ignore
    except ImportError:
        raise ExecUnavailable("exec is only available inside Paddock (a component of world `tool`)") from None
    return wit_exec


def _raise(err) -> None:
    name = type(err).__name__
    text = getattr(err, "value", str(err))
    for suffix, cls in (("Denied", ExecDenied), ("Unavailable", ExecUnavailable), ("Invalid", ExecInvalid)):
        if name.endswith(suffix):
            raise cls(text) from None
    raise ExecFailed(text) from None


def _call(fn, arg):
    from componentize_py_types import Err  # type: ignore

    try:
        return fn(arg)
    except Err as e:
        _raise(e.value)


def _output(o) -> Output:
    return Output(o.exit_code, o.stdout, o.stderr, o.truncated, o.timed_out, o.duration_ms)


def _command(cmd: Command):
    if isinstance(cmd.argv, str) or not all(isinstance(a, str) for a in cmd.argv):
        raise ExecInvalid("argv must be a list of strings")
    wit_exec = _bindings()
    return wit_exec.Command(
        argv=list(cmd.argv),
        cwd=cmd.cwd,
        env=sorted(cmd.env.items()),
        timeout_ms=cmd.timeout_ms,
        max_output_bytes=cmd.max_output_bytes,
        stdin=cmd.stdin,
    )


def _as_command(argv, kwargs) -> Command:
    if isinstance(argv, Command):
        if kwargs:
            raise TypeError("pass either a Command or argv with keyword arguments, not both")
        return argv
    return Command(list(argv), **kwargs)


def run(argv, **kwargs) -> Output:
    """Run a command to completion (or to its timeout).

    ``run(["git", "status"], cwd=None, env={}, timeout_ms=None,
    max_output_bytes=None, stdin=None)`` or ``run(Command(...))``.
    A non-zero exit is not an error: read ``exit_code``.
    """
    cmd = _command(_as_command(argv, kwargs))
    return _output(_call(_bindings().run, cmd))


def spawn(argv, **kwargs) -> str:
    """Start a command in the background; returns its job id."""
    cmd = _command(_as_command(argv, kwargs))
    return _call(_bindings().spawn, cmd)


def poll(job: str) -> JobStatus:
    """A background job's state and output so far."""
    s = _call(_bindings().poll, job)
    return JobStatus(s.running, _output(s.output))


def kill(job: str) -> JobStatus:
    """Kill a background job and its whole process tree."""
    s = _call(_bindings().kill, job)
    return JobStatus(s.running, _output(s.output))


__all__: Sequence[str] = (
    "Command",
    "ExecDenied",
    "ExecError",
    "ExecFailed",
    "ExecInvalid",
    "ExecUnavailable",
    "JobStatus",
    "Output",
    "kill",
    "poll",
    "run",
    "spawn",
)
