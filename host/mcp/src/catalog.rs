//! The catalogue of well-known MCP servers: what to run and which variables
//! each needs, offered by `GET /api/mcp/catalog` and the dashboard so adding
//! one is a matter of filling in its variables.

use serde::Serialize;

/// A variable a catalogue server needs.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CatalogVar {
    /// The variable's name, referenced as `${NAME}` in the entry.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Whether it is a secret (shown only as set/unset).
    pub secret: bool,
}

/// One well-known server.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CatalogEntry {
    /// Suggested server name.
    pub name: &'static str,
    /// What it offers.
    pub description: &'static str,
    /// Where it comes from (`npm:…` or `pypi:…`).
    pub package: &'static str,
    /// The program to run.
    pub command: &'static str,
    /// Its arguments (may reference the variables as `${NAME}`).
    pub args: &'static [&'static str],
    /// Environment entries (may reference the variables).
    pub env: &'static [(&'static str, &'static str)],
    /// The variables to fill in.
    pub variables: &'static [CatalogVar],
}

impl CatalogEntry {
    /// The entry as an `mcpServers.json` server object.
    pub fn spec(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"command": self.command, "args": self.args});
        if !self.env.is_empty() {
            v["env"] = self
                .env
                .iter()
                .map(|(k, val)| (k.to_string(), serde_json::Value::from(*val)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        v
    }
}

const fn var(name: &'static str, description: &'static str, secret: bool) -> CatalogVar {
    CatalogVar {
        name,
        description,
        secret,
    }
}

/// The catalogue, by name.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: "everything",
        description: "The MCP reference test server: every protocol feature (echo, sums, long-running operations, images, resources).",
        package: "npm:@modelcontextprotocol/server-everything",
        command: "npx",
        args: &["-y", "@modelcontextprotocol/server-everything"],
        env: &[],
        variables: &[],
    },
    CatalogEntry {
        name: "fetch",
        description: "Fetch web pages and convert them to markdown.",
        package: "pypi:mcp-server-fetch",
        command: "uvx",
        args: &["mcp-server-fetch"],
        env: &[],
        variables: &[],
    },
    CatalogEntry {
        name: "filesystem",
        description: "Read, write and search files under the directories given.",
        package: "npm:@modelcontextprotocol/server-filesystem",
        command: "npx",
        args: &[
            "-y",
            "@modelcontextprotocol/server-filesystem",
            "${ALLOWED_DIR}",
        ],
        env: &[],
        variables: &[var(
            "ALLOWED_DIR",
            "The directory the server may access.",
            false,
        )],
    },
    CatalogEntry {
        name: "git",
        description: "Read and manipulate a local git repository (status, diff, log, commit, branches).",
        package: "pypi:mcp-server-git",
        command: "uvx",
        args: &["mcp-server-git", "--repository", "${GIT_REPOSITORY}"],
        env: &[],
        variables: &[var("GIT_REPOSITORY", "Path of the repository.", false)],
    },
    CatalogEntry {
        name: "github",
        description: "GitHub repositories, issues, pull requests and code search.",
        package: "npm:@modelcontextprotocol/server-github",
        command: "npx",
        args: &["-y", "@modelcontextprotocol/server-github"],
        env: &[(
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "${GITHUB_PERSONAL_ACCESS_TOKEN}",
        )],
        variables: &[var(
            "GITHUB_PERSONAL_ACCESS_TOKEN",
            "A GitHub personal access token.",
            true,
        )],
    },
    CatalogEntry {
        name: "memory",
        description: "A persistent knowledge graph the agent can store facts in.",
        package: "npm:@modelcontextprotocol/server-memory",
        command: "npx",
        args: &["-y", "@modelcontextprotocol/server-memory"],
        env: &[],
        variables: &[],
    },
    CatalogEntry {
        name: "postgres",
        description: "Read-only SQL queries and schema inspection of a PostgreSQL database.",
        package: "npm:@modelcontextprotocol/server-postgres",
        command: "npx",
        args: &[
            "-y",
            "@modelcontextprotocol/server-postgres",
            "${POSTGRES_URL}",
        ],
        env: &[],
        variables: &[var(
            "POSTGRES_URL",
            "Connection URL, e.g. postgresql://user:pass@host/db.",
            true,
        )],
    },
    CatalogEntry {
        name: "puppeteer",
        description: "Drive a headless browser: navigate, screenshot, click, fill forms.",
        package: "npm:@modelcontextprotocol/server-puppeteer",
        command: "npx",
        args: &["-y", "@modelcontextprotocol/server-puppeteer"],
        env: &[],
        variables: &[],
    },
    CatalogEntry {
        name: "slack",
        description: "Read and post Slack messages, list channels and users.",
        package: "npm:@modelcontextprotocol/server-slack",
        command: "npx",
        args: &["-y", "@modelcontextprotocol/server-slack"],
        env: &[
            ("SLACK_BOT_TOKEN", "${SLACK_BOT_TOKEN}"),
            ("SLACK_TEAM_ID", "${SLACK_TEAM_ID}"),
        ],
        variables: &[
            var("SLACK_BOT_TOKEN", "A Slack bot token (xoxb-…).", true),
            var("SLACK_TEAM_ID", "The workspace's team id.", false),
        ],
    },
    CatalogEntry {
        name: "time",
        description: "Current time and time-zone conversions.",
        package: "pypi:mcp-server-time",
        command: "uvx",
        args: &["mcp-server-time"],
        env: &[],
        variables: &[],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerSpec;

    #[test]
    fn every_entry_is_a_valid_server_once_its_variables_are_set() {
        let mut names: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort();
            s
        };
        assert_eq!(names, sorted, "catalogue is kept in name order");
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        for e in CATALOG {
            let spec = ServerSpec::from_value(e.name, &e.spec()).unwrap();
            let mut referenced = spec.referenced_vars();
            referenced.sort();
            let mut declared: Vec<String> =
                e.variables.iter().map(|v| v.name.to_string()).collect();
            declared.sort();
            assert_eq!(referenced, declared, "{}", e.name);
            spec.resolve(e.name, &|_| Some("value".into())).unwrap();
        }
    }
}
