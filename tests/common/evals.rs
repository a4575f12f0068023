//! A small evaluation task set the tests build: tiny git repositories in two
//! languages (Python with `unittest`, JavaScript with `node`), each with a
//! failing test at its base commit, the tasks file (SWE-bench JSONL) naming
//! them, an agent template file on the scripted model, and the scripted
//! model's script: right fixes for some tasks, wrong fixes for others,
//! a slow one, and a best-of-3 task only the third attempt fixes.
//!
//! Every scripted answer reports the same usage (1,000 prompt tokens, 100
//! completion tokens), so on the tests' price (`scripted_config`: $1 in,
//! $2 out per million) each model call costs exactly [`CALL_USD`].

use super::git;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Prompt tokens of every scripted answer.
pub const CALL_INPUT: u64 = 1000;
/// Completion tokens of every scripted answer.
pub const CALL_OUTPUT: u64 = 100;
/// Dollars of one scripted model call.
pub const CALL_USD: f64 = 0.0012;

/// The task set: its directory (removed on drop), where things are, and
/// how many model calls each instance's attempt makes.
pub struct TaskSet {
    pub dir: tempfile::TempDir,
    /// `--repos`: `acme__calc` (a checkout), `acme/greet` (a checkout),
    /// `shout` (a bare mirror).
    pub repos: PathBuf,
    /// `--tasks`.
    pub tasks: PathBuf,
    /// `--template`: an agent template file on the scripted model.
    pub template: PathBuf,
    /// The scripted model's script (YAML).
    pub script: String,
    /// The tasks, as written.
    pub lines: Vec<Value>,
}

impl TaskSet {
    /// The base commit of an instance.
    pub fn base_commit(&self, instance: &str) -> String {
        self.lines
            .iter()
            .find(|l| l["instance_id"] == instance)
            .and_then(|l| l["base_commit"].as_str())
            .unwrap_or_else(|| panic!("no instance {instance}"))
            .to_string()
    }
}

// The instances, in the tasks file's order:
// - acme__calc-1    Python; right fix: resolved
// - acme__calc-2    Python; wrong fix: unresolved
// - acme__greet-1   JavaScript; right fix adding a new file: resolved
// - acme__greet-2   JavaScript; wrong fix: unresolved
// - acme__shout-1   JavaScript in a bare mirror; right fix: resolved
// - acme__nothere-1 repository missing: error repo_missing
// - acme__calc-9    commit missing: error commit_missing
// - acme__calc-3    best-of-3: only the third attempt's fix passes
// - acme__slow-1    Python; a slow answer (to kill -9 a run in it); right fix
// Each attempt of an instance that runs makes two model calls.

fn commit_all(p: &Path, message: &str) -> String {
    git(p, &["add", "-A"]);
    git(p, &["commit", "-q", "-m", message]);
    git(p, &["rev-parse", "HEAD"])
}

fn new_repo(p: &Path) {
    std::fs::create_dir_all(p).unwrap();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["config", "user.email", "t@example.com"]);
    git(p, &["config", "user.name", "T"]);
}

const CALC_BUGGY: &str = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a + b\n\n\ndef div(a, b):\n    return a * b\n";
const CALC_TESTS: &str = "import unittest\n\nimport calc\n\n\nclass CalcTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n\n    def test_sub(self):\n        self.assertEqual(calc.sub(5, 3), 2)\n\n    def test_mul(self):\n        self.assertEqual(calc.mul(2, 3), 6)\n\n    def test_div(self):\n        self.assertEqual(calc.div(6, 3), 2)\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n";

