//! The API against its own OpenAPI document: Schemathesis (PyPI, installed
//! by scripts/schemathesis.sh, which `make test` runs through setup-test.sh)
//! generates requests for every operation of `/api/openapi.json`, valid
//! and invalid, and sends them to a real `paddock serve` whose agents can
//! work (a scripted model, a workspace root with directories and a git
//! repository) and which holds one of each resource (agent, template,
//! system prompt, workspaces, backup, rule, MCP server), so that requests
//! reach more than 404s. Every check Schemathesis has must pass: no server
//! error, every status, content type, header and body as documented,
//! schema-valid requests accepted and invalid ones refused, and so on (see
//! [`CHECKS`]).

use crate::common;

use common::{ADMIN_TOKEN, Paddock, Server, git, repo_root, scripted, scripted_config};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The checks run: all of Schemathesis's. `object_level_authorization`
/// needs two identities, which Paddock does not have (one user token and
/// the admin token, which sees everything); Schemathesis skips it.
const CHECKS: &str = "all";

/// Test cases per operation and phase.
const MAX_EXAMPLES: u32 = 25;

/// The whole run's time budget (Schemathesis stops generating then).
const MAX_TIME_SECS: u32 = 100;

/// Past this, the run is killed and the test fails.
const HARD_DEADLINE: Duration = Duration::from_secs(360);

/// The same cases on every run (a failure can be replayed);
/// `PADDOCK_SCHEMATHESIS_SEED` picks others, to explore.
const SEED: u64 = 17;

/// Operations whose schema-valid requests the server may still refuse with
/// 400, because what makes them acceptable is more than a schema can say;
/// every other operation must accept every schema-valid request (or answer
/// 401, 403, 404 or 409, as Schemathesis allows).
const POSITIVE_DATA_EXCEPTIONS: &str = r#"
# Each names things that must exist on this host (a provider, a workspace
# directory, a template, a prompt, a router, MCP servers, tools), and a
# template may supply what the request leaves out (a workspace).
[[operations]]
include-operation-id = "create_agent"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A directory or git repository that must exist under a root; a base branch
# that must exist in it.
[[operations]]
include-operation-id = "create_workspace"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# `delete_branch` needs `remove_files`, and only a worktree has a branch: a
# rule between two parameters and the workspace's kind.
[[operations]]
include-operation-id = "delete_workspace"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# The users and groups an agent is shared with must exist.
[[operations]]
include-operation-id = "put_agent_shares"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A plugin is a TOML manifest and a WebAssembly component that must agree.
[[operations]]
include-operation-id = "install_plugin"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A capability can be granted only if the plugin requests it.
[[operations]]
include-operation-id = "put_plugin_grants"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A server's command or URL, its variables set on the host, its adapters
# installed.
[[operations]]
include-operation-id = "add_mcp_server"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A rule's grammar and its examples, which it must match and not match.
[[operations]]
include-operation-id = "add_rule"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A provider's name must be free (and not the reserved `test`), its
# failover targets must exist, its backoffs must be in order; a default
# model's provider must be usable.
[[operations]]
include-operation-id = "create_provider"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
[[operations]]
include-operation-id = "put_provider"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
[[operations]]
include-operation-id = "test_unsaved_provider"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
[[operations]]
include-operation-id = "put_default_model"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# An environment's name must be plain and free (not paddock.toml's, not
# `devcontainer`); its commands must not be empty, its user not root.
[[operations]]
include-operation-id = "create_environment"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
[[operations]]
include-operation-id = "put_environment"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A personal key is for a provider of this host that takes a key (not the
# offline demo's).
[[operations]]
include-operation-id = "put_my_key"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# Budgets per user and per group name users and groups of this host.
[[operations]]
include-operation-id = "put_budgets"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A group's members must be users of this host; a password change needs
# the current password.
[[operations]]
include-operation-id = "create_group"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
[[operations]]
include-operation-id = "update_group"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
[[operations]]
include-operation-id = "change_my_password"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# A template's network allow-list entries are `host[:port]` patterns (a
# host name, `*.domain`, an IP literal or `localhost`, a port 1 to 65535):
# a grammar a schema's string cannot say.
[[operations]]
include-operation-id = "create_template"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
[[operations]]
include-operation-id = "put_template"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]
# `from` before `to`, at most 3660 days apart: a rule between two
# parameters.
[[operations]]
include-operation-id = "usage_report"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]

