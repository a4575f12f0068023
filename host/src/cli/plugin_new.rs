//! `paddock plugin new --lang rust|python|js NAME`: scaffolds a working tool
//! plugin project (manifest, source, README with the build command) in the
//! language of the author's choice, on the SDK of that language (`sdk/`,
//! `sdk/python/`, `sdk/js/`).

use super::Usage;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The language of a new plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with `paddock-sdk` (`sdk/`), built by cargo for wasm32-wasip2.
    Rust,
    /// Python, with `paddock_sdk` (`sdk/python/`), built by componentize-py.
    Python,
    /// JavaScript, with `@paddock/sdk` (`sdk/js/`), built by componentize-js.
    Js,
}

/// The arguments of `paddock plugin new`.
#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// The plugin's language.
    #[arg(long, value_enum)]
    pub(crate) lang: Lang,
    /// The plugin's name (`^[a-z][a-z0-9-]{0,63}$`); its tool is named after it.
    pub(crate) name: String,
    /// Where to create the project (default: ./NAME). Must not exist, or be empty.
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// The Paddock SDKs' directory (`sdk/` of a Paddock checkout) the project
    /// builds against (default: this binary's checkout when it still exists,
    /// else ../paddock/sdk).
    #[arg(long)]
    pub(crate) sdk: Option<PathBuf>,
}

/// Why a plugin name is refused, or `None` when it is valid.
fn name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !first_ok || !rest_ok || name.len() > 64 {
        return Some(format!(
            "NAME: `{name}` is not a valid plugin name: it must match ^[a-z][a-z0-9-]{{0,63}}$ (e.g. `word-count`)"
        ));
    }
    if name.ends_with('-') || name.contains("--") {
        return Some(format!(
            "NAME: `{name}` is not a valid plugin name: no trailing or doubled `-`"
        ));
    }
    None
}

/// The SDK directory a new project points at.
fn default_sdk_dir() -> PathBuf {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk");
    match std::fs::canonicalize(&checkout) {
        Ok(dir) if dir.join("Cargo.toml").is_file() => dir,
        _ => PathBuf::from("../paddock/sdk"),
    }
}

/// The language's name in messages.
fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
    }
}

/// One file of a scaffold: path relative to the project, content.
type File = (&'static str, String);

/// The files of a new project.
fn scaffold(lang: Lang, name: &str, sdk: &Path) -> Vec<File> {
    let tool = name.replace('-', "_");
    let sdk = sdk.to_string_lossy();
    let manifest = || {
        format!(
            r#"name = "{name}"
version = "0.1.0"
world = "tool"
description = "Greets someone (a new {lang_name} plugin: change me)"

[capabilities]
# fs = ["/workspace:ro"]       # or ":rw" — the agent's workspace
# net = ["api.example.com:443"]
# env = ["EXAMPLE_TOKEN"]
# exec = true                  # run commands in the agent's sandbox

[limits]
memory_mb = {memory}
timeout_ms = 5000
"#,
            lang_name = lang_name(lang),
            // The interpreters' heaps need more than a Rust plugin.
            memory = if lang == Lang::Rust { 32 } else { 96 },
        )
    };
    let readme = |build: &str, source: &str, sdk_doc: &str| {
        format!(
            r#"# {name}

A Paddock tool plugin: `{source}` declares the tool `{tool}`;
`paddock-plugin.toml` names the plugin and the capabilities it requests.
The SDK's guide is {sdk_doc}.

Build the component:

```sh
{build}
```

Install it and call the tool:

```sh
paddock plugin install {wasm} --manifest paddock-plugin.toml
paddock tool call {tool} --workspace . --input '{{"name":"Ada"}}'
```

which prints `Hello, Ada!`.
"#,
            wasm = match lang {
                Lang::Rust => format!("target/wasm32-wasip2/release/{tool}.wasm"),
                Lang::Python | Lang::Js => format!("{tool}.wasm"),
            },
        )
    };
    let description = "Greet `name`. Returns e.g. `Hello, Ada!`.";
    match lang {
        Lang::Rust => {
            let build = "cargo build --release --target wasm32-wasip2";
            vec![
                (
                    "Cargo.toml",
                    format!(
                        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
paddock-sdk = {{ path = "{sdk}" }}
serde = {{ version = "1", features = ["derive"] }}
schemars = "1"

# A project of its own, even inside another workspace.
[workspace]
"#
                    ),
                ),
                (
                    "src/lib.rs",
                    format!(
                        r#"use paddock_sdk::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct GreetInput {{
    /// Whom to greet.
    name: String,
}}

fn greet(input: GreetInput, _ctx: &CallContext) -> Result<String, ToolError> {{
    if input.name.trim().is_empty() {{
        return Err(ToolError::invalid_input("`name` is empty"));
    }}
    debug(format!("greeting {{}}", input.name));
    Ok(format!("Hello, {{}}!", input.name))
}}

fn toolbox() -> Toolbox {{
    Toolbox::new().read_only_tool("{tool}", "{description}", greet)
}}

paddock_sdk::export_tools!(toolbox);
"#
                    ),
                ),
                ("paddock-plugin.toml", manifest()),
                (
                    "README.md",
                    readme(build, "src/lib.rs", &format!("`{sdk}/README.md`")),
                ),
                (".gitignore", "/target\n".to_string()),
            ]
        }
        Lang::Python => {
            let build = format!(
                "componentize-py -d {sdk}/python/wit -w tool componentize -p {sdk}/python -p . app -o {tool}.wasm"
            );
            vec![
                (
                    "app.py",
                    format!(
                        r#"from paddock_sdk import log
from paddock_sdk.tool import ToolError, Toolbox

toolbox = Toolbox()


@toolbox.tool(
    "{tool}",
    "{description}",
    {{
        "type": "object",
        "properties": {{"name": {{"type": "string", "description": "Whom to greet."}}}},
        "required": ["name"],
        "additionalProperties": False,
    }},
    read_only=True,
)
def greet(input, ctx):
    if not input["name"].strip():
        raise ToolError.invalid_input("`name` is empty")
    log.debug(f"greeting {{input['name']}}")
    return f"Hello, {{input['name']}}!"


# The class componentize-py exports (world `tool`).
Tools = toolbox.export()
"#
                    ),
                ),
                ("paddock-plugin.toml", manifest()),
                (
                    "README.md",
                    readme(
                        &build,
                        "app.py",
                        &format!(
                            "`{sdk}/python/README.md`; componentize-py comes from PyPI (`pip install componentize-py==0.25.1`)"
                        ),
                    ),
                ),
                (".gitignore", "*.wasm\n__pycache__/\n".to_string()),
            ]
        }
        Lang::Js => {
            let build = format!("node {sdk}/js/bin/paddock-js.mjs build tool.js -o {tool}.wasm");
            vec![
                (
                    "tool.js",
                    format!(
                        r#"import {{ Toolbox, ToolError, log }} from '@paddock/sdk';

const toolbox = new Toolbox().tool({{
  name: '{tool}',
  description: '{description}',
  inputSchema: {{
    type: 'object',
    properties: {{ name: {{ type: 'string', description: 'Whom to greet.' }} }},
    required: ['name'],
    additionalProperties: false,
  }},
  readOnly: true,
  run(input) {{
    if (!input.name.trim()) throw ToolError.invalidInput('`name` is empty');
    log.debug(`greeting ${{input.name}}`);
    return `Hello, ${{input.name}}!`;
  }},
}});

// The object componentize-js exports (world `tool`).
export const tools = toolbox.export();
"#
                    ),
                ),
                ("paddock-plugin.toml", manifest()),
                (
                    "README.md",
                    readme(
                        &build,
                        "tool.js",
                        &format!(
                            "`{sdk}/js/README.md`; run `npm ci` in `{sdk}/js` once for its toolchain (componentize-js, from npm)"
                        ),
                    ),
                ),
                (".gitignore", "*.wasm\nnode_modules/\n".to_string()),
            ]
        }
    }
}

