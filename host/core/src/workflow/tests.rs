//! Tests of the workflows' own logic: inputs, the data dir's files.

use super::*;

fn def(text: &str) -> WorkflowDef {
    definition::parse(text, DefFormat::Yaml).unwrap()
}

#[test]
fn inputs_are_checked_and_defaults_filled_in() {
    let d = def(r#"
name: w
inputs:
  - name: task
    description: what to do
  - name: mode
    default: fast
  - name: note
    required: false
steps:
  - id: a
    agent: {workspace: /tmp}
    prompt: "{{inputs.task}}"
"#);
    let got = resolve_inputs(&d, BTreeMap::from([("task".into(), "x".into())])).unwrap();
    assert_eq!(got["task"], "x");
    assert_eq!(got["mode"], "fast");
    assert_eq!(got["note"], "");
    let e = resolve_inputs(&d, BTreeMap::new()).unwrap_err().to_string();
    assert_eq!(e, "inputs.task: required (what to do)");
    let e = resolve_inputs(&d, BTreeMap::from([("task".into(), "  ".into())]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("inputs.task: required"), "{e}");
    let e = resolve_inputs(
        &d,
        BTreeMap::from([("task".into(), "x".into()), ("tsak".into(), "y".into())]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(
            "inputs.tsak: workflow `w` has no input `tsak` (its inputs: task, mode, note)"
        ),
        "{e}"
    );
    let e = resolve_inputs(
        &d,
        BTreeMap::from([("task".into(), "x".repeat(MAX_INPUT + 1))]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("inputs.task: longer than"), "{e}");
}

#[test]
fn files_of_the_data_dir_are_read_and_bad_ones_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let good_yaml = "name: one\nsteps:\n  - id: a\n    merge: true\n";
    // A merge needs a run worktree: this one is refused by the check.
    std::fs::write(dir.path().join("bad.yaml"), good_yaml).unwrap();
    std::fs::write(
        dir.path().join("one.yml"),
        "name: one\nworkspace: {repo: /tmp/r}\nsteps:\n  - id: a\n    merge: true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("two.toml"),
        "name = \"two\"\n[[steps]]\nid = \"g\"\ngate = { message = \"ok?\" }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a workflow").unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "name: [").unwrap();
    let defs = read_dir_definitions(dir.path());
    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["one", "two"]);
    assert!(read_dir_definitions(&dir.path().join("missing")).is_empty());
}

#[test]
fn stored_definitions_read_back() {
    let d = def("name: w\nsteps:\n  - id: g\n    gate: {message: ok}\n");
    let body = serde_json::json!({"definition": d, "owner": "u"});
    assert_eq!(stored_definition(&body).unwrap(), d);
    assert!(stored_definition(&serde_json::json!({})).is_err());
}
