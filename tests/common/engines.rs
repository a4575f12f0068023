//! Remote container engines for the engine-pool tests: Podman services,
//! each with a store of its own, behind a TLS terminator that requires a
//! client certificate (`scripts/podman-engines.sh`), standing in for other
//! machines' Docker engines. They read the sandbox image from the shared
//! test store ([`super::podman::engine`]) and live under
//! `<target>/podman-engines`.

use paddock_sandbox::EngineTls;
use std::path::PathBuf;
use std::process::Command;

/// `<target>/podman-engines`.
pub fn engines_dir() -> PathBuf {
    super::podman::engine_dir()
        .parent()
        .expect("the podman dir is in the target dir")
        .join("podman-engines")
}

/// One engine, removed (service stopped, containers removed) on drop.
pub struct RemoteEngine {
    /// Its name (a directory under [`engines_dir`]).
    pub name: String,
    /// `tcp://127.0.0.1:PORT`.
    pub url: String,
}

fn script(args: &[&str]) -> String {
    let out = Command::new(super::repo_root().join("scripts/podman-engines.sh"))
        .args(args)
        .output()
        .expect("run scripts/podman-engines.sh");
    assert!(
        out.status.success(),
        "scripts/podman-engines.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl RemoteEngine {
    /// Starts one (the sandbox image is built first if needed).
    pub fn start(prefix: &str) -> RemoteEngine {
        let images = super::podman::engine_dir().join("root");
        // The shared store has the image once this returns.
        super::podman::engine();
        let name = format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff);
        let dir = engines_dir();
        let url = script(&[
            "start",
            &dir.display().to_string(),
            &name,
            &images.display().to_string(),
        ]);
        assert!(url.starts_with("tcp://127.0.0.1:"), "{url}");
        RemoteEngine { name, url }
    }

    /// Stops it as a machine that went away: its service and TLS
    /// terminator end, its containers keep running, unreachable.
    pub fn stop(&self) {
        script(&["stop", &engines_dir().display().to_string(), &self.name]);
    }

    /// Starts it again, at the same address.
    pub fn restart(&self) {
        let images = super::podman::engine_dir().join("root");
        let url = script(&[
            "start",
            &engines_dir().display().to_string(),
            &self.name,
            &images.display().to_string(),
        ]);
        assert_eq!(url, self.url, "a restarted engine keeps its address");
    }

    /// Puts an SSH server in front of it too; its `ssh://` address.
    pub fn ssh(&self) -> String {
        let url = script(&["ssh", &engines_dir().display().to_string(), &self.name]);
        assert!(url.starts_with("ssh://"), "{url}");
        url
    }

    /// The key of the `ssh://` engines, and the directory of the `ssh`
    /// that knows them (first on the client's PATH).
    pub fn ssh_client() -> (PathBuf, PathBuf) {
        let dir = engines_dir().join("ssh");
        (dir.join("id_ed25519"), dir.join("bin"))
    }

    /// The client certificates every engine accepts.
    pub fn tls() -> EngineTls {
        let certs = engines_dir().join("certs");
        EngineTls {
            ca: certs.join("ca.pem"),
            cert: certs.join("cert.pem"),
            key: certs.join("key.pem"),
        }
    }

    /// A client of it, through TLS.
    pub async fn docker(&self) -> bollard::Docker {
        let tls = RemoteEngine::tls();
        paddock_sandbox::engines::tls_provider();
        bollard::Docker::connect_with_ssl(
            &self.url,
            &tls.key,
            &tls.cert,
            &tls.ca,
            60,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap()
        .negotiate_version()
        .await
        .unwrap()
    }

    /// Its containers (all states) with the label `key=value` (e.g.
    /// `paddock.host=…`): the agent each belongs to and its bind mounts'
    /// sources, sorted by agent.
    pub async fn containers_with(&self, label: &str) -> Vec<(String, Vec<String>)> {
        let (key, value) = label.split_once('=').expect("key=value");
        let docker = self.docker().await;
        let filters =
            std::collections::HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let mut found: Vec<(String, Vec<String>)> = docker
            .list_containers(Some(options))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                if labels.get(key).map(String::as_str) != Some(value) {
                    return None;
                }
                let mounts = c
                    .mounts
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.source)
                    .collect();
                Some((
                    labels.get("paddock.agent").cloned().unwrap_or_default(),
                    mounts,
                ))
            })
            .collect();
        found.sort();
        found
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        let _ = Command::new(super::repo_root().join("scripts/podman-engines.sh"))
            .args(["remove", &engines_dir().display().to_string(), &self.name])
            .output();
        let _ = std::fs::remove_dir_all(engines_dir().join(&self.name));
    }
}
