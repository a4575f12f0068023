//! Plugins through a real OCI registry: Debian's `docker-registry` (the
//! CNCF distribution registry) started by each test on a free loopback
//! port with a temporary storage directory. Push (signed with a key made
//! by `paddock plugin keygen`), install by tag and by digest with the digest
//! pinned; a tampered blob, a signature of another artifact, an untrusted
//! key and a missing signature are each refused with nothing installed;
//! the reference `minisign` tool verifies a Paddock signature; an update
//! that requests a new capability waits for the admin (CLI and API), and
//! one that does not applies at once with grants kept.

use crate::common::{
    self, ADMIN_TOKEN, Paddock, Server, USER_TOKEN, client_with, describe, scripted_config, stdout,
    wasm_in,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A `docker-registry` process on a free loopback port, killed on drop.
struct Registry {
    child: Child,
    port: u16,
    storage: tempfile::TempDir,
    _config: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let bin = which("docker-registry");
        let storage = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let port = common::mcp_servers::free_port();
        let path = config.path().join("config.yml");
        std::fs::write(
            &path,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  cache:\n    blobdescriptor: \"\"\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: paddock-oci-test\n",
                storage.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let mut reg = Registry {
            child,
            port,
            storage,
            _config: config,
        };
        // Wait until it answers (bounded: it starts in well under a second).
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return reg;
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                panic!("docker-registry exited: {status}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = reg.child.kill();
        panic!("docker-registry did not listen on {port}");
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn reference(&self, repo_tag: &str) -> String {
        format!("oci://{}/{repo_tag}", self.host())
    }

    /// The file holding blob `digest` in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .path()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(tool: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} is not installed; run scripts/oci-registry.sh (make test does)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A copy of the staged probe plugin with its own version and `env`
/// requests (and no other capabilities).
fn probe_version(version: &str, env: &[&str]) -> tempfile::TempDir {
    let staged = common::test_plugins_dir().join("probe");
    assert!(
        staged.join("paddock-plugin.toml").is_file(),
        "the probe plugin is not staged in {} (run `make test-plugins`)",
        staged.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<String> = env.iter().map(|e| format!("\"{e}\"")).collect();
    std::fs::write(
        dir.path().join("paddock-plugin.toml"),
        format!(
            "name = \"probe\"\nversion = \"{version}\"\nworld = \"tool\"\ndescription = \"probe from a registry\"\n\n[capabilities]\nenv = [{}]\n\n[limits]\nmemory_mb = 32\ntimeout_ms = 2000\nmax_output_kb = 64\n",
            env.join(", ")
        ),
    )
    .unwrap();
    let wasm = wasm_in(&staged);
    std::fs::copy(&wasm, dir.path().join("probe.wasm")).unwrap();
    dir
}

fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", describe(out));
    stdout(out)
}

fn refused(out: &Output, what: &str, says: &str) {
    assert!(
        !out.status.success(),
        "{what} must be refused: {}",
        describe(out)
    );
    let all = format!("{}{}", stdout(out), common::stderr(out));
    assert!(
        all.contains(says),
        "{what}: expected `{says}` in: {}",
        describe(out)
    );
}

/// A signing key made by `paddock plugin keygen`: (secret, public, id).
fn keygen(p: &Paddock, dir: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let prefix = dir.join(name);
    let out = ok(
        &p.cmd([
            "plugin".as_ref(),
            "keygen".as_ref(),
            "--out".as_ref(),
            prefix.as_os_str(),
        ]),
        "keygen",
    );
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("key id "))
        .expect("keygen prints the key id")
        .trim()
        .to_string();
    (
        PathBuf::from(format!("{}.key", prefix.display())),
        PathBuf::from(format!("{}.pub", prefix.display())),
        id,
    )
}

fn trust(p: &Paddock, public: &Path) {
    ok(
        &p.cmd([
            "plugin".as_ref(),
            "trust".as_ref(),
            "add".as_ref(),
            public.as_os_str(),
            "--name".as_ref(),
            "author".as_ref(),
        ]),
        "trust add",
    );
}

/// Pushes `dir` to `reference` (signed with `key` when given); the digest.
fn push(p: &Paddock, dir: &Path, reference: &str, key: Option<&Path>) -> String {
    let mut cmd = p.command();
    cmd.args(["plugin", "push"]).arg(dir).arg(reference);
    if let Some(k) = key {
        cmd.arg("--key").arg(k);
    }
    let out = ok(&cmd.output().unwrap(), "push");
    out.lines()
        .find_map(|l| l.trim().strip_prefix("digest: "))
        .expect("push prints the digest")
        .to_string()
}

fn install(p: &Paddock, reference: &str, extra: &[&str]) -> Output {
    let mut cmd = p.command();
    cmd.args(["plugin", "install", reference]).args(extra);
    cmd.output().unwrap()
}

fn show(p: &Paddock) -> Value {
    serde_json::from_str(&ok(&p.cmd(["plugin", "show", "probe", "--json"]), "show")).unwrap()
}

fn installed(p: &Paddock) -> bool {
    let list: Value =
        serde_json::from_str(&ok(&p.cmd(["plugin", "list", "--json"]), "list")).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .any(|pl| pl["name"] == "probe")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn push_install_by_tag_and_by_digest_pins_the_digest_and_minisign_verifies() {
    let reg = Registry::start();
    let p = Paddock::new();
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, id) = keygen(&p, keys.path(), "author");
    trust(&p, &public);
    let v1 = probe_version("1.0.0", &["PROBE_ALLOWED"]);
    let tag = reg.reference("team/probe:1.0.0");
    let digest = push(&p, v1.path(), &tag, Some(&secret));

    let out = ok(&install(&p, &tag, &[]), "install by tag");
    assert!(out.contains(&digest), "{out}");
    let shown = show(&p);
    assert_eq!(shown["origin"]["digest"], digest.as_str());
    assert_eq!(shown["origin"]["reference"], tag.as_str());
    assert_eq!(shown["origin"]["signer"], id.as_str());
    assert_eq!(shown["version"], "1.0.0");
    let text = ok(&p.cmd(["plugin", "show", "probe"]), "show");
    assert!(
        text.contains(&format!("digest:    {digest}")) && text.contains(&id),
        "{text}"
    );

    // The installed plugin runs, with what it was granted.
    ok(
        &p.cmd(["plugin", "grant", "probe", "env:PROBE_ALLOWED"]),
        "grant",
    );
    let ws = tempfile::tempdir().unwrap();
    let call = p
        .command()
        .args(["tool", "call", "probe_env", "--workspace"])
        .arg(ws.path())
        .args(["--input", r#"{"name":"PROBE_ALLOWED"}"#])
        .env("PROBE_ALLOWED", "from-the-registry")
        .output()
        .unwrap();
    assert!(ok(&call, "tool call").contains("from-the-registry"));

    // By digest, in another data dir.
    let q = Paddock::new();
    trust(&q, &public);
    let by_digest = reg.reference(&format!("team/probe@{digest}"));
    ok(&install(&q, &by_digest, &[]), "install by digest");
    let shown = show(&q);
    assert_eq!(shown["origin"]["digest"], digest.as_str());
    assert_eq!(shown["origin"]["reference"], by_digest.as_str());
    // A digest the registry does not have.
    let missing = reg.reference(&format!("team/probe@sha256:{}", "0".repeat(64)));
    refused(
        &install(&q, &missing, &[]),
        "unknown digest",
        "does not exist",
    );

    // `paddock plugin sign` makes a real minisign signature: the reference
    // tool verifies it over the signed manifest, and not over another.
    let sig = keys.path().join("probe.minisig");
    let manifest = keys.path().join("manifest.json");
    let mut cmd = p.command();
    cmd.args(["plugin", "sign", &tag, "--key"])
        .arg(&secret)
        .arg("--output")
        .arg(&sig)
        .arg("--manifest-output")
        .arg(&manifest);
    ok(&cmd.output().unwrap(), "sign");
    let minisign = which("minisign");
    let verify = |file: &Path| {
        Command::new(&minisign)
            .arg("-V")
            .arg("-m")
            .arg(file)
            .arg("-x")
            .arg(&sig)
            .arg("-p")
            .arg(&public)
            .output()
            .unwrap()
    };
    let out = verify(&manifest);
    assert!(out.status.success(), "minisign -V: {}", describe(&out));
    assert!(
        stdout(&out).contains(&format!("paddock plugin artifact {digest}")),
        "{}",
        describe(&out)
    );
    let other = keys.path().join("other.json");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes.push(b'\n');
    std::fs::write(&other, bytes).unwrap();
    assert!(
        !verify(&other).status.success(),
        "minisign accepts another file"
    );
}

#[test]
fn unsigned_untrusted_wrongly_signed_and_tampered_artifacts_are_refused() {
    let reg = Registry::start();
    let p = Paddock::new();
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, _) = keygen(&p, keys.path(), "trusted");
    let (stranger, _, stranger_id) = keygen(&p, keys.path(), "stranger");
    trust(&p, &public);

    // Unsigned: refused by default, installed with the admin's allowance.
    let plain = probe_version("1.0.0", &[]);
    let unsigned = reg.reference("team/unsigned:1");
    push(&p, plain.path(), &unsigned, None);
    refused(&install(&p, &unsigned, &[]), "unsigned", "is not signed");
    assert!(!installed(&p));
    ok(
        &install(&p, &unsigned, &["--allow-unsigned"]),
        "unsigned, allowed",
    );
    assert_eq!(show(&p)["origin"]["signer"], Value::Null);
    ok(&p.cmd(["plugin", "remove", "probe"]), "remove");
    // Or allowed in the settings.
    ok(&p.cmd(["plugin", "trust", "allow-unsigned", "on"]), "allow");
    ok(
        &install(&p, &unsigned, &[]),
        "unsigned, allowed by the settings",
    );
    ok(&p.cmd(["plugin", "remove", "probe"]), "remove");
    ok(
        &p.cmd(["plugin", "trust", "allow-unsigned", "off"]),
        "refuse",
    );

    // Signed by a key nobody trusts: refused even where unsigned is allowed.
    let untrusted = reg.reference("team/untrusted:1");
    push(&p, plain.path(), &untrusted, Some(&stranger));
    refused(
        &install(&p, &untrusted, &["--allow-unsigned"]),
        "untrusted key",
        &format!("key {stranger_id}, which is not trusted"),
    );
    assert!(!installed(&p));

    // The signature of another artifact, by the trusted key, copied to
    // this artifact's signature tag.
    let signed = reg.reference("team/wrong:signed");
    let signed_digest = push(&p, plain.path(), &signed, Some(&secret));
    let other = probe_version("1.0.1", &[]);
    let victim = reg.reference("team/wrong:victim");
    let victim_digest = push(&p, other.path(), &victim, None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let sig_tag = |d: &str| d.replacen(':', "-", 1) + ".sig";
        let sig_manifest = c
            .get(reg.url(&format!(
                "/v2/team/wrong/manifests/{}",
                sig_tag(&signed_digest)
            )))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let put = c
            .put(reg.url(&format!(
                "/v2/team/wrong/manifests/{}",
                sig_tag(&victim_digest)
            )))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(sig_manifest)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "{:?}", put.text().await);
    });
    refused(
        &install(&p, &victim, &["--allow-unsigned"]),
        "another artifact's signature",
        "bad signature",
    );
    assert!(!installed(&p));

    // A tampered component blob (same size, one byte changed) in a signed
    // artifact: the signature holds, the blob does not match its digest.
    let good = probe_version("2.0.0", &[]);
    let tampered = reg.reference("team/tampered:1");
    let digest = push(&p, good.path(), &tampered, Some(&secret));
    let manifest: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(reg.url(&format!("/v2/team/tampered/manifests/{digest}")))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/wasm")
        .unwrap();
    let file = reg.blob_file(layer["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    refused(
        &install(&p, &tampered, &[]),
        "tampered blob",
        "does not match its digest",
    );
    assert!(!installed(&p));
}

#[test]
fn an_update_requesting_a_new_capability_waits_for_the_admin() {
    let reg = Registry::start();
    let p = Paddock::new();
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, _) = keygen(&p, keys.path(), "author");
    trust(&p, &public);
    let stable = reg.reference("team/probe:stable");
    let d1 = push(
        &p,
        probe_version("1.0.0", &["PROBE_ALLOWED"]).path(),
        &stable,
        Some(&secret),
    );
    ok(&install(&p, &stable, &[]), "install");
    ok(
        &p.cmd(["plugin", "grant", "probe", "env:PROBE_ALLOWED"]),
        "grant",
    );
    let out = ok(&p.cmd(["plugin", "update", "probe"]), "update, nothing new");
    assert!(out.contains("up to date") && out.contains(&d1), "{out}");

    // Nothing new requested: applied at once, grants kept.
    let d2 = push(
        &p,
        probe_version("1.1.0", &["PROBE_ALLOWED"]).path(),
        &stable,
        Some(&secret),
    );
    let out = ok(&p.cmd(["plugin", "update", "probe"]), "update 1.1.0");
    assert!(out.contains("updated probe to 1.1.0"), "{out}");
    let shown = show(&p);
    assert_eq!(shown["version"], "1.1.0");
    assert_eq!(shown["origin"]["digest"], d2.as_str());
    assert_eq!(strings(&shown["granted"]), ["env:PROBE_ALLOWED"]);

    // A new request: the diff is shown and nothing changes.
    let d3 = push(
        &p,
        probe_version("2.0.0", &["PROBE_ALLOWED", "PROBE_SECRET"]).path(),
        &stable,
        Some(&secret),
    );
    let out = ok(&p.cmd(["plugin", "update", "probe"]), "update 2.0.0");
    assert!(
        out.contains("waits for an admin")
            && out.contains("+ env:PROBE_SECRET")
            && out.contains(&d3),
        "{out}"
    );
    let shown = show(&p);
    assert_eq!(
        shown["version"], "1.1.0",
        "nothing changes before acceptance"
    );
    assert_eq!(shown["origin"]["digest"], d2.as_str());

    // Accepted: the new version runs; the new capability is not granted.
    let out = ok(&p.cmd(["plugin", "update", "probe", "--accept"]), "accept");
    assert!(out.contains("updated probe to 2.0.0"), "{out}");
    let shown = show(&p);
    assert_eq!(shown["version"], "2.0.0");
    assert_eq!(shown["origin"]["digest"], d3.as_str());
    assert_eq!(strings(&shown["granted"]), ["env:PROBE_ALLOWED"]);
    assert_eq!(strings(&shown["missing"]), ["env:PROBE_SECRET"]);
    let ws = tempfile::tempdir().unwrap();
    let call = |name: &str| {
        p.command()
            .args(["tool", "call", "probe_env", "--workspace"])
            .arg(ws.path())
            .args(["--input", &json!({"name": name}).to_string()])
            .env("PROBE_ALLOWED", "allowed-value")
            .env("PROBE_SECRET", "secret-value")
            .output()
            .unwrap()
    };
    assert!(ok(&call("PROBE_ALLOWED"), "allowed").contains("allowed-value"));
    let denied = call("PROBE_SECRET");
    assert!(
        !denied.status.success() && !stdout(&denied).contains("secret-value"),
        "{}",
        describe(&denied)
    );
    refused(
        &p.cmd(["plugin", "update", "probe", "--accept"]),
        "accept twice",
        "no update waiting",
    );

    // Rejected: dropped, nothing changes.
    push(
        &p,
        probe_version("3.0.0", &["PROBE_ALLOWED", "PROBE_SECRET", "HOME"]).path(),
        &stable,
        Some(&secret),
    );
    let out = ok(&p.cmd(["plugin", "update", "probe"]), "update 3.0.0");
    assert!(out.contains("+ env:HOME"), "{out}");
    ok(&p.cmd(["plugin", "update", "probe", "--reject"]), "reject");
    assert_eq!(show(&p)["version"], "2.0.0");
    refused(
        &p.cmd(["plugin", "update", "probe", "--accept"]),
        "accept rejected",
        "no update waiting",
    );
}

#[tokio::test]
async fn the_api_installs_from_a_registry_and_accepts_updates_for_admins_only() {
    let reg = Registry::start();
    let p = Paddock::new();
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, id) = keygen(&p, keys.path(), "author");
    trust(&p, &public);
    let tag = reg.reference("team/probe:stable");
    let d1 = push(&p, probe_version("1.0.0", &[]).path(), &tag, Some(&secret));
    let cfg = tempfile::tempdir().unwrap();
    let config = scripted_config(cfg.path(), "http://127.0.0.1:9", "");
    let s = Server::start(&p, &config, None, &[]);
    let admin = client_with(ADMIN_TOKEN);
    let user = client_with(USER_TOKEN);

    let body = json!({"reference": tag});
    let r = user
        .post(s.url("/api/oci/install"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = admin
        .post(s.url("/api/oci/install"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["origin"]["digest"], d1.as_str());
    assert_eq!(info["origin"]["signer"], id.as_str());

    let d2 = push(
        &p,
        probe_version("2.0.0", &["PROBE_SECRET"]).path(),
        &tag,
        Some(&secret),
    );
    let r = user
        .post(s.url("/api/plugins/probe/update"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = admin
        .post(s.url("/api/plugins/probe/update"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["status"], "pending", "{outcome}");
    assert_eq!(outcome["update"]["added"], json!(["env:PROBE_SECRET"]));
    let r = admin
        .get(s.url("/api/plugins/probe/update"))
        .send()
        .await
        .unwrap();
    let pending: Value = r.json().await.unwrap();
    assert_eq!(pending["digest"], d2.as_str());
    let list: Value = admin
        .get(s.url("/api/oci/updates"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let got: Value = admin
        .get(s.url("/api/plugins/probe"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["version"], "1.0.0", "nothing changes before acceptance");

    let r = user
        .post(s.url("/api/plugins/probe/update/accept"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = admin
        .post(s.url("/api/plugins/probe/update/accept"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["version"], "2.0.0");
    assert_eq!(info["origin"]["digest"], d2.as_str());
    assert_eq!(info["granted"], json!([]));
    let r = admin
        .get(s.url("/api/plugins/probe/update"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Refusals come back as 422 naming the reason.
    let unsigned = reg.reference("team/unsigned:1");
    push(&p, probe_version("1.0.0", &[]).path(), &unsigned, None);
    let r = admin
        .post(s.url("/api/oci/install"))
        .json(&json!({"reference": unsigned}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not signed"),
        "{e}"
    );
}

/// The dashboard's side (`tests/dashboard/plugins-oci.mjs`, Chromium):
/// install by reference, the capability diff of an update, Accept.
#[tokio::test]
async fn registry_plugins_in_chromium() {
    let root = common::repo_root();
    assert!(
        root.join("dashboard/dist/index.html").is_file(),
        "build the dashboard first (`make test` does)"
    );
    let reg = Registry::start();
    let p = Paddock::new();
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, id) = keygen(&p, keys.path(), "author");
    trust(&p, &public);
    let reference = reg.reference("team/probe:stable");
    let d1 = push(
        &p,
        probe_version("1.0.0", &[]).path(),
        &reference,
        Some(&secret),
    );
    let next = probe_version("2.0.0", &["PROBE_SECRET"]);
    let cfg = tempfile::tempdir().unwrap();
    let config = scripted_config(cfg.path(), "http://127.0.0.1:9", "");
    let artifacts = common::paddock_bin()
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("plugins-oci-e2e");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let _one_browser = crate::dashboard::CHROMIUM.lock().await;
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/dashboard/plugins-oci.mjs"))
        .env("PADDOCK_BIN", common::paddock_bin())
        .env("PADDOCK_CACHE_DIR", common::shared_cache_dir())
        .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("PADDOCK_TOKEN", USER_TOKEN)
        .env("E2E_DATA_DIR", p.data_dir())
        .env("E2E_CONFIG", &config)
        .env("E2E_ARTIFACTS", &artifacts)
        .env("E2E_REFERENCE", &reference)
        .env("E2E_DIGEST1", &d1)
        .env("E2E_NEXT_VERSION_DIR", next.path())
        .env("E2E_SIGNING_KEY", &secret)
        .env("E2E_KEY_ID", &id)
        .kill_on_drop(true)
        .status()
        .await
        .expect("run node tests/dashboard/plugins-oci.mjs (Node.js is needed)");
    assert!(
        out.success(),
        "the registry plugin steps failed (their output is above; screenshots in {})",
        artifacts.display()
    );
}
