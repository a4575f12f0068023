//! `paddock bench sandbox`, environments: per backend, the time from
//! nothing to an agent's first command in an environment whose setup
//! command must run (uncached: the setup runs, Docker bakes its image)
//! and in the same environment again (cached: only the lookup), each time
//! through [`paddock_sandbox::environment::prepare`] and a new sandbox.

use anyhow::{Result, bail};
use paddock_sandbox::environment::{
    CommandForm, EnvironmentDef, PrepareRequest, ResolvedEnvironment, docker::Engine, prepare,
};
use paddock_sandbox::{Backend, BackendKind, ExecSpec, SandboxConfig, SandboxSpec};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One backend's environment start times.
#[derive(Debug, serde::Serialize)]
pub struct EnvironmentFigures {
    /// The backend.
    pub backend: BackendKind,
    /// Prepare (setup runs) + create + first command, milliseconds.
    pub uncached_ms: f64,
    /// The same environment again (from the cache), milliseconds.
    pub cached_ms: f64,
}

/// Times an uncached and a cached environment start on `backend`.
pub async fn environment_start(
    backend: Arc<dyn Backend>,
    config: &SandboxConfig,
    workspace: &Path,
    cache: &Path,
) -> Result<EnvironmentFigures> {
    // A marker makes the environment new to the cache on every run.
    let marker = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let env = ResolvedEnvironment {
        name: "bench".into(),
        def: EnvironmentDef {
            env: [("BENCH_MARKER".to_string(), marker.clone())].into(),
            post_create: Some(CommandForm::Shell(
                "printf '#!/bin/sh\\necho ready\\n' > $PADDOCK_ENV/bin/bench-tool && chmod +x $PADDOCK_ENV/bin/bench-tool"
                    .into(),
            )),
            ..EnvironmentDef::default()
        },
        base: workspace.to_path_buf(),
        ignored: Vec::new(),
        confine: None,
    };
    let mut times = Vec::new();
    let mut image = None;
    for round in 0..2 {
        let started = Instant::now();
        let spec = SandboxSpec {
            agent_id: format!("bench-env-{round}"),
            workspace: workspace.to_path_buf(),
            network: false.into(),
            read_only: Vec::new(),
            limits: config.limits.clone(),
            environment: None,
            egress: None,
        };
        let (progress, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (prepared, cached) = prepare(
            &env,
            PrepareRequest {
                backend: backend.as_ref(),
                config,
                spec: spec.clone(),
                cache_dir: cache,
                progress,
            },
        )
        .await?;
        if cached != (round == 1) {
            bail!(
                "round {round}: the cache was {}used",
                if cached { "" } else { "not " }
            );
        }
        image = prepared.image.clone();
        let sandbox = backend
            .create(SandboxSpec {
                environment: Some(prepared),
                ..spec
            })
            .await?;
        let out = sandbox
            .exec(
                ExecSpec {
                    argv: vec!["bench-tool".into()],
                    cwd: "/workspace".into(),
                    env: Vec::new(),
                    timeout: Duration::from_secs(60),
                    max_output_bytes: 4096,
                    stdin: None,
                    background: false,
                },
                None,
            )
            .await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        sandbox.destroy().await?;
        if out.stdout.trim() != "ready" {
            bail!(
                "the environment's tool did not run in the {} sandbox: {}{}",
                backend.kind(),
                out.stdout,
                out.stderr
            );
        }
    }
    if backend.kind() == BackendKind::Docker
        && let Some(image) = image
    {
        Engine::connect(config).await?.remove_image(&image).await?;
    }
    Ok(EnvironmentFigures {
        backend: backend.kind(),
        uncached_ms: times[0],
        cached_ms: times[1],
    })
}
