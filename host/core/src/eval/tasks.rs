//! Reading a tasks file: JSONL, one [`EvalTask`] per line in the SWE-bench
//! instance format (blank lines skipped). A bad line is an error naming the
//! file, the line and the field; an `instance_id` twice is refused; a
//! filter (`--instances a,b`) keeps the named instances, in file order, and
//! refuses a name the file does not have.

use super::EvalError;
use paddock_protocol::eval::EvalTask;
use std::collections::HashMap;
use std::path::Path;

/// The tasks of `path`, in file order, only those named in `only` if given.
pub fn read_tasks(path: &Path, only: Option<&[String]>) -> Result<Vec<EvalTask>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    parse_tasks(&path.display().to_string(), &text, only)
}

/// The tasks of `text` (the contents of `file`, named in errors).
pub fn parse_tasks(
    file: &str,
    text: &str,
    only: Option<&[String]>,
) -> Result<Vec<EvalTask>, EvalError> {
    let bad = |line: usize, reason: String| EvalError::Task {
        file: file.to_string(),
        line,
        reason,
    };
    let mut tasks = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        let task: EvalTask = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                bad(line, inner.to_string())
            } else {
                bad(line, format!("{path}: {inner}"))
            }
        })?;
        de.end()
            .map_err(|e| bad(line, format!("text after the task: {e}")))?;
        for (field, value) in [
            ("instance_id", &task.instance_id),
            ("repo", &task.repo),
            ("base_commit", &task.base_commit),
        ] {
            if value.trim().is_empty() {
                return Err(bad(line, format!("{field}: must not be empty")));
            }
        }
        if task.instance_id.contains(['/', '\\', '\n']) {
            return Err(bad(
                line,
                format!(
                    "instance_id: `{}` must not contain a slash or a newline",
                    task.instance_id
                ),
            ));
        }
        if let Some(first) = seen.insert(task.instance_id.clone(), line) {
            return Err(bad(
                line,
                format!(
                    "instance_id: `{}` is already the instance of line {first}",
                    task.instance_id
                ),
            ));
        }
        tasks.push(task);
    }
    if let Some(only) = only {
        let unknown: Vec<&str> = only
            .iter()
            .filter(|id| !seen.contains_key(id.as_str()))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(EvalError::Invalid(format!(
                "--instances: {file} has no instance {}",
                unknown.join(", ")
            )));
        }
        tasks.retain(|t| only.contains(&t.instance_id));
    }
    if tasks.is_empty() {
        return Err(EvalError::Invalid(format!("{file}: no tasks")));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"instance_id":"a__b-1","repo":"a/b","base_commit":"abc","problem_statement":"p","FAIL_TO_PASS":["t1"]}"#;
    const B: &str = r#"{"instance_id":"a__b-2","repo":"a/b","base_commit":"abc","problem_statement":"q","FAIL_TO_PASS":"[\"t2\"]","PASS_TO_PASS":"[]","hints_text":""}"#;

    #[test]
    fn reads_lines_skips_blanks_and_filters() {
        let text = format!("{A}\n\n{B}\n");
        let all = parse_tasks("t.jsonl", &text, None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].fail_to_pass, ["t2"]);
        let one = parse_tasks("t.jsonl", &text, Some(&["a__b-2".to_string()])).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].instance_id, "a__b-2");
        let err = parse_tasks("t.jsonl", &text, Some(&["zz".to_string()])).unwrap_err();
        assert_eq!(err.to_string(), "--instances: t.jsonl has no instance zz");
    }

    #[test]
    fn a_bad_line_names_its_number_and_field() {
        let text = format!(
            "{A}\n{}\n",
            r#"{"instance_id":"x","repo":"a/b","base_commit":7,"problem_statement":"p","FAIL_TO_PASS":[]}"#
        );
        let err = parse_tasks("t.jsonl", &text, None).unwrap_err().to_string();
        assert!(err.starts_with("t.jsonl: line 2: base_commit:"), "{err}");
        let missing =
            r#"{"instance_id":"x","repo":"a/b","problem_statement":"p","FAIL_TO_PASS":[]}"#;
        let err = parse_tasks("t.jsonl", missing, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.jsonl: line 1:") && err.contains("base_commit"),
            "{err}"
        );
        let empty = r#"{"instance_id":"x","repo":"","base_commit":"a","problem_statement":"p","FAIL_TO_PASS":[]}"#;
        let err = parse_tasks("t.jsonl", empty, None).unwrap_err().to_string();
        assert_eq!(err, "t.jsonl: line 1: repo: must not be empty");
        let err = parse_tasks("t.jsonl", "{not json", None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.jsonl: line 1:"), "{err}");
    }

    #[test]
    fn a_duplicate_instance_is_refused() {
        let text = format!("{A}\n{B}\n{A}\n");
        let err = parse_tasks("t.jsonl", &text, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "t.jsonl: line 3: instance_id: `a__b-1` is already the instance of line 1"
        );
        assert!(parse_tasks("t.jsonl", "\n\n", None).is_err());
    }
}
