//! The official SWE-bench package, as the evaluation tests use it: its own
//! predictions loader (`swebench.harness.utils.get_predictions_from_file`,
//! swebench 5.0.2) run on a file by the Python of the venv that
//! `scripts/eval-tools.sh` installs (`make test` runs it through
//! `scripts/setup-test.sh`), at `<target>/eval-tools/.venv`.

use super::paddock_bin;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's Python, or a panic saying how to install it.
pub fn swebench_python() -> PathBuf {
    let target = paddock_bin()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let python = target.join("eval-tools/.venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: install the evaluation tools with `scripts/eval-tools.sh` \
         (make test runs it)",
        python.display()
    );
    python
}

/// The loader's verdict on `path`: the predictions it read (as JSON), or
/// what it said when it refused the file.
pub fn load_predictions(path: &Path) -> Result<serde_json::Value, String> {
    // The loader as run_evaluation calls it (the dataset's name and split
    // matter only for "gold"), and then, per prediction, the keys the
    // harness reads: run_evaluation indexes `instance_id`,
    // `model_name_or_path` and `model_patch` (make_run_report, run_instance).
    let script = r#"
import json, sys
from swebench.harness.utils import get_predictions_from_file
preds = get_predictions_from_file(sys.argv[1], "SWE-bench/SWE-bench_Lite", "test")
for i, p in enumerate(preds):
    for key in ("instance_id", "model_name_or_path", "model_patch"):
        if key not in p:
            raise ValueError(f"prediction {i} has no {key!r}")
    if not isinstance(p["model_patch"], str) and p["model_patch"] is not None:
        raise ValueError(f"prediction {i}: model_patch is not text")
ids = [p["instance_id"] for p in preds]
if len(set(ids)) != len(ids):
    raise ValueError("an instance has two predictions")
print(json.dumps(preds))
"#;
    let out = Command::new(swebench_python())
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("run the eval-tools venv's python");
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("the loader's output is not JSON: {e}"))
}

/// Panics, with the loader's own words, unless the official package's
/// predictions loader accepts `path`.
pub fn assert_predictions_load(path: &Path) {
    if let Err(why) = load_predictions(path) {
        panic!(
            "the swebench package refuses the predictions {}:\n{why}",
            path.display()
        );
    }
}
