"""Risk assessors (the WIT world ``risk-assessor``).

Write one function from a ``ToolCall`` to an ``Assessment`` and export it::

    from paddock_sdk.assessor import Assessment, Level, export_assessor

    def assess(call):
        if call.tool == "execute_bash" and "sudo" in call.str_field("command", ""):
            return Assessment.ask(Level.HIGH, "runs a command as root with sudo")
        return Assessment.allow("no rule applies")

    Assessor = export_assessor(assess)

The SDK fails closed: input that is not a JSON object, an exception in your
function or an answer that is not an ``Assessment`` gives high/ask, never allow.
"""

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, Dict, Optional

from . import log


class Level(IntEnum):
    """How risky a call is; ordered, so ``max`` picks the more severe."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3


class Action(IntEnum):
    """What should happen; ordered from the most to the least permissive."""

    ALLOW = 0
    ASK = 1
    DENY = 2


@dataclass
class ToolCall:
    """A tool call before it runs; ``input`` is always a dict."""

    tool: str
    input: Dict[str, Any]
    agent_id: str
    call_id: str

    def str_field(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The input's string field ``name``, or ``default``."""
        value = self.input.get(name)
        return value if isinstance(value, str) else default


@dataclass
class Assessment:
    """A verdict: level, suggested action, and a one-sentence reason."""

    level: Level
    action: Action
    reason: str

    @classmethod
    def allow(cls, reason: str) -> "Assessment":
        """Low risk, allow."""
        return cls(Level.LOW, Action.ALLOW, reason)

    @classmethod
    def ask(cls, level: Level, reason: str) -> "Assessment":
        """Ask a human first."""
        return cls(Level(level), Action.ASK, reason)

    @classmethod
    def deny(cls, level: Level, reason: str) -> "Assessment":
        """Refuse the call."""
        return cls(Level(level), Action.DENY, reason)

    def max(self, other: "Assessment") -> "Assessment":
        """The more severe of two verdicts (higher level, then stricter action)."""
        return other if (other.level, other.action) > (self.level, self.action) else self


def assess_json(fn: Callable[[ToolCall], Assessment], tool: str, input_json: str, agent_id: str,
                call_id: str) -> Assessment:
    """What the exported ``assess`` answers, as plain Python (for tests)."""
    try:
        value = json.loads(input_json)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return Assessment.ask(Level.HIGH, f"the input of `{tool}` is not a JSON object")
    try:
        verdict = fn(ToolCall(tool, value, agent_id, call_id))
    except Exception as e:  # noqa: BLE001 -- fail closed
        log.error(f"assessor raised {type(e).__name__}: {e}")
        return Assessment.ask(Level.HIGH, f"the assessor failed: {type(e).__name__}: {e}")
    if not isinstance(verdict, Assessment):
        return Assessment.ask(Level.HIGH, f"the assessor answered {type(verdict).__name__}, not an Assessment")
    return verdict


def export_assessor(fn: Callable[[ToolCall], Assessment]):
    """The class componentize-py exports for the ``assessor`` interface:
    write ``Assessor = export_assessor(assess)`` in your app module."""

    class Assessor:
        def assess(self, call):
            from wit_world.imports import types  # type: ignore

            v = assess_json(fn, call.tool, call.input, call.agent_id, call.call_id)
            return types.Assessment(
                level=types.RiskLevel[v.level.name],
                action=types.Action[v.action.name],
                reason=v.reason,
            )

    return Assessor


__all__ = ["Action", "Assessment", "Level", "ToolCall", "assess_json", "export_assessor"]
