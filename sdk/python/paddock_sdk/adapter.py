"""MCP adapters (the WIT world ``mcp-adapter``).

Subclass ``Adapter`` and override what your adapter is for -- every method
has a default that changes nothing -- then export it::

    from paddock_sdk.adapter import Adapter, Forward, Refuse, export_adapter

    class Tidy(Adapter):
        def list_tools(self, server, tools):
            return [t.show() for t in tools if not t.name.startswith("delete_")]

        def on_call(self, call):
            if call.tool.startswith("delete_"):
                return Refuse("deleting is not allowed here")
            return Forward(call)

    Adapter = export_adapter(Tidy())   # rebinds the name componentize-py looks for

The SDK fails closed: malformed JSON from the host hides the tool, refuses
the call or replaces the result with an error result; an exception in your
method does the same.
"""

import json
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Union

from . import log


@dataclass
class McpTool:
    """A tool as the server lists it (``input_schema`` is a dict)."""

    name: str
    description: str
    input_schema: Dict[str, Any]

    def show(self) -> "ShownTool":
        """Show the tool unchanged."""
        return ShownTool(self.name, self)

    def show_as(self, name: str, description: Optional[str] = None) -> "ShownTool":
        """Show the tool renamed (and optionally re-described)."""
        return ShownTool(self.name, McpTool(name, description if description is not None else self.description,
                                            self.input_schema))


@dataclass
class ShownTool:
    """A tool agents see; ``original`` is the server's name for it."""

    original: str
    tool: McpTool


@dataclass
class McpCall:
    """A call to an MCP tool (``arguments`` is a dict)."""

    server: str
    tool: str
    arguments: Dict[str, Any]


@dataclass
class Forward:
    """Send this (possibly rewritten) call to the server."""

    call: McpCall


@dataclass
class Refuse:
    """Do not send the call; the text goes back to the model as a tool error."""

    reason: str


Decision = Union[Forward, Refuse]


def error_result(text: str) -> Dict[str, Any]:
    """An MCP ``CallToolResult`` that is an error with ``text``."""
    return {"content": [{"type": "text", "text": text}], "isError": True}


class Adapter:
    """Base class: override ``list_tools``, ``on_call`` and/or ``on_result``."""

    def list_tools(self, server: str, tools: List[McpTool]) -> List[ShownTool]:
        """Which tools agents see, and how. Default: all, unchanged."""
        return [t.show() for t in tools]

    def on_call(self, call: McpCall) -> Decision:
        """Inspect a call (with the name shown to the agent). Default: forward."""
        return Forward(call)

    def on_result(self, call: McpCall, result: Dict[str, Any]) -> Dict[str, Any]:
        """Inspect (e.g. redact) a ``CallToolResult``. Default: unchanged."""
        return result


def _obj(text: str) -> Optional[Dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Raw:
    """The JSON glue the exported component runs, as plain Python (for tests)."""

    def __init__(self, adapter: Adapter):
        self.adapter = adapter

    def list_tools(self, server: str, tools: List[tuple]) -> List[tuple]:
        """``tools``: (name, description, schema JSON); answers (original, name, description, schema JSON)."""
        parsed = []
        for name, description, schema in tools:
            obj = _obj(schema)
            if obj is None:
                log.warn(f"{server}: tool `{name}` has a schema that is not a JSON object; hidden")
                continue
            parsed.append(McpTool(name, description, obj))
        try:
            shown = self.adapter.list_tools(server, parsed)
        except Exception as e:  # noqa: BLE001 -- fail closed: show nothing
            log.error(f"list_tools raised {type(e).__name__}: {e}")
            return []
        return [(s.original, s.tool.name, s.tool.description, _dump(s.tool.input_schema)) for s in shown]

    def on_call(self, server: str, tool: str, arguments: str) -> Union[tuple, str]:
        """Answers (server, tool, arguments JSON) to forward, or a refusal text."""
        args = _obj(arguments)
        if args is None:
            return f"the arguments of `{tool}` are not a JSON object"
        try:
            decision = self.adapter.on_call(McpCall(server, tool, args))
        except Exception as e:  # noqa: BLE001 -- fail closed
            log.error(f"on_call raised {type(e).__name__}: {e}")
            return f"the MCP adapter failed: {type(e).__name__}: {e}"
        if isinstance(decision, Refuse):
            return decision.reason
        if isinstance(decision, Forward):
            c = decision.call
            return (c.server, c.tool, _dump(c.arguments))
        return f"the MCP adapter answered {type(decision).__name__}, not Forward or Refuse"

    def on_result(self, server: str, tool: str, arguments: str, result: str) -> str:
        """Answers the (possibly changed) result JSON."""
        args = _obj(arguments)
        res = _obj(result)
        if args is None or res is None:
            return _dump(error_result("the MCP adapter received malformed JSON; the result was withheld"))
        try:
            out = self.adapter.on_result(McpCall(server, tool, args), res)
        except Exception as e:  # noqa: BLE001 -- fail closed
            log.error(f"on_result raised {type(e).__name__}: {e}")
            return _dump(error_result(f"the MCP adapter failed; the result was withheld ({type(e).__name__})"))
        if not isinstance(out, dict):
            return _dump(error_result("the MCP adapter answered a result that is not an object; withheld"))
        return _dump(out)


def export_adapter(adapter: Adapter):
    """The class componentize-py exports for the ``adapter`` interface:
    write ``Adapter = export_adapter(MyAdapter())`` in your app module."""
    raw = Raw(adapter)

    class Exported:
        def list_tools(self, server, tools):
            from wit_world.exports import adapter as wit  # type: ignore

            out = raw.list_tools(server, [(t.name, t.description, t.input_schema) for t in tools])
            return [wit.Shown(original=o, tool=wit.McpTool(name=n, description=d, input_schema=s))
                    for o, n, d, s in out]

        def on_call(self, call):
            from wit_world.exports import adapter as wit  # type: ignore

            out = raw.on_call(call.server, call.tool, call.arguments)
            if isinstance(out, str):
                return wit.CallDecision_Refuse(out)
            server, tool, arguments = out
            return wit.CallDecision_Forward(wit.McpCall(server=server, tool=tool, arguments=arguments))

        def on_result(self, call, result):
            return raw.on_result(call.server, call.tool, call.arguments, result)

    Exported.__name__ = "Adapter"
    return Exported


__all__ = ["Adapter", "Forward", "McpCall", "McpTool", "Raw", "Refuse", "ShownTool", "error_result",
           "export_adapter", "replace"]
