//! `.devcontainer/devcontainer.json` (or `.devcontainer.json`) read as an
//! environment: JSONC (comments, trailing commas) turned into an
//! [`EnvironmentDef`], keeping only the fields Paddock acts on (`image`,
//! `build.dockerfile`/`build.context`, `containerEnv`, `remoteUser`,
//! `onCreateCommand`, `updateContentCommand`, `postCreateCommand`) and
//! listing every other field as ignored. A bad file is an error naming the
//! file and the field.

use super::{BuildDef, CommandForm, EnvironmentDef, EnvironmentError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a workspace's devcontainer.json may be, in the order looked for.
pub const LOCATIONS: [&str; 2] = [".devcontainer/devcontainer.json", ".devcontainer.json"];

/// A devcontainer.json read from a workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct Devcontainer {
    /// The file.
    pub path: PathBuf,
    /// What it says, with build paths made absolute (relative to the
    /// file's folder, as the spec reads them).
    pub def: EnvironmentDef,
    /// The top-level fields (and `build.*` fields) Paddock does not use.
    pub ignored: Vec<String>,
}

/// The workspace's devcontainer.json, if it has one.
pub fn find(workspace: &Path) -> Option<PathBuf> {
    LOCATIONS
        .iter()
        .map(|l| workspace.join(l))
        .find(|p| p.is_file())
}

/// Reads and parses the workspace's devcontainer.json; `Ok(None)` when
/// there is none.
pub fn load(workspace: &Path) -> Result<Option<Devcontainer>, EnvironmentError> {
    let Some(path) = find(workspace) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        EnvironmentError::Invalid(format!("{}: cannot be read: {e}", path.display()))
    })?;
    parse(&path, &text).map(Some)
}