# A workflow definition names agent templates that must exist on this host,
# refers between its steps and inputs (`{{steps.ID.output}}`, a jump back
# to an earlier step with its bound), and needs a workspace for its agents;
# a run names a workflow of this host with its inputs, and a repository
# under a workspace root.
[[operations]]
include-operation-id = "create_workflow"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "415", "429"]
[[operations]]
include-operation-id = "put_workflow"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "415", "429"]
[[operations]]
include-operation-id = "check_workflow"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "415", "429"]
[[operations]]
include-operation-id = "start_workflow_run"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]

# Installing from a registry or updating from one depends on what the
# registry holds (a reference of the right shape may name nothing, nothing
# signed, or a registry that is not there), and an update needs a plugin
# installed from a registry.
[[operations]]
include-operation-id = "install_plugin_from_registry"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "422", "429", "502"]
[[operations]]
include-operation-id = "update_plugin"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "422", "429", "502"]

# A deleted agent's record and events stay readable until it is purged
# (`DELETE /api/agents/{id}?purge=true`): deleting stops it, and its
# history is kept.
[[operations]]
include-path-regex = "^/api/(agents|metrics/agents)/"
checks.use_after_free.enabled = false
"#;

/// `tests/schemathesis/.venv/bin/schemathesis`, or a panic that says how to
/// install it.
fn schemathesis() -> PathBuf {
    let bin = repo_root().join("tests/schemathesis/.venv/bin/schemathesis");
    assert!(
        bin.is_file(),
        "{} is missing: install Schemathesis with `scripts/schemathesis.sh` \
         (which `make test` runs through scripts/setup-test.sh)",
        bin.display()
    );
    bin
}

/// Where the reports go: `target/schemathesis` (JUnit and NDJSON).
fn report_dir() -> PathBuf {
    let bin = common::paddock_bin();
    bin.parent()
        .unwrap_or_else(|| Path::new("."))
        .join("..")
        .join("schemathesis")
}

/// What the model answers: a word, then a tool call needing approval (so
/// an approval is pending while Schemathesis runs), then a word.
const SCRIPT: &str = r#"
model: scripted
scenarios:
  - name: approval
    match: "^wait"
    turns:
      - tool_calls:
          - name: write_file
            arguments: {path: ".env", content: "TOKEN=1\n"}
      - text: "done after the approval"
turns:
  - text: "Hello, I am done."
"#;

async fn call(c: &reqwest::Client, s: &Server, method: &str, path: &str, body: Value) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = c.request(method, s.url(path)).bearer_auth(ADMIN_TOKEN);
    if !body.is_null() {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A directory under `root` with a file in it.
fn dir_with_file(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("README.md"), format!("# {name}\n")).unwrap();
    d
}

/// A git repository on `main` with one commit.
fn repository(root: &Path, name: &str) -> PathBuf {
    let r = dir_with_file(root, name);
    git(&r, &["init", "-q", "-b", "main"]);
    git(&r, &["config", "user.email", "dev@example.com"]);
    git(&r, &["config", "user.name", "Dev"]);
    git(&r, &["add", "."]);
    git(&r, &["commit", "-qm", "start"]);
    r
}

