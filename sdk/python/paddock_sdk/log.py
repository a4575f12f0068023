"""Structured logging into the host's log (the WIT ``log`` import).

Lines are tagged by the host with the plugin, the agent and the tool call;
the model never sees them. Outside a component (native tests) they go to
standard error.
"""

import sys

_LEVELS = ("trace", "debug", "info", "warn", "error")


def _emit(level: str, message: str) -> None:
    text = str(message)
    try:
        from wit_world.imports import log as _wit_log  # type: ignore
    except ImportError:
        print(f"[{level}] {text}", file=sys.stderr)
        return
    _wit_log.log(getattr(_wit_log.Level, level.upper()), text)


def trace(message: str) -> None:
    """Log at trace level."""
    _emit("trace", message)


def debug(message: str) -> None:
    """Log at debug level."""
    _emit("debug", message)


def info(message: str) -> None:
    """Log at info level."""
    _emit("info", message)


def warn(message: str) -> None:
    """Log at warn level."""
    _emit("warn", message)


def error(message: str) -> None:
    """Log at error level."""
    _emit("error", message)
