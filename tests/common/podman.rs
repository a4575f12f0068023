//! A private Podman service (Docker-compatible API) and the sandbox image,
//! for the tests of the Docker sandbox backend: `<target>/podman`, kept
//! between runs, set up by `scripts/podman-service.sh` and
//! `scripts/sandbox-image.sh`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// The Podman service every test talks to.
pub struct Engine {
    /// `unix://…/podman.sock`.
    pub endpoint: String,
    /// Environment for the `podman` CLI on the same private store.
    pub env: Vec<(String, String)>,
}

/// `<target>/podman`: the test binary is `<target>/<profile>/deps/…`.
pub fn engine_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("test binary path");
            exe.ancestors()
                .nth(3)
                .expect("the test binary is under <target>/<profile>/deps")
                .to_path_buf()
        }
    };
    let target = if target.is_absolute() {
        target
    } else {
        super::repo_root().join(target)
    };
    target.join("podman")
}

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        if Command::new("podman").arg("--version").output().is_err() {
            panic!(
                "podman is not installed: the Docker sandbox tests run against Podman's \
                 Docker-compatible API (scripts/setup-test.sh installs podman, runc and catatonit)"
            );
        }
        let dir = engine_dir();
        let started = Instant::now();
        let out = Command::new(super::repo_root().join("scripts/podman-service.sh"))
            .arg(&dir)
            .output()
            .expect("run scripts/podman-service.sh");
        assert!(
            out.status.success(),
            "scripts/podman-service.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let endpoint = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let env = vec![
            (
                "CONTAINERS_CONF".to_string(),
                dir.join("containers.conf").display().to_string(),
            ),
            (
                "CONTAINERS_STORAGE_CONF".to_string(),
                dir.join("storage.conf").display().to_string(),
            ),
        ];
        let cache = std::env::var("PADDOCK_CACHE_DIR")
            .unwrap_or_else(|_| dir.join("cache").display().to_string());
        let out = Command::new(super::repo_root().join("scripts/sandbox-image.sh"))
            .args(["--engine", "podman"])
            .envs(env.iter().cloned())
            .env("PADDOCK_CACHE_DIR", cache)
            .output()
            .expect("run scripts/sandbox-image.sh");
        assert!(
            out.status.success(),
            "scripts/sandbox-image.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Containers a crashed earlier run left behind (the store is the
        // tests' own).
        let leftovers = Command::new("podman")
            .args(["ps", "-aq", "--filter", "label=paddock.sandbox=1"])
            .envs(env.iter().cloned())
            .output()
            .expect("podman ps");
        let ids: Vec<String> = String::from_utf8_lossy(&leftovers.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0"])
                .args(&ids)
                .envs(env.iter().cloned())
                .output();
        }
        eprintln!(
            "podman service at {endpoint}, image ready ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        Engine { endpoint, env }
    })
}

/// Ids of containers (all states) with every label in `labels`.
pub async fn containers_of(labels: &[String]) -> Vec<String> {
    let docker = bollard::Docker::connect_with_host(&engine().endpoint)
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let filters = HashMap::from([("label".to_string(), labels.to_vec())]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            let have = c.labels.clone().unwrap_or_default();
            labels.iter().all(|l| {
                let (k, v) = l.split_once('=').unwrap();
                have.get(k).map(String::as_str) == Some(v)
            })
        })
        .filter_map(|c| c.id)
        .collect()
}
