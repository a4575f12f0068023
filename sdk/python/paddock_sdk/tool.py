"""Tools for agents (the WIT world ``tool``).

Declare each tool with a name, a description written for the model and the
JSON Schema of its input; the toolbox answers ``describe``, parses and checks
the input, dispatches ``invoke`` to your handler and turns exceptions into
tool errors::

    from paddock_sdk.tool import Toolbox, ToolError

    toolbox = Toolbox()

    @toolbox.tool("shout", "Upper-case `text`.", {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    }, read_only=True)
    def shout(input, ctx):
        return input["text"].upper()

    Tools = toolbox.export()   # the class componentize-py looks for
"""

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Union

from . import log
from .exec import ExecError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ToolError(Exception):
    """A tool call failed; the message is shown to the model and the user.

    Raise one of the constructors: ``ToolError.invalid_input(msg)`` (name
    the field), ``ToolError.denied(msg)``, ``ToolError.failed(msg)``;
    ``unknown_tool`` is produced for you.
    """

    KINDS = ("invalid-input", "unknown-tool", "denied", "failed")

    def __init__(self, kind: str, message: str):
        if kind not in self.KINDS:
            raise ValueError(f"unknown tool error kind {kind!r}; expected one of {', '.join(self.KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = message

    @classmethod
    def invalid_input(cls, message: str) -> "ToolError":
        """The input made no sense (name the field)."""
        return cls("invalid-input", message)

    @classmethod
    def unknown_tool(cls, name: str) -> "ToolError":
        """This plugin has no tool of that name."""
        return cls("unknown-tool", name)

    @classmethod
    def denied(cls, message: str) -> "ToolError":
        """A capability the call needs was not granted."""
        return cls("denied", message)

    @classmethod
    def failed(cls, message: str) -> "ToolError":
        """The call was valid but did not work."""
        return cls("failed", message)

    def __repr__(self) -> str:
        return f"ToolError({self.kind!r}, {self.message!r})"


@dataclass
class ToolOutput:
    """A result: ``content`` for the model, ``structured`` (any JSON value) for
    the dashboard and API clients."""

    content: str
    structured: Any = None


@dataclass
class CallContext:
    """The call being served."""

    agent_id: str
    call_id: str
    workspace: str = "/workspace"

    @classmethod
    def for_tests(cls) -> "CallContext":
        """A context for native tests."""
        return cls("test-agent", "test-call", "/workspace")


@dataclass
class ToolSpec:
    """A tool as the model sees it."""

    name: str
    description: str
    input_schema: Dict[str, Any]
    read_only: bool


Handler = Callable[[Dict[str, Any], CallContext], Union[str, ToolOutput]]

_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def check_input(schema: Dict[str, Any], value: Any, where: str = "input") -> None:
    """Check ``value`` against the parts of JSON Schema a tool input uses:
    ``type``, ``properties``, ``required``, ``additionalProperties: false``,
    ``items``, ``enum``, ``minimum``/``maximum``, ``minLength``/``maxLength``.
    Raises ``ToolError.invalid_input`` naming the field."""
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_JSON_TYPES.get(t, lambda _v: True)(value) for t in allowed):
            raise ToolError.invalid_input(f"{where}: expected {' or '.join(allowed)}, got {_type_name(value)}")
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(json.dumps(c) for c in schema["enum"])
        raise ToolError.invalid_input(f"{where}: must be one of {choices}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ToolError.invalid_input(f"{where}: must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ToolError.invalid_input(f"{where}: must be at most {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ToolError.invalid_input(f"{where}: must be at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ToolError.invalid_input(f"{where}: must be at most {schema['maxLength']} characters")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise ToolError.invalid_input(f"{where}: missing field `{name}`")
        for name, item in value.items():
            if name in props:
                check_input(props[name], item, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                known = ", ".join(f"`{p}`" for p in props) or "none"
                raise ToolError.invalid_input(f"{where}: unknown field `{name}` (known fields: {known})")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            check_input(schema["items"], item, f"{where}[{i}]")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Toolbox:
    """The tools of one plugin, and their dispatch."""

    def __init__(self) -> None:
        self._tools: Dict[str, ToolSpec] = {}
        self._handlers: Dict[str, Handler] = {}

    def add(self, name: str, description: str, input_schema: Dict[str, Any], handler: Handler,
            read_only: bool = False) -> "Toolbox":
        """Add a tool. ``input_schema`` is a JSON Schema (a dict) whose top
        level is ``{"type": "object", ...}``. A malformed or duplicate name
        raises ``ValueError`` (your first test or the install catches it)."""
        if not _NAME.match(name):
            raise ValueError(f"tool name {name!r} must match ^[a-z][a-z0-9_]{{0,63}}$")
        if name in self._tools:
            raise ValueError(f"tool {name!r} is declared twice")
        if not isinstance(input_schema, dict) or input_schema.get("type") != "object":
            raise ValueError(f"tool {name!r}: input_schema must be a dict with \"type\": \"object\"")
        if not description.strip():
            raise ValueError(f"tool {name!r}: the description is empty")
        self._tools[name] = ToolSpec(name, description, input_schema, read_only)
        self._handlers[name] = handler
        return self

    def tool(self, name: str, description: str, input_schema: Dict[str, Any], read_only: bool = False):
        """Decorator form of ``add``."""

        def register(handler: Handler) -> Handler:
            self.add(name, description, input_schema, handler, read_only)
            return handler

        return register

    def describe(self) -> List[ToolSpec]:
        """The tools, in declaration order."""
        return list(self._tools.values())

    def invoke(self, name: str, input_json: str, ctx: CallContext) -> ToolOutput:
        """Parse and check ``input_json``, run the handler, and return its
        output; raises ``ToolError`` (any other exception from the handler
        becomes ``failed``, an ``ExecError`` ``denied`` or ``failed``)."""
        spec = self._tools.get(name)
        if spec is None:
            known = ", ".join(self._tools) or "none"
            raise ToolError.unknown_tool(f"no tool named `{name}` in this plugin (its tools: {known})")
        try:
            value = json.loads(input_json)
        except ValueError as e:
            raise ToolError.invalid_input(f"{name}: input is not JSON: {e}") from None
        if not isinstance(value, dict):
            raise ToolError.invalid_input(f"{name}: input must be a JSON object, got {_type_name(value)}")
        check_input(spec.input_schema, value, name)
        try:
            out = self._handlers[name](value, ctx)
        except ToolError:
            raise
        except ExecError as e:
            kind = "denied" if e.kind == "denied" else "failed"
            raise ToolError(kind, f"{name}: exec {e.kind}: {e.message}") from None
        except Exception as e:  # noqa: BLE001 -- every failure is the model's to read
            log.warn(f"{name}: {type(e).__name__}: {e}")
            raise ToolError.failed(f"{name}: {type(e).__name__}: {e}") from None
        if isinstance(out, str):
            return ToolOutput(out)
        if isinstance(out, ToolOutput):
            return out
        raise ToolError.failed(f"{name}: the handler returned {type(out).__name__}; expected str or ToolOutput")

    def export(self):
        """The class componentize-py exports for the ``tools`` interface:
        write ``Tools = toolbox.export()`` at the top level of your app module."""
        toolbox = self

        class Tools:
            def describe(self):
                from wit_world.imports import types  # type: ignore

                return [
                    types.ToolSpec(
                        name=s.name,
                        description=s.description,
                        input_schema=json.dumps(s.input_schema, sort_keys=True, separators=(",", ":")),
                        read_only=s.read_only,
                    )
                    for s in toolbox.describe()
                ]

            def invoke(self, name, input, context):
                from componentize_py_types import Err  # type: ignore
                from wit_world.imports import types  # type: ignore

                ctx = CallContext(context.agent_id, context.call_id, context.workspace)
                try:
                    out = toolbox.invoke(name, input, ctx)
                except ToolError as e:
                    cls = {
                        "invalid-input": types.ToolError_InvalidInput,
                        "unknown-tool": types.ToolError_UnknownTool,
                        "denied": types.ToolError_Denied,
                        "failed": types.ToolError_Failed,
                    }[e.kind]
                    raise Err(cls(e.message)) from None
                structured = None
                if out.structured is not None:
                    try:
                        structured = json.dumps(out.structured, sort_keys=True, separators=(",", ":"))
                    except (TypeError, ValueError) as e:
                        raise Err(types.ToolError_Failed(f"{name}: structured output is not JSON: {e}")) from None
                return types.ToolOutput(content=out.content, structured=structured)

        return Tools


__all__ = ["CallContext", "ToolError", "ToolOutput", "ToolSpec", "Toolbox", "check_input"]