/// A TOML string.
fn toml_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A TOML array of strings.
fn toml_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_to_its_openapi_document() {
    let st = schemathesis();
    let model = scripted::model(SCRIPT).await;
    let paddock = Paddock::new();
    let root = tempfile::Builder::new()
        .prefix("paddock-openapi-")
        .tempdir()
        .unwrap();
    let root_path = std::fs::canonicalize(root.path()).unwrap();
    let dirs: Vec<PathBuf> = ["work", "site", "notes"]
        .iter()
        .map(|n| dir_with_file(&root_path, n))
        .collect();
    let repo = repository(&root_path, "repo");
    // Schemathesis sends thousands of requests a minute with one token:
    // no rate limit here (a 429 would stand in for the answers it checks).
    let config = scripted_config(
        paddock.data_dir(),
        &model.base_url(),
        "[server]\nrate_limit_per_minute = 0\n",
    );
    let root_arg = root_path.display().to_string();
    let server = Server::start_with_args(
        &paddock,
        &config,
        None,
        &[],
        &["--workspace-root", &root_arg],
    );
    let c = reqwest::Client::new();

    // One of each resource, whose names and ids Schemathesis draws from.
    call(
        &c,
        &server,
        "POST",
        "/api/config/agent-templates",
        json!({"name": "reviewer", "workspace": dirs[0], "description": "reads code"}),
    )
    .await;
    call(
        &c,
        &server,
        "POST",
        "/api/config/system-prompts",
        json!({"name": "terse", "text": "Be terse."}),
    )
    .await;
    let plain = call(
        &c,
        &server,
        "POST",
        "/api/workspaces",
        json!({"name": "site", "path": dirs[1]}),
    )
    .await;
    let tree = call(
        &c,
        &server,
        "POST",
        "/api/workspaces",
        json!({"name": "feature", "repo": repo}),
    )
    .await;
    let backup = call(
        &c,
        &server,
        "POST",
        &format!("/api/workspaces/{}/backup", plain["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    let agent = call(
        &c,
        &server,
        "POST",
        "/api/agents",
        json!({"name": "greeter", "workspace": dirs[0], "task": "say hello"}),
    )
    .await;
    let waiting = call(
        &c,
        &server,
        "POST",
        "/api/agents",
        json!({"name": "waiter", "workspace": dirs[2], "task": "wait for approval"}),
    )
    .await;
    call(
        &c,
        &server,
        "POST",
        "/api/policy/rules",
        json!({"rule": "allow read_file"}),
    )
    .await;
    call(
        &c,
        &server,
        "POST",
        "/api/mcp/servers",
        json!({"name": "idle", "command": "true", "disabled": true}),
    )
    .await;
    // The pending approval's call id.
    let waiting_id = waiting["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    let call_id = loop {
        let page = call(
            &c,
            &server,
            "GET",
            &format!("/api/approvals?agent={waiting_id}"),
            Value::Null,
        )
        .await;
        if let Some(id) = page["approvals"][0]["call_id"].as_str() {
            break id.to_string();
        }
        assert!(
            started.elapsed() < scripted::DEADLINE,
            "no approval was requested: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let agent_ids = vec![
        agent["id"].as_str().unwrap().to_string(),
        waiting_id.clone(),
    ];
    let workspace_ids = vec![
        plain["id"].as_str().unwrap().to_string(),
        tree["id"].as_str().unwrap().to_string(),
        "site".to_string(),
        "feature".to_string(),
    ];
    let dir_list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let schemathesis_toml = format!(
        r#"
[dictionaries.agents]
values = {agents}
[dictionaries.workspaces]
values = {workspaces}
[dictionaries.backups]
values = {backups}
[dictionaries.call_ids]
values = {call_ids}
[dictionaries.templates]
values = ["reviewer"]
[dictionaries.prompts]
values = ["terse"]
[dictionaries.mcp_servers]
values = ["idle"]
[dictionaries.dirs]
values = {dirs}
[dictionaries.repos]
values = {repos}
[dictionaries.providers]
values = ["scripted"]

# Things a request names must exist on this host, which no schema can say:
# half of the generated values are drawn from what does (not for DELETE,
# which would take them away for the rest of the run).
[[operations]]
include-path-regex = "^/api/(agents|metrics/agents)/"
exclude-method = "DELETE"
parameters = {{ "path.id" = {{ dictionary = "agents", probability = 0.5 }}, "path.call_id" = {{ dictionary = "call_ids", probability = 0.5 }} }}
[[operations]]
include-path-regex = "^/api/workspaces/"
exclude-method = "DELETE"
parameters = {{ "path.id" = {{ dictionary = "workspaces", probability = 0.5 }} }}
[[operations]]
include-path-regex = "^/api/backups/"
exclude-method = "DELETE"
parameters = {{ "path.id" = {{ dictionary = "backups", probability = 0.5 }} }}
[[operations]]
include-path-regex = "^/api/config/agent-templates/"
exclude-method = "DELETE"
parameters = {{ "path.name" = {{ dictionary = "templates", probability = 0.5 }} }}
[[operations]]
include-path-regex = "^/api/config/system-prompts/"
exclude-method = "DELETE"
parameters = {{ "path.name" = {{ dictionary = "prompts", probability = 0.5 }} }}
[[operations]]
include-path-regex = "^/api/mcp/servers/"
exclude-method = "DELETE"
parameters = {{ "path.name" = {{ dictionary = "mcp_servers", probability = 0.5 }} }}
[[operations]]
include-operation-id = "create_agent"
parameters = {{ "body.workspace" = {{ dictionary = "dirs", probability = 0.5 }}, "body.worktree.repo" = {{ dictionary = "repos", probability = 0.5 }}, "body.template" = {{ dictionary = "templates", probability = 0.5 }}, "body.system_prompt_name" = {{ dictionary = "prompts", probability = 0.5 }}, "body.model.provider" = {{ dictionary = "providers", probability = 0.5 }} }}
# An MCP server is a program the host runs: the only one run here is
# `true` (a request naming a URL as well is refused), never whatever the
# generator made up, such as `sh` reading the JSON-RPC as commands.
[[operations]]
include-operation-id = "add_mcp_server"
parameters = {{ "body.command" = "true" }}
[[operations]]
include-operation-id = "create_workspace"
parameters = {{ "body.path" = {{ dictionary = "dirs", probability = 0.5 }}, "body.repo" = {{ dictionary = "repos", probability = 0.5 }} }}
# Providers are tested for real: they all point at the scripted model,
# never at whatever host the generator made up.
[[operations]]
include-operation-id = "create_provider"
parameters = {{ "body.base_url" = "{model_url}" }}
[[operations]]
include-operation-id = "put_provider"
parameters = {{ "body.base_url" = "{model_url}", "path.name" = {{ dictionary = "providers", probability = 0.5 }} }}
[[operations]]
include-operation-id = "test_unsaved_provider"
parameters = {{ "body.base_url" = "{model_url}" }}
[[operations]]
include-operation-id = "test_provider"
parameters = {{ "path.name" = {{ dictionary = "providers", probability = 0.5 }} }}
[[operations]]
include-operation-id = "put_default_model"
parameters = {{ "body.provider" = {{ dictionary = "providers", probability = 0.5 }} }}

{POSITIVE_DATA_EXCEPTIONS}
"#,
        agents = toml_list(&agent_ids),
        workspaces = toml_list(&workspace_ids),
        backups = toml_list(&[backup["id"].as_str().unwrap().to_string()]),
        call_ids = toml_list(&[call_id]),
        dirs = toml_list(&dir_list),
        repos = toml_list(&[repo.display().to_string()]),
        POSITIVE_DATA_EXCEPTIONS = POSITIVE_DATA_EXCEPTIONS,
        model_url = model.base_url(),
    );
    let work = tempfile::tempdir().unwrap();
    let config_file = work.path().join("schemathesis.toml");
    std::fs::write(&config_file, &schemathesis_toml).unwrap();
    let reports = report_dir();
    std::fs::create_dir_all(&reports).unwrap();

    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&st);
    cmd.current_dir(work.path())
        .arg("--config-file")
        .arg(&config_file)
        .arg("--no-color")
        .arg("run")
        .arg(server.url("/api/openapi.json"))
        .args(["--checks", CHECKS])
        .arg(format!("--max-examples={MAX_EXAMPLES}"))
        .arg(format!("--max-time={MAX_TIME_SECS}"))
        .arg(format!(
            "--seed={}",
            std::env::var("PADDOCK_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.to_string())
        ))
        .args(["--workers", "2"])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "30"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {ADMIN_TOKEN}"))
        .args(["--report", "junit,ndjson"])
        .arg("--report-dir")
        .arg(&reports)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .kill_on_drop(true);
    let out = tokio::time::timeout(HARD_DEADLINE, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ran for more than {HARD_DEADLINE:?}"))
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    println!(
        "schemathesis took {:.0} s; reports in {}",
        started.elapsed().as_secs_f64(),
        reports.display()
    );
    assert!(
        out.status.success(),
        "schemathesis found failures ({:?}); see the output above and {}",
        out.status,
        reports.display()
    );
    // It really ran: operations were tested and the resources it was given
    // were reached.
    assert!(
        stdout.contains("passed") && !stdout.contains("No operations"),
        "{stdout}"
    );
}
