//! The process-wide wasmtime engine: its configuration (pooling allocator,
//! epoch interruption, async), the epoch ticker, and the on-disk cache of
//! compiled components.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances; also how often running guest code
/// yields to the async executor.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Most plugin instances alive at once (the pooling allocator's slots).
pub const MAX_CONCURRENT_INSTANCES: u32 = 256;

/// Largest linear memory a plugin may ever get (the pool's slot size).
pub const MAX_MEMORY_BYTES: usize = 4 << 30;

/// Why the engine could not be set up or a component not compiled.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime refused the configuration.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Config(String),
    /// The bytes are not a component, or not a valid one.
    #[error("{0}")]
    Compile(String),
    /// The cache directory could not be used.
    #[error("component cache {path}: {source}")]
    Cache {
        /// The cache path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn config(pooling: bool) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.memory_init_cow(true);
    config.parallel_compilation(true);
    // Keep frames readable in trap messages.
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(MAX_CONCURRENT_INSTANCES)
            .total_core_instances(MAX_CONCURRENT_INSTANCES * 8)
            .total_memories(MAX_CONCURRENT_INSTANCES * 2)
            .total_tables(MAX_CONCURRENT_INSTANCES * 8)
            .total_stacks(MAX_CONCURRENT_INSTANCES)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(MAX_MEMORY_BYTES)
            .max_unused_warm_slots(64);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// The engine and its epoch ticker; dropping it stops the ticker.
pub struct PluginEngine {
    engine: Engine,
    stop: Arc<AtomicBool>,
    compat: String,
}

impl PluginEngine {
    /// Builds the engine with the pooling allocator, falling back to
    /// on-demand allocation where the pool's address space cannot be
    /// reserved (e.g. under a low `ulimit -v`).
    pub fn new() -> Result<PluginEngine, EngineError> {
        let engine = match Engine::new(&config(true)) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand instance allocation");
                Engine::new(&config(false)).map_err(|e| EngineError::Config(format!("{e:#}")))?
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.weak();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("paddock-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticker_engine.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| EngineError::Config(format!("cannot start the epoch thread: {e}")))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());
        Ok(PluginEngine {
            engine,
            stop,
            compat,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component, or loads it from `cache_dir` when this engine
    /// compiled the same bytes before. Returns the component and whether it
    /// came from the cache.
    pub fn load(
        &self,
        bytes: &[u8],
        cache_dir: Option<&Path>,
    ) -> Result<(Component, bool), EngineError> {
        let Some(dir) = cache_dir else {
            return Ok((self.compile(bytes)?, false));
        };
        let key = format!(
            "{}-{}.cwasm",
            hex::encode(Sha256::digest(bytes)),
            self.compat
        );
        let path = dir.join(key);
        if path.is_file() {
            // SAFETY: the cache directory is private to this host (inside its
            // data dir) and files are written there only by `store_cached`
            // below from this engine's own `serialize`; wasmtime also checks
            // the engine version and configuration before loading.
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(c) => return Ok((c, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached component");
                }
            }
        }
        let component = self.compile(bytes)?;
        if let Err(e) = store_cached(dir, &path, &component) {
            tracing::warn!(error = %e, "could not cache compiled component");
        }
        Ok((component, false))
    }

    /// Compiles a component from bytes, with a readable error for things
    /// that are not components.
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, EngineError> {
        if !bytes.starts_with(b"\0asm") {
            return Err(EngineError::Compile(
                "not a WebAssembly component: the file does not start with the `\\0asm` magic bytes"
                    .into(),
            ));
        }
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(EngineError::Compile(
                "not a WebAssembly component: this is a core WebAssembly module; build for the \
                 `wasm32-wasip2` target (or wrap it with `wasm-tools component new`)"
                    .into(),
            ));
        }
        Component::new(&self.engine, bytes)
            .map_err(|e| EngineError::Compile(format!("not a valid WebAssembly component: {e:#}")))
    }
}

fn store_cached(dir: &Path, path: &Path, component: &Component) -> Result<(), EngineError> {
    let io = |source| EngineError::Cache {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let bytes = component
        .serialize()
        .map_err(|e| EngineError::Compile(format!("cannot serialize component: {e:#}")))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
