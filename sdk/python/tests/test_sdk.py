"""Native tests of paddock_sdk (no component): run with
`python3 -m unittest discover -s tests` in sdk/python (tests/sdk_polyglot.rs does)."""

import json
import unittest

from paddock_sdk import adapter, assessor, exec
from paddock_sdk.tool import CallContext, ToolError, ToolOutput, Toolbox

SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer", "minimum": 1},
        "mode": {"enum": ["a", "b"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["n"],
    "additionalProperties": False,
}


def toolbox():
    tb = Toolbox()

    @tb.tool("double", "Double `n`.", SCHEMA, read_only=True)
    def double(input, ctx):
        return str(input["n"] * 2)

    @tb.tool("rich", "Structured.", {"type": "object"})
    def rich(input, ctx):
        return ToolOutput("text", {"k": [1, 2]})

    @tb.tool("boom", "Raises.", {"type": "object"})
    def boom(input, ctx):
        raise KeyError("nope")

    @tb.tool("needs_exec", "Runs a command.", {"type": "object"})
    def needs_exec(input, ctx):
        return exec.run(["true"]).stdout

    return tb


def error(tb, name, text):
    try:
        tb.invoke(name, text, CallContext.for_tests())
    except ToolError as e:
        return e.kind, e.message
    raise AssertionError(f"{name} {text} did not fail")


class ToolboxTests(unittest.TestCase):
    def test_dispatch_and_describe(self):
        tb = toolbox()
        self.assertEqual(tb.invoke("double", '{"n": 4}', CallContext.for_tests()).content, "8")
        self.assertEqual([s.name for s in tb.describe()], ["double", "rich", "boom", "needs_exec"])
        self.assertTrue(tb.describe()[0].read_only)
        out = tb.invoke("rich", "{}", CallContext.for_tests())
        self.assertEqual(out.structured, {"k": [1, 2]})

    def test_input_is_checked_naming_the_field(self):
        tb = toolbox()
        cases = {
            "{}": "double: missing field `n`",
            '{"n": "x"}': "double.n: expected integer, got string",
            '{"n": 0}': "double.n: must be at least 1",
            '{"n": 1, "x": 2}': "double: unknown field `x` (known fields: `n`, `mode`, `tags`)",
            '{"n": 1, "mode": "c"}': 'double.mode: must be one of "a", "b"',
            '{"n": 1, "tags": ["a", 3]}': "double.tags[1]: expected string, got number",
            "[1]": "double: input must be a JSON object, got array",
        }
        for text, message in cases.items():
            self.assertEqual(error(tb, "double", text), ("invalid-input", message), text)
        kind, message = error(tb, "double", "not json")
        self.assertEqual(kind, "invalid-input")
        self.assertIn("input is not JSON", message)

    def test_errors_become_tool_errors(self):
        tb = toolbox()
        self.assertEqual(error(tb, "nope", "{}")[0], "unknown-tool")
        self.assertEqual(error(tb, "boom", "{}"), ("failed", "boom: KeyError: 'nope'"))
        kind, message = error(tb, "needs_exec", "{}")
        self.assertEqual(kind, "failed")
        self.assertIn("exec unavailable", message)

    def test_bad_declarations_are_refused(self):
        tb = Toolbox()
        with self.assertRaises(ValueError):
            tb.add("Bad", "d", {"type": "object"}, lambda i, c: "")
        with self.assertRaises(ValueError):
            tb.add("ok", "d", {"type": "string"}, lambda i, c: "")
        tb.add("ok", "d", {"type": "object"}, lambda i, c: "")
        with self.assertRaises(ValueError):
            tb.add("ok", "d", {"type": "object"}, lambda i, c: "")


class AssessorTests(unittest.TestCase):
    def test_verdicts_and_fail_closed(self):
        A, L = assessor.Assessment, assessor.Level

        def fn(call):
            if call.str_field("command") == "sudo x":
                return A.deny(L.CRITICAL, "root")
            if call.tool == "raise":
                raise RuntimeError("bug")
            if call.tool == "junk":
                return "allow"
            return A.allow("fine")

        run = lambda tool, text: assessor.assess_json(fn, tool, text, "a", "c")
        self.assertEqual(run("t", '{"command": "ls"}').action, assessor.Action.ALLOW)
        self.assertEqual(run("t", '{"command": "sudo x"}').level, L.CRITICAL)
        for tool, text in [("t", "[]"), ("t", "nope"), ("raise", "{}"), ("junk", "{}")]:
            v = run(tool, text)
            self.assertEqual((v.level, v.action), (L.HIGH, assessor.Action.ASK), (tool, text))
        self.assertEqual(A.allow("a").max(A.ask(L.MEDIUM, "b")).reason, "b")


class AdapterTests(unittest.TestCase):
    def test_glue_and_fail_closed(self):
        class Tidy(adapter.Adapter):
            def list_tools(self, server, tools):
                return [t.show_as("search") for t in tools if t.name == "search_repos"]

            def on_call(self, call):
                if call.tool == "boom":
                    raise ValueError("x")
                if call.tool == "delete":
                    return adapter.Refuse("no deleting")
                call.tool = "search_repos"
                return adapter.Forward(call)

        raw = adapter.Raw(Tidy())
        shown = raw.list_tools("gh", [("search_repos", "d", '{"type":"object"}'), ("other", "d", "{}"),
                                      ("broken", "d", "nope")])
        self.assertEqual(shown, [("search_repos", "search", "d", '{"type":"object"}')])
        self.assertEqual(raw.on_call("gh", "search", '{"q": 1}'), ("gh", "search_repos", '{"q":1}'))
        self.assertEqual(raw.on_call("gh", "delete", "{}"), "no deleting")
        self.assertIn("failed", raw.on_call("gh", "boom", "{}"))
        self.assertIn("not a JSON object", raw.on_call("gh", "x", "[]"))
        self.assertEqual(json.loads(raw.on_result("gh", "x", "{}", '{"content": []}')), {"content": []})
        self.assertTrue(json.loads(raw.on_result("gh", "x", "{}", "nope"))["isError"])


if __name__ == "__main__":
    unittest.main()