const GREET_BUGGY: &str = "exports.greet = (name) => 'Hello ' + name;\nexports.bye = (name) => 'Bye, ' + name;\nexports.upper = (s) => s.toLowerCase();\n";
/// A tiny test runner: `node check.js NAME` runs one named test, exit 0
/// when it passes.
const CHECK_JS: &str = "const assert = require('assert');\nconst g = require('./greet');\nconst tests = {\n  greet: () => assert.strictEqual(g.greet('Ann'), 'Hello, Ann'),\n  bye: () => assert.strictEqual(g.bye('Ann'), 'Bye, Ann'),\n  upper: () => assert.strictEqual(g.upper('ab'), 'AB'),\n};\nconst t = tests[process.argv[2]];\nif (!t) { console.error('no test ' + process.argv[2]); process.exit(2); }\nt();\nconsole.log('ok ' + process.argv[2]);\n";

/// The usage every answer reports.
fn usage() -> Value {
    json!({"prompt_tokens": CALL_INPUT, "completion_tokens": CALL_OUTPUT})
}

/// A scenario: on the first user message matching `pattern`, write
/// `files` (path, content) with one `write_file` call each, then answer.
fn fix(pattern: &str, files: &[(&str, &str)], slow: bool) -> Value {
    let calls: Vec<Value> = files
        .iter()
        .map(|(path, content)| {
            json!({"name": "write_file", "arguments": {"path": path, "content": content}})
        })
        .collect();
    let mut first = json!({"tool_calls": calls, "usage": usage()});
    if slow {
        // About 6 s of text, streamed word by word (no idle gap).
        first["text"] = json!(
            "Let me look at the code first: the function is small, the test is clear, and the fix is one character. Here it comes now."
        );
        first["tokens_per_second"] = json!(4.0);
    }
    json!({
        "match": pattern,
        "turns": [first, {"text": "Fixed it.", "usage": usage()}],
    })
}

