//! Single sign-on end to end: the real `paddock` binary against a real
//! OpenID provider (the npm package `oidc-provider`, run by
//! `tests/oidc/provider.mjs` on a free loopback port; installed by
//! `scripts/oidc-provider.sh`), driven as a browser would — redirects
//! followed by hand, with a cookie jar per origin.
//!
//! The forged ID tokens (wrong audience, wrong issuer, expired, no nonce,
//! bad signature) are the provider's own tokens with changed claims,
//! re-signed by the test provider with its key (or, for the bad signature,
//! another key under the same `kid`) at its token endpoint.

use crate::common::{self, Paddock, Server};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// The test provider, killed on drop.
struct Idp {
    child: Child,
    issuer: String,
    http: reqwest::Client,
}

impl Idp {
    fn start() -> Idp {
        let dir = common::repo_root().join("tests").join("oidc");
        assert!(
            dir.join("node_modules/oidc-provider/package.json")
                .is_file(),
            "the test OpenID provider is missing: install it with `scripts/oidc-provider.sh` \
             (which `make test` runs through scripts/setup-test.sh)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node tests/oidc/provider.mjs");
        let out = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(out).lines();
        let first = lines.next().expect("the provider's first line").unwrap();
        let issuer = first
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the provider said {first:?}"))
            .trim()
            .to_string();
        std::thread::spawn(move || for _ in lines {});
        Idp {
            child,
            issuer,
            http: reqwest::Client::new(),
        }
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/__test/{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn mode(&self, mode: &str) {
        self.admin("mode", json!({ "mode": mode })).await;
    }

    async fn login_as(&self, account: &str) {
        self.admin("login", json!({ "account": account })).await;
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser: no redirects followed by itself, cookies kept per origin.
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, BTreeMap<String, String>>,
}

fn origin(url: &reqwest::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    async fn send(&mut self, method: reqwest::Method, url: &str) -> reqwest::Response {
        let parsed = reqwest::Url::parse(url).unwrap();
        let mut req = self.http.request(method.clone(), parsed.clone());
        if let Some(cookies) = self.jar.get(&origin(&parsed)) {
            let line: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if !line.is_empty() {
                req = req.header("cookie", line.join("; "));
            }
            // What the dashboard sends with a state-changing request.
            if method != reqwest::Method::GET {
                req = req.header("x-paddock-request", "1");
                if let Some((_, v)) = cookies.iter().find(|(k, _)| k.starts_with("paddock_csrf")) {
                    req = req.header("x-paddock-csrf", v);
                }
            }
        }
        let r = req.send().await.unwrap();
        let jar = self.jar.entry(origin(&parsed)).or_default();
        for set in r.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (kv, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                jar.remove(k.trim());
            } else {
                jar.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        r
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, url).await
    }

    /// Follows redirects from `url` until the next one is Paddock's
    /// callback; returns the callback's URL (not yet visited).
    async fn follow_to_callback(&mut self, server: &Server, url: &str) -> String {
        let callback = server.url("/auth/oidc/test/callback");
        let mut url = url.to_string();
        for _ in 0..20 {
            let r = self.get(&url).await;
            let status = r.status();
            assert!(
                status.is_redirection(),
                "{url}: {status} {}",
                r.text().await.unwrap_or_default()
            );
            let loc = r.headers()["location"].to_str().unwrap().to_string();
            let next = reqwest::Url::parse(&url).unwrap().join(&loc).unwrap();
            if next.as_str().starts_with(&callback) {
                return next.to_string();
            }
            url = next.to_string();
        }
        panic!("no callback after 20 redirects from {url}");
    }

    /// Visits Paddock's callback: where it sends the browser (303).
    async fn callback(&mut self, url: &str) -> String {
        let r = self.get(url).await;
        assert_eq!(r.status(), 303, "{url}");
        r.headers()["location"].to_str().unwrap().to_string()
    }

    /// Signs in with the provider from the login route; where Paddock
    /// sends the browser at the end.
    async fn sign_in(&mut self, server: &Server, return_to: &str) -> String {
        let start = server.url(&format!("/auth/oidc/test/login?return_to={return_to}"));
        let cb = self.follow_to_callback(server, &start).await;
        self.callback(&cb).await
    }
}

/// A Paddock whose provider `test` is `idp` (client `paddock`), set up at
/// the provider with its redirect URI and these accounts.
async fn paddock_with(idp: &Idp, p: &Paddock, extra: &str, accounts: Value) -> Server {
    let config = p.data_dir().join("paddock.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[auth.oidc]]
name = "test"
display_name = "Test IdP"
issuer = "{}"
client_id = "paddock"
client_secret_env = "PADDOCK_TEST_OIDC_SECRET"
admin_values = ["paddock-admins"]
member_values = ["developers"]
viewer_values = ["auditors"]
{extra}
"#,
            idp.issuer
        ),
    )
    .unwrap();
    let server = Server::start(
        p,
        &config,
        None,
        &[("PADDOCK_TEST_OIDC_SECRET", "a-client-secret-of-the-test")],
    );
    idp.admin(
        "setup",
        json!({
            "client_id": "paddock",
            "client_secret": "a-client-secret-of-the-test",
            "redirect_uri": server.url("/auth/oidc/test/callback"),
            "accounts": accounts,
        }),
    )
    .await;
    server
}

fn accounts() -> Value {
    json!({
        "alice-sub": {"preferred_username": "alice", "name": "Alice A.", "email": "alice@example.com", "groups": ["paddock-admins", "developers"]},
        "bob-sub": {"preferred_username": "bob", "email": "bob@example.com", "groups": ["developers"]},
        "carol-sub": {"email": "carol@example.com", "groups": ["auditors"]},
        "dave-sub": {"preferred_username": "dave", "groups": ["elsewhere"]},
    })
}

/// The signed-in caller of a browser's session (`/api/info`'s role), or
/// the status it got.
async fn role_of(b: &mut Browser, server: &Server) -> Result<String, u16> {
    let r = b.get(&server.url("/api/info")).await;
    if !r.status().is_success() {
        return Err(r.status().as_u16());
    }
    let info: Value = r.json().await.unwrap();
    Ok(info["role"].as_str().unwrap().to_string())
}

async fn sign_in_audit(server: &Server) -> Vec<Value> {
    let admin = common::client_with(common::ADMIN_TOKEN);
    let log: Value = admin
        .get(server.url("/api/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = log.as_array().cloned().unwrap_or_else(|| {
        log["entries"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("{log}"))
    });
    entries
        .into_iter()
        .filter(|e| e["kind"] == "sign_in")
        .collect()
}

async fn users(server: &Server) -> Vec<Value> {
    let admin = common::client_with(common::ADMIN_TOKEN);
    let r = admin.get(server.url("/api/users")).send().await.unwrap();
    if r.status() == 404 {
        return Vec::new(); // the users routes are not there yet
    }
    r.json::<Value>()
        .await
        .unwrap()
        .as_array()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn sign_in_creates_users_with_roles_from_groups_and_signs_out() {
    let idp = Idp::start();
    let p = Paddock::new();
    let server = paddock_with(&idp, &p, "default_role = \"none\"", accounts()).await;

    // The sign-in page learns the provider without credentials.
    let methods: Value = reqwest::get(server.url("/api/auth/methods"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(methods["sso"][0]["name"], "test", "{methods}");
    assert_eq!(methods["sso"][0]["display_name"], "Test IdP");
    assert_eq!(methods["sso"][0]["login_url"], "/auth/oidc/test/login");

    // Alice is in `paddock-admins`: an admin, sent back where she was going.
    idp.login_as("alice-sub").await;
    let mut alice = Browser::new();
    assert_eq!(role_of(&mut alice, &server).await, Err(401));
    let to = alice.sign_in(&server, "/agents?tab=1").await;
    assert_eq!(to, "/agents?tab=1");
    assert_eq!(role_of(&mut alice, &server).await.as_deref(), Ok("admin"));

    // Bob is a developer: a member; Carol an auditor: a viewer, named by
    // her e-mail's local part.
    idp.login_as("bob-sub").await;
    let mut bob = Browser::new();
    assert_eq!(bob.sign_in(&server, "//evil.example/x").await, "/");
    assert_eq!(role_of(&mut bob, &server).await.as_deref(), Ok("member"));
    idp.login_as("carol-sub").await;
    let mut carol = Browser::new();
    assert_eq!(carol.sign_in(&server, "/").await, "/");
    assert_eq!(role_of(&mut carol, &server).await.as_deref(), Ok("viewer"));

    // Dave's groups map to nothing and the default role is none: refused.
    idp.login_as("dave-sub").await;
    let mut dave = Browser::new();
    assert_eq!(
        dave.sign_in(&server, "/").await,
        "/?login=failed&reason=no_role"
    );
    assert_eq!(role_of(&mut dave, &server).await, Err(401));

    // Signing in again finds the same user (no second one); refused
    // sign-ins create nobody.
    let again = alice.sign_in(&server, "/").await;
    assert_eq!(again, "/");
    let listed = users(&server).await;
    if !listed.is_empty() {
        let names: Vec<&str> = listed.iter().filter_map(|u| u["name"].as_str()).collect();
        assert_eq!(
            names.iter().filter(|n| n.starts_with("alice")).count(),
            1,
            "{listed:?}"
        );
        assert!(names.contains(&"carol"), "{listed:?}");
        assert!(!names.iter().any(|n| n.starts_with("dave")), "{listed:?}");
    }

    // The provider's end-session endpoint, once known.
    let methods: Value = reqwest::get(server.url("/api/auth/methods"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logout = methods["sso"][0]["logout_url"].as_str().unwrap_or_default();
    assert!(
        logout.starts_with(&format!("{}/session/end", idp.issuer)),
        "{methods}"
    );

    // Signing out ends the session.
    let r = alice
        .send(reqwest::Method::DELETE, &server.url("/api/session"))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(role_of(&mut alice, &server).await, Err(401));
    assert_eq!(role_of(&mut bob, &server).await.as_deref(), Ok("member"));

    // The audit names who signed in and why one was refused.
    let audit = sign_in_audit(&server).await;
    let ok: Vec<&Value> = audit
        .iter()
        .filter(|e| e["action"] == "succeeded")
        .collect();
    assert_eq!(ok.len(), 4, "{audit:?}");
    assert!(ok.iter().all(|e| e["user_id"].is_string()), "{audit:?}");
    let failed: Vec<&Value> = audit.iter().filter(|e| e["action"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{audit:?}");
    assert_eq!(failed[0]["actor"], "sso test");
    assert!(
        failed[0]["reason"].as_str().unwrap().starts_with("no_role"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn forged_replayed_and_foreign_tokens_are_refused() {
    let idp = Idp::start();
    let p = Paddock::new();
    let server = paddock_with(&idp, &p, "", accounts()).await;
    idp.login_as("bob-sub").await;

    for (mode, reason) in [
        ("wrong_audience", "audience"),
        ("wrong_issuer", "issuer"),
        ("expired", "expired"),
        ("no_nonce", "nonce"),
        ("bad_signature", "signature"),
    ] {
        idp.mode(mode).await;
        let mut b = Browser::new();
        assert_eq!(
            b.sign_in(&server, "/").await,
            format!("/?login=failed&reason={reason}"),
            "{mode}"
        );
        assert_eq!(role_of(&mut b, &server).await, Err(401), "{mode}");
    }
    idp.mode("none").await;

    // A state works once: the replayed callback is refused.
    let mut b = Browser::new();
    let start = server.url("/auth/oidc/test/login");
    let cb = b.follow_to_callback(&server, &start).await;
    assert_eq!(b.callback(&cb).await, "/");
    assert_eq!(role_of(&mut b, &server).await.as_deref(), Ok("member"));
    let mut replay = Browser::new();
    replay.jar = b.jar.clone();
    assert_eq!(replay.callback(&cb).await, "/?login=failed&reason=state");

    // A callback in another browser than the one that started the sign-in
    // (a login CSRF) is refused, and so is one with a made-up state.
    let mut victim = Browser::new();
    let mut attacker = Browser::new();
    let cb = attacker.follow_to_callback(&server, &start).await;
    assert_eq!(victim.callback(&cb).await, "/?login=failed&reason=state");
    assert_eq!(role_of(&mut victim, &server).await, Err(401));
    let made_up = server.url("/auth/oidc/test/callback?code=x&state=made-up");
    assert_eq!(
        victim.callback(&made_up).await,
        "/?login=failed&reason=state"
    );

    // An unknown provider is a 404.
    let r = victim.get(&server.url("/auth/oidc/nope/login")).await;
    assert_eq!(r.status(), 404);

    let audit = sign_in_audit(&server).await;
    let reasons: Vec<String> = audit
        .iter()
        .filter(|e| e["action"] == "failed")
        .map(|e| {
            e["reason"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "audience",
            "issuer",
            "expired",
            "nonce",
            "signature",
            "state",
            "state",
            "state"
        ],
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_key_rotated_at_the_provider_is_fetched_and_accepted() {
    let idp = Idp::start();
    let p = Paddock::new();
    let server = paddock_with(&idp, &p, "", accounts()).await;
    idp.login_as("alice-sub").await;
    let mut b = Browser::new();
    assert_eq!(b.sign_in(&server, "/").await, "/");

    // New key, new kid: the old one is gone from the provider's JWKS.
    let rotated = idp.admin("rotate", json!({})).await;
    let kid = rotated["kid"].as_str().unwrap().to_string();
    let jwks: Value = reqwest::get(format!("{}/jwks", idp.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [kid.as_str()]);

    let mut b = Browser::new();
    assert_eq!(b.sign_in(&server, "/after").await, "/after");
    assert_eq!(role_of(&mut b, &server).await.as_deref(), Ok("admin"));
    // Tokens signed with a key the provider does not publish still fail.
    idp.mode("bad_signature").await;
    let mut c = Browser::new();
    assert_eq!(
        c.sign_in(&server, "/").await,
        "/?login=failed&reason=signature"
    );
}
