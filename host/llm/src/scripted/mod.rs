//! The scripted model: an OpenAI-compatible server (`/v1/chat/completions`,
//! `/v1/responses`, `/v1/models`) that answers from a script instead of a
//! model — for tests, benchmarks and offline demos. [`ScriptedModel::start`] embeds it;
//! `paddock scripted-model` runs it. The script format is in README.md
//! ("The scripted model") and [`script`].

mod answer;
pub mod export;
mod responses;
pub mod script;
mod server;

pub use script::{Conversation, Deltas, Expect, Fault, InputError, Script, ScriptError, UsageSpec};
pub use server::{REQUEST_LOG_LEN, Stats};

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `paddock scripted-model`.
#[derive(clap::Args, Debug, Clone)]
pub struct ScriptedModelArgs {
    /// The script (YAML, or JSON when it ends in .json).
    #[arg(long)]
    pub script: PathBuf,
    /// The port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
}

/// A scripted model, ready to serve.
pub struct ScriptedModel {
    state: Arc<server::State>,
}

impl ScriptedModel {
    /// A server answering from `script`, to anyone.
    pub fn new(script: Script) -> ScriptedModel {
        ScriptedModel {
            state: Arc::new(server::State::new(script, Vec::new())),
        }
    }

    /// A server answering from `script` only requests that carry
    /// `Authorization: Bearer <api_key>`; others get 401 `invalid_api_key`.
    pub fn with_api_key(script: Script, api_key: String) -> ScriptedModel {
        ScriptedModel::with_api_keys(script, vec![api_key])
    }

    /// A server answering from `script` only requests that carry one of
    /// `api_keys` (`Authorization: Bearer <key>`; others get 401
    /// `invalid_api_key`), noting which key each request carried (see
    /// [`RunningModel::requests_with_keys`]). No keys: anyone is answered.
    pub fn with_api_keys(script: Script, api_keys: Vec<String>) -> ScriptedModel {
        ScriptedModel {
            state: Arc::new(server::State::new(script, api_keys)),
        }
    }

    /// Its routes, to mount in another axum app.
    pub fn router(&self) -> axum::Router {
        server::router(self.state.clone())
    }

    /// Serves `script` on `addr` (port 0: any free port) until the returned
    /// handle is shut down or dropped.
    pub async fn start(script: Script, addr: SocketAddr) -> std::io::Result<RunningModel> {
        ScriptedModel::new(script).serve(addr).await
    }

    /// Serves this model on `addr` (port 0: any free port) until the
    /// returned handle is shut down or dropped.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<RunningModel> {
        let model = self;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let cancel = model.state.cancel.clone();
        let router = model.router();
        let task = tokio::spawn(async move {
            let shutdown = cancel.clone();
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
            {
                tracing::warn!("scripted model server stopped: {e}");
            }
        });
        Ok(RunningModel {
            addr,
            state: model.state,
            task: Some(task),
        })
    }
}

/// A scripted model serving in the background. Dropping it stops it.
pub struct RunningModel {
    addr: SocketAddr,
    state: Arc<server::State>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningModel {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// What it has seen so far.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// The request bodies received (the most recent [`REQUEST_LOG_LEN`]).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.state.requests()
    }

    /// The request bodies received (as [`RunningModel::requests`]), each
    /// with the index among [`ScriptedModel::with_api_keys`]'s keys of the
    /// key it carried (None for a model that needs no key).
    pub fn requests_with_keys(&self) -> Vec<(Option<usize>, serde_json::Value)> {
        self.state.requests_with_keys()
    }

    /// Stops serving: ends every stream and waits (up to 5 s) for the server.
    pub async fn shutdown(mut self) {
        self.state.cancel.cancel();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for RunningModel {
    fn drop(&mut self) {
        self.state.cancel.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `paddock scripted-model`: serves until killed, after printing
/// `listening on http://ADDR/v1` on stdout.
pub async fn run(args: &ScriptedModelArgs) -> anyhow::Result<()> {
    let script = Script::load(&args.script)?;
    let running = ScriptedModel::start(script, SocketAddr::new(args.bind, args.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.bind, args.port))?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", running.base_url())?;
        out.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}