/// Builds the task set in a new temporary directory.
pub fn task_set() -> TaskSet {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");

    // Python, a checkout found as `repos/acme__calc`.
    let calc = repos.join("acme__calc");
    new_repo(&calc);
    std::fs::write(calc.join("calc.py"), CALC_BUGGY).unwrap();
    std::fs::write(calc.join("test_calc.py"), CALC_TESTS).unwrap();
    let calc_base = commit_all(&calc, "calc with bugs");
    // A later commit: the tasks start before it.
    std::fs::write(calc.join("README.md"), "calc\n").unwrap();
    commit_all(&calc, "readme");

    // JavaScript, a checkout found as `repos/acme/greet`.
    let greet = repos.join("acme").join("greet");
    new_repo(&greet);
    std::fs::write(greet.join("greet.js"), GREET_BUGGY).unwrap();
    std::fs::write(greet.join("check.js"), CHECK_JS).unwrap();
    let greet_base = commit_all(&greet, "greet with bugs");

    // JavaScript, a bare mirror found as `repos/shout`.
    let src = dir.path().join("shout-src");
    new_repo(&src);
    std::fs::write(src.join("greet.js"), GREET_BUGGY).unwrap();
    std::fs::write(src.join("check.js"), CHECK_JS).unwrap();
    let shout_base = commit_all(&src, "shout with bugs");
    let out = std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&src)
        .arg(repos.join("shout"))
        .output()
        .unwrap();
    assert!(out.status.success(), "git clone --bare: {out:?}");
    std::fs::remove_dir_all(&src).unwrap();

    let py = "python3 -m unittest -q {test}";
    let js = "node check.js";
    let t =
        |id: &str, repo: &str, base: &str, problem: &str, f2p: &[&str], p2p: &[&str], cmd: &str| {
            json!({
                "instance_id": id, "repo": repo, "base_commit": base,
                "problem_statement": format!("[{id}] {problem}"),
                "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p, "test_cmd": cmd,
                "version": "0.1", "hints_text": "",
            })
        };
    let lines = vec![
        t(
            "acme__calc-1",
            "acme/calc",
            &calc_base,
            "add() subtracts.",
            &["test_calc.CalcTest.test_add"],
            &["test_calc.CalcTest.test_sub"],
            py,
        ),
        t(
            "acme__calc-2",
            "acme/calc",
            &calc_base,
            "mul() adds.",
            &["test_calc.CalcTest.test_mul"],
            &["test_calc.CalcTest.test_sub"],
            py,
        ),
        t(
            "acme__greet-1",
            "acme/greet",
            &greet_base,
            "greet() lacks its comma.",
            &["greet"],
            &["bye"],
            js,
        ),
        t(
            "acme__greet-2",
            "acme/greet",
            &greet_base,
            "upper() lowers.",
            &["upper"],
            &["bye"],
            js,
        ),
        t(
            "acme__shout-1",
            "shout",
            &shout_base,
            "upper() lowers.",
            &["upper"],
            &["bye"],
            js,
        ),
        t(
            "acme__nothere-1",
            "acme/nothere",
            &calc_base,
            "Nothing here.",
            &["x"],
            &[],
            py,
        ),
        t(
            "acme__calc-9",
            "acme/calc",
            "0123456789abcdef0123456789abcdef01234567",
            "A commit nobody made.",
            &["test_calc.CalcTest.test_add"],
            &[],
            py,
        ),
        t(
            "acme__calc-3",
            "acme/calc",
            &calc_base,
            "div() multiplies.",
            &["test_calc.CalcTest.test_div"],
            &["test_calc.CalcTest.test_sub"],
            py,
        ),
        t(
            "acme__slow-1",
            "acme/calc",
            &calc_base,
            "add() subtracts (slowly).",
            &["test_calc.CalcTest.test_add"],
            &[],
            py,
        ),
    ];
    let tasks = dir.path().join("tasks.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&tasks, text).unwrap();

    let template = dir.path().join("template.yaml");
    std::fs::write(
        &template,
        "model: {provider: scripted, model: scripted}\nsystem_prompt: You fix bugs in small repositories.\napproval_mode: auto\n",
    )
    .unwrap();

    let calc_fixed = CALC_BUGGY.replace("return a - b\n\n\ndef sub", "return a + b\n\n\ndef sub");
    let mul_wrong =
        CALC_BUGGY.replace("return a + b\n\n\ndef div", "return a * b + 1\n\n\ndef div");
    let div_fixed = CALC_BUGGY.replace("return a * b\n", "return a / b\n");
    let div_wrong = CALC_BUGGY.replace("return a * b\n", "return a // b + 1\n");
    let greet_fixed = "const punct = require('./punct');\nexports.greet = (name) => 'Hello' + punct.comma + name;\nexports.bye = (name) => 'Bye, ' + name;\nexports.upper = (s) => s.toLowerCase();\n";
    let upper_wrong = GREET_BUGGY.replace("s.toLowerCase()", "s + s");
    let both_fixed = "exports.greet = (name) => 'Hello, ' + name;\nexports.bye = (name) => 'Bye, ' + name;\nexports.upper = (s) => s.toUpperCase();\n";
    let scenarios = vec![
        fix(r"^\[acme__calc-1\]", &[("calc.py", &calc_fixed)], false),
        fix(r"^\[acme__calc-2\]", &[("calc.py", &mul_wrong)], false),
        fix(
            r"^\[acme__greet-1\]",
            &[
                ("punct.js", "exports.comma = ', ';\n"),
                ("greet.js", greet_fixed),
            ],
            false,
        ),
        fix(r"^\[acme__greet-2\]", &[("greet.js", &upper_wrong)], false),
        fix(r"^\[acme__shout-1\]", &[("greet.js", both_fixed)], false),
        // Best-of-3: the prompt says which attempt it is.
        fix(
            r"^\[acme__calc-3\][\s\S]*attempt 3 of 3",
            &[("calc.py", &div_fixed)],
            false,
        ),
        fix(r"^\[acme__calc-3\]", &[("calc.py", &div_wrong)], false),
        fix(r"^\[acme__slow-1\]", &[("calc.py", &calc_fixed)], true),
    ];
    let script = serde_yaml_like(&json!({ "scenarios": scenarios }));
    TaskSet {
        dir,
        repos,
        tasks,
        template,
        script,
        lines,
    }
}

/// The script as text the scripted model reads (JSON is YAML).
fn serde_yaml_like(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}
