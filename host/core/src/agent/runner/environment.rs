//! Preparing the agent's environment at the start of a run: once per
//! sandbox (this process has not prepared it yet), before the first model
//! call, so that the model's first command runs in it. Setup progress is
//! recorded as `environment.setup` events (a command's output capped per
//! run); a failure stops the run with `environment_setup_failed`, naming
//! the command, and a retry prepares again.

use super::{Agent, AgentError, Failure};
use paddock_protocol::events::{ErrorCode, EventBody, SetupStep};
use paddock_sandbox::environment::{EnvironmentError, PreparedEnvironment};
use paddock_sandbox::{BackendKind, SandboxSpec};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Output of setup commands recorded per preparation; past it, output
/// events are dropped (one note says so) and the failure's tail still
/// shows the end.
const RECORDED_OUTPUT: usize = 256 * 1024;

impl Agent {
    /// Prepares the agent's environment if it has one and this process has
    /// not prepared it; returns the failure that stops the run, if any.
    pub(super) async fn prepare_environment(
        &self,
        token: &CancellationToken,
    ) -> Result<Option<Failure>, AgentError> {
        let sandbox = &self.deps.sandbox;
        if !matches!(
            sandbox.kind(),
            Some(BackendKind::Docker | BackendKind::Bwrap)
        ) || sandbox.environment_of(&self.id).is_some()
        {
            return Ok(None);
        }
        let resolved = match self
            .deps
            .environments
            .resolve(self.config.environment.as_deref(), &self.config.workspace)
        {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(message) => {
                let name = self
                    .config
                    .environment
                    .clone()
                    .unwrap_or_else(|| crate::environments::DEVCONTAINER.to_string());
                self.append(setup_event(&name, SetupStep::Failed, |e| {
                    if let EventBody::EnvironmentSetup { detail, .. } = e {
                        *detail = Some(message.clone());
                    }
                }))
                .await?;
                return Ok(Some(Failure::new(
                    ErrorCode::EnvironmentSetupFailed,
                    message,
                )));
            }
        };
        let read_only = self
            .deps
            .workspaces
            .sandbox_mounts(self.config.workspace_id.as_deref())
            .await;
        let spec = SandboxSpec {
            agent_id: self.id.clone(),
            workspace: self.config.workspace.clone(),
            network: self.config.network.clone(),
            read_only,
            limits: Default::default(),
            environment: None,
            egress: None,
        };
        tracing::info!(environment = %resolved.name, "preparing the agent's environment");
        let started = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let prep =
            sandbox.prepare_environment(&resolved, spec, self.deps.environments.cache_dir(), tx);
        tokio::pin!(prep);
        let mut recorded = 0usize;
        let mut cut = false;
        let result = loop {
            tokio::select! {
                r = &mut prep => break Some(r),
                () = token.cancelled() => break None,
                Some(body) = rx.recv() => self.record_setup(body, &mut recorded, &mut cut).await?,
            }
        };
        while let Ok(body) = rx.try_recv() {
            self.record_setup(body, &mut recorded, &mut cut).await?;
        }
        let name = resolved.name.clone();
        let duration_ms = Some(started.elapsed().as_millis() as u64);
        match result {
            // Interrupted: the run stops at its next step; the next one
            // prepares again.
            None => Ok(None),
            Some(Ok((prepared, cached))) => {
                tracing::info!(environment = %name, cached, ms = ?duration_ms, "environment ready");
                self.append(setup_event(&name, SetupStep::Finished, |e| {
                    if let EventBody::EnvironmentSetup {
                        cached: c,
                        duration_ms: d,
                        detail,
                        ..
                    } = e
                    {
                        *c = Some(cached);
                        *d = duration_ms;
                        *detail = Some(describe(&prepared));
                    }
                }))
                .await?;
                Ok(None)
            }
            Some(Err(e)) => {
                let message = format!("environment `{name}`: {e}");
                self.append(setup_event(&name, SetupStep::Failed, |ev| {
                    if let EventBody::EnvironmentSetup {
                        command,
                        output,
                        exit_code,
                        duration_ms: d,
                        detail,
                        ..
                    } = ev
                    {
                        if let EnvironmentError::Command {
                            command: c,
                            exit,
                            tail,
                            ..
                        } = &e
                        {
                            *command = Some(c.clone());
                            *exit_code = *exit;
                            *output = Some(tail.clone());
                        }
                        *d = duration_ms;
                        *detail = Some(message.clone());
                    }
                }))
                .await?;
                Ok(Some(Failure::new(
                    ErrorCode::EnvironmentSetupFailed,
                    message,
                )))
            }
        }
    }

    /// Records one progress event, dropping output past
    /// [`RECORDED_OUTPUT`] (with one note).
    async fn record_setup(
        &self,
        body: EventBody,
        recorded: &mut usize,
        cut: &mut bool,
    ) -> Result<(), AgentError> {
        if let EventBody::EnvironmentSetup {
            step: SetupStep::Output,
            output: Some(text),
            environment,
            phase,
            command,
            ..
        } = &body
        {
            if *recorded >= RECORDED_OUTPUT {
                if !*cut {
                    *cut = true;
                    let (environment, phase, command) =
                        (environment.clone(), *phase, command.clone());
                    self.append(setup_event(&environment, SetupStep::Output, |e| {
                        if let EventBody::EnvironmentSetup {
                            output,
                            phase: p,
                            command: c,
                            ..
                        } = e
                        {
                            *output = Some(format!(
                                "\n[more setup output is not recorded: {} KiB were]\n",
                                RECORDED_OUTPUT / 1024
                            ));
                            *p = phase;
                            *c = command;
                        }
                    }))
                    .await?;
                }
                return Ok(());
            }
            *recorded += text.len();
        }
        self.append(body).await?;
        Ok(())
    }
}

/// What a prepared environment runs, in words.
fn describe(p: &PreparedEnvironment) -> String {
    match (&p.image, p.mounts.first()) {
        (Some(image), _) => format!("image {image}"),
        (None, Some(m)) => format!("setup results at {} (cache {})", m.target, p.key),
        (None, None) => "the host's system with the environment's variables".into(),
    }
}

/// An `environment.setup` body of `step`, changed by `fill`.
fn setup_event(name: &str, step: SetupStep, fill: impl FnOnce(&mut EventBody)) -> EventBody {
    let mut e = EventBody::EnvironmentSetup {
        environment: name.to_string(),
        step,
        phase: None,
        command: None,
        output: None,
        cached: None,
        duration_ms: None,
        exit_code: None,
        ignored: Vec::new(),
        detail: None,
    };
    fill(&mut e);
    e
}
