"""Paddock plugin SDK for Python.

Write a Paddock plugin -- a WebAssembly component built with componentize-py --
as ordinary Python:

- ``paddock_sdk.tool``: tools for agents (world ``tool``): ``Toolbox``,
  ``ToolError``, ``ToolOutput``, ``CallContext``;
- ``paddock_sdk.exec``: run commands in the agent's sandbox (``exec`` grant);
- ``paddock_sdk.assessor``: risk assessors (world ``risk-assessor``);
- ``paddock_sdk.adapter``: MCP adapters (world ``mcp-adapter``);
- ``paddock_sdk.log``: the host's log (every world).

Each module imports the component bindings (``wit_world``) only when the
component runs, so the same code also runs natively, e.g. under pytest.
"""

__version__ = "0.1.0"

#: The WIT package version this SDK targets (its files are in ``sdk/python/wit``).
WIT_VERSION = "0.2.0"