/// Parses the text of the devcontainer.json at `path`.
pub fn parse(path: &Path, text: &str) -> Result<Devcontainer, EnvironmentError> {
    let file = path.display().to_string();
    let bad =
        |field: &str, why: &str| EnvironmentError::Invalid(format!("{file}: `{field}`: {why}"));
    let clean = strip_jsonc(text);
    let value: Value = serde_json::from_str(&clean).map_err(|e| {
        EnvironmentError::Invalid(format!(
            "{file}: not valid JSON (with comments): {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(top) = value else {
        return Err(EnvironmentError::Invalid(format!(
            "{file}: must be a JSON object"
        )));
    };
    let folder = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut def = EnvironmentDef::default();
    let mut ignored = Vec::new();
    for (key, v) in &top {
        match key.as_str() {
            "image" => def.image = Some(string(v).ok_or_else(|| bad("image", "must be a string"))?),
            "build" => {
                let Value::Object(b) = v else {
                    return Err(bad("build", "must be an object"));
                };
                let mut dockerfile = None;
                let mut context = None;
                for (bk, bv) in b {
                    match bk.as_str() {
                        "dockerfile" => {
                            dockerfile = Some(
                                string(bv)
                                    .ok_or_else(|| bad("build.dockerfile", "must be a string"))?,
                            )
                        }
                        "context" => {
                            context = Some(
                                string(bv)
                                    .ok_or_else(|| bad("build.context", "must be a string"))?,
                            )
                        }
                        other => ignored.push(format!("build.{other}")),
                    }
                }
                let dockerfile = dockerfile
                    .ok_or_else(|| bad("build.dockerfile", "is required with `build`"))?;
                def.build = Some(BuildDef {
                    dockerfile: folder.join(dockerfile),
                    context: Some(folder.join(context.unwrap_or_else(|| ".".into()))),
                });
            }
            // The older spelling of build.dockerfile.
            "dockerFile" => {
                let f = string(v).ok_or_else(|| bad("dockerFile", "must be a string"))?;
                def.build = Some(BuildDef {
                    dockerfile: folder.join(f),
                    context: Some(folder.clone()),
                });
            }
            "containerEnv" => {
                let Value::Object(m) = v else {
                    return Err(bad("containerEnv", "must be an object of strings"));
                };
                let mut env = BTreeMap::new();
                for (name, value) in m {
                    let value = string(value)
                        .ok_or_else(|| bad(&format!("containerEnv.{name}"), "must be a string"))?;
                    env.insert(name.clone(), value);
                }
                def.env = env;
            }
            "remoteUser" => {
                def.user = Some(string(v).ok_or_else(|| bad("remoteUser", "must be a string"))?)
            }
            "onCreateCommand" => def.on_create = Some(command(v, "onCreateCommand", &bad)?),
            "updateContentCommand" => {
                def.update_content = Some(command(v, "updateContentCommand", &bad)?)
            }
            "postCreateCommand" => def.post_create = Some(command(v, "postCreateCommand", &bad)?),
            other => ignored.push(other.to_string()),
        }
    }
    if def.image.is_some() && def.build.is_some() {
        return Err(bad("image", "give `image` or `build`, not both"));
    }
    def.check()
        .map_err(|e| EnvironmentError::Invalid(format!("{file}: {e}")))?;
    Ok(Devcontainer {
        path: path.to_path_buf(),
        def,
        ignored,
    })
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// A lifecycle command: a string (a shell line), an array (argv) or an
/// object of named commands of either form (run in parallel).
fn command(
    v: &Value,
    field: &str,
    bad: &dyn Fn(&str, &str) -> EnvironmentError,
) -> Result<CommandForm, EnvironmentError> {
    const WHAT: &str = "must be a string, an array of strings, or an object of them";
    let single = |v: &Value, field: &str| -> Result<CommandForm, EnvironmentError> {
        match v {
            Value::String(s) => Ok(CommandForm::Shell(s.clone())),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(CommandForm::Argv)
                .ok_or_else(|| bad(field, "must be an array of strings")),
            _ => Err(bad(field, WHAT)),
        }
    };
    match v {
        Value::Object(m) => {
            let mut named = BTreeMap::new();
            for (name, c) in m {
                let form = single(c, &format!("{field}.{name}"))?;
                named.insert(name.clone(), form);
            }
            Ok(CommandForm::Parallel(named))
        }
        other => single(other, field),
    }
}

/// JSONC to JSON: drops `//` and `/* */` comments and trailing commas
/// (before `}` or `]`), leaving strings untouched; line breaks are kept
/// so that error positions stay right.
pub fn strip_jsonc(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if chars[i - 1] == '"' {
                        break;
                    }
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                i += 2;
            }
            ',' => {
                // A trailing comma: the next significant character closes.
                let mut j = i + 1;
                loop {
                    while j < chars.len() && chars[j].is_whitespace() {
                        j += 1;
                    }
                    if chars.get(j) == Some(&'/') && chars.get(j + 1) == Some(&'/') {
                        while j < chars.len() && chars[j] != '\n' {
                            j += 1;
                        }
                        continue;
                    }
                    if chars.get(j) == Some(&'/') && chars.get(j + 1) == Some(&'*') {
                        j += 2;
                        while j < chars.len()
                            && !(chars[j] == '*' && chars.get(j + 1) == Some(&'/'))
                        {
                            j += 1;
                        }
                        j += 2;
                        continue;
                    }
                    break;
                }
                if !matches!(chars.get(j), Some('}') | Some(']')) {
                    out.push(c);
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Devcontainer, EnvironmentError> {
        parse(Path::new("/ws/.devcontainer/devcontainer.json"), text)
    }

    #[test]
    fn jsonc_comments_and_trailing_commas() {
        let text = r#"{
            // a comment with "quotes" and a , comma
            "image": "paddock-node:1", /* block
            comment */
            "containerEnv": {"A": "x // not a comment", "B": "/* nor this */",},
            "postCreateCommand": ["npm", "ci",],
        }"#;
        let d = parse_text(text).unwrap();
        assert_eq!(d.def.image.as_deref(), Some("paddock-node:1"));
        assert_eq!(d.def.env["A"], "x // not a comment");
        assert_eq!(d.def.env["B"], "/* nor this */");
        assert_eq!(
            d.def.post_create,
            Some(CommandForm::Argv(vec!["npm".into(), "ci".into()]))
        );
        assert!(d.ignored.is_empty());
        assert_eq!(strip_jsonc(r#"["a\"]", 1,]"#), r#"["a\"]", 1]"#);
    }

    #[test]
    fn every_command_form_and_build_paths() {
        let d = parse_text(
            r#"{
            "build": {"dockerfile": "Dockerfile", "context": "..", "args": {"X": "1"}},
            "remoteUser": "1000",
            "onCreateCommand": "echo one && echo two",
            "updateContentCommand": {"deps": "npm ci", "tool": ["make", "tool"]},
            "postCreateCommand": ["sh", "-c", "true"],
            "customizations": {"vscode": {}},
            "forwardPorts": [3000],
            "features": {}
        }"#,
        )
        .unwrap();
        let b = d.def.build.as_ref().unwrap();
        assert_eq!(b.dockerfile, Path::new("/ws/.devcontainer/Dockerfile"));
        assert_eq!(
            b.context.as_deref(),
            Some(Path::new("/ws/.devcontainer/.."))
        );
        assert_eq!(d.def.user.as_deref(), Some("1000"));
        assert_eq!(
            d.def.on_create,
            Some(CommandForm::Shell("echo one && echo two".into()))
        );
        let Some(CommandForm::Parallel(named)) = &d.def.update_content else {
            panic!("not parallel: {:?}", d.def.update_content);
        };
        assert_eq!(named["deps"], CommandForm::Shell("npm ci".into()));
        assert_eq!(
            named["tool"],
            CommandForm::Argv(vec!["make".into(), "tool".into()])
        );
        assert_eq!(
            d.ignored,
            ["build.args", "customizations", "features", "forwardPorts"]
        );
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let cases = [
            ("{\"image\": 3}", "`image`: must be a string"),
            ("{\"build\": {}}", "`build.dockerfile`: is required"),
            (
                "{\"containerEnv\": {\"A\": 1}}",
                "`containerEnv.A`: must be a string",
            ),
            ("{\"postCreateCommand\": 1}", "`postCreateCommand`: must be"),
            (
                "{\"onCreateCommand\": {\"x\": 2}}",
                "`onCreateCommand.x`: must be",
            ),
            ("{\"remoteUser\": \"root\"}", "remoteUser"),
            (
                "{\"image\": \"a\", \"build\": {\"dockerfile\": \"D\"}}",
                "not both",
            ),
            ("[1]", "must be a JSON object"),
            ("{\"image\": \"a\" \"x\": 1}", "not valid JSON"),
            ("{\"postCreateCommand\": []}", "postCreateCommand"),
        ];
        for (text, want) in cases {
            let e = parse_text(text).unwrap_err().to_string();
            assert!(
                e.contains("/ws/.devcontainer/devcontainer.json") && e.contains(want),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn found_in_either_place() {
        let ws = tempfile::tempdir().unwrap();
        assert_eq!(load(ws.path()).unwrap(), None);
        std::fs::write(ws.path().join(".devcontainer.json"), "{\"image\": \"i\"}").unwrap();
        assert_eq!(find(ws.path()), Some(ws.path().join(".devcontainer.json")));
        std::fs::create_dir(ws.path().join(".devcontainer")).unwrap();
        std::fs::write(
            ws.path().join(".devcontainer/devcontainer.json"),
            "{\"image\": \"j\"}",
        )
        .unwrap();
        let d = load(ws.path()).unwrap().unwrap();
        assert_eq!(d.def.image.as_deref(), Some("j"), "the folder wins");
    }
}