/// Runs `paddock plugin new`.
pub(crate) fn run(args: &NewArgs) -> Result<ExitCode> {
    if let Some(problem) = name_problem(&args.name) {
        return Err(Usage(problem).into());
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(&dir)
                .with_context(|| format!("read {}", dir.display()))?
                .next()
                .is_none();
        if !empty {
            return Err(Usage(format!(
                "--dir: {} already exists and is not an empty directory; choose another",
                dir.display()
            ))
            .into());
        }
    }
    let sdk = args.sdk.clone().unwrap_or_else(default_sdk_dir);
    let files = scaffold(args.lang, &args.name, &sdk);
    for (rel, content) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
    }
    out!(
        "created {} ({} tool plugin `{}`): {}",
        dir.display(),
        lang_name(args.lang),
        args.name,
        files
            .iter()
            .map(|(rel, _)| *rel)
            .collect::<Vec<_>>()
            .join(", ")
    );
    out!(
        "next: read {}/README.md for the build command",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_the_field_named() {
        assert_eq!(name_problem("word-count"), None);
        assert_eq!(name_problem("a"), None);
        for bad in [
            "",
            "Word",
            "1x",
            "a_b",
            "a b",
            "x-",
            "a--b",
            &"a".repeat(65),
        ] {
            let problem = name_problem(bad).unwrap_or_else(|| panic!("`{bad}` accepted"));
            assert!(problem.starts_with("NAME: "), "{problem}");
        }
    }

    #[test]
    fn every_language_scaffolds_a_manifest_a_source_and_a_readme() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let files = scaffold(lang, "greeter-x", Path::new("/sdk"));
            let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
            assert!(names.contains(&"paddock-plugin.toml"), "{lang:?}");
            assert!(names.contains(&"README.md"), "{lang:?}");
            let manifest = &files
                .iter()
                .find(|(n, _)| *n == "paddock-plugin.toml")
                .map(|(_, c)| c.clone())
                .unwrap_or_default();
            let parsed: toml::Value =
                toml::from_str(manifest).unwrap_or_else(|e| panic!("{lang:?}: {e}"));
            assert_eq!(parsed["name"].as_str(), Some("greeter-x"));
            assert_eq!(parsed["world"].as_str(), Some("tool"));
            // The tool is named after the plugin, as a valid tool name.
            assert!(
                files.iter().any(|(_, c)| c.contains("greeter_x")),
                "{lang:?}"
            );
        }
    }
}
