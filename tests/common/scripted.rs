//! A real `paddock serve` with agents on the scripted model, and helpers to
//! read their events (as the host's types, see [`super::events`]).

pub use super::events::*;
use super::{Paddock, Server, scripted_config};
use paddock_llm::scripted::{RunningModel, Script, ScriptedModel};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long an agent may take to reach a status.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub async fn model(script: &str) -> RunningModel {
    let script = Script::from_yaml_str(script).unwrap();
    ScriptedModel::start(script, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

pub struct Setup {
    pub paddock: Paddock,
    pub server: Server,
    pub model: RunningModel,
    pub workspace: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub http: reqwest::Client,
}

pub async fn setup(script: &str, extra_config: &str, env: &[(&str, &str)]) -> Setup {
    let model = model(script).await;
    let paddock = Paddock::new();
    let config = scripted_config(paddock.data_dir(), &model.base_url(), extra_config);
    let server = Server::start(&paddock, &config, None, env);
    Setup {
        paddock,
        server,
        model,
        workspace: tempfile::tempdir().unwrap(),
        config,
        http: super::client(),
    }
}

impl Setup {
    pub async fn create(&self, task: &str) -> String {
        self.create_with(task, json!({})).await
    }

    /// Creates an agent on `task` with more fields (`extra`, an object).
    pub async fn create_with(&self, task: &str, extra: Value) -> String {
        let mut body = json!({"name": "t", "workspace": self.workspace.path(), "task": task});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self
            .http
            .post(self.server.url("/api/agents"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn events(&self, id: &str) -> Vec<Event> {
        events(&self.http, &self.server, id).await
    }

    pub async fn agent(&self, id: &str) -> Value {
        self.get(&format!("/api/agents/{id}")).await
    }

    pub async fn get(&self, path: &str) -> Value {
        get_json(&self.http, &self.server.url(path)).await
    }

    /// Waits until the agent's latest status, after seq `after`, is one of
    /// `statuses`; returns all events.
    pub async fn wait_status(&self, id: &str, after: u64, statuses: &[&str]) -> Vec<Event> {
        wait_status(&self.http, &self.server, id, after, statuses).await
    }

    /// Waits until the agent has `results` tool results and a model answer
    /// is streaming (to kill the host in the middle of it).
    pub async fn wait_streaming_after(&self, id: &str, results: usize) {
        let started = Instant::now();
        loop {
            let evs = self.events(id).await;
            if evs
                .iter()
                .filter(|e| matches!(e.body, EventBody::ToolResult { .. }))
                .count()
                == results
                && self.model.stats().active_streams == 1
            {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "never streaming after {results} tool results: {}",
                summary(&evs)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

pub async fn events(http: &reqwest::Client, server: &Server, id: &str) -> Vec<Event> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let url = server.url(&format!("/api/agents/{id}/events?after={after}&limit=500"));
        let batch = super::events::events(&get_json(http, &url).await);
        let Some(last) = batch.last() else {
            return all;
        };
        after = last.seq;
        all.extend(batch);
    }
}

pub async fn wait_status(
    http: &reqwest::Client,
    server: &Server,
    id: &str,
    after: u64,
    statuses: &[&str],
) -> Vec<Event> {
    let started = Instant::now();
    loop {
        let evs = events(http, server, id).await;
        let last = evs.iter().rev().find_map(|e| match &e.body {
            EventBody::AgentStatus { status, .. } if e.seq > after => Some(*status),
            _ => None,
        });
        if let Some(s) = last
            && statuses.contains(&s.as_str())
        {
            return evs;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "agent {id} never reached {statuses:?}: {}",
            summary(&evs)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
