//! Accounts against the real `paddock serve`: users made with the CLI and
//! their personal access tokens (scopes, expiry, revocation, last use),
//! password sign-in (wrong passwords, disabled users, the lock after
//! repeated failures) and its audit, the CSRF header cookie sessions need
//! for changes, the per-credential rate limit, and the first admin from
//! the environment.

use crate::common;

use common::{ADMIN_TOKEN, Paddock, Server, USER_TOKEN, describe, scripted_config, stdout};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A client that follows no redirects and sends no credentials of its own.
fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `paddock user ARGS…`, which must succeed: its stdout's last line.
fn cli_last_line(p: &Paddock, args: &[&str]) -> String {
    let out = p.cmd(std::iter::once("user").chain(args.iter().copied()));
    assert!(out.status.success(), "user {args:?}: {}", describe(&out));
    stdout(&out)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = c.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

/// alice's id, from the store.
async fn user_id_of_alice(p: &Paddock) -> String {
    let store = paddock_store::Store::open_sqlite(&p.data_dir().join("paddock.db"))
        .await
        .unwrap();
    store.get_user_by_name("alice").await.unwrap().unwrap().id
}

/// Every `Set-Cookie` of a response, as `name=value`.
fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_the_cli_and_the_api_have_scopes_expire_are_revoked_and_record_their_use() {
    let p = Paddock::new();
    // Made before the server starts, as an operator would.
    let alice = cli_last_line(&p, &["add", "alice", "--role", "member", "--token"]);
    assert!(alice.starts_with("pdk_"), "{alice}");
    let reader = cli_last_line(&p, &["token", "alice", "--scope", "read"]);
    assert!(reader.starts_with("pdk_") && reader != alice);
    let listed = p.cmd(["user", "list"]);
    assert!(listed.status.success(), "{}", describe(&listed));
    let text = stdout(&listed);
    assert!(text.contains("alice") && text.contains("member"), "{text}");
    assert!(!text.contains(&alice[4..]), "no secret in the list: {text}");

    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    let s = Server::start(&p, &config, None, &[]);
    // With team users, the banner gives the sign-in page, not the
    // operator's one-time link.
    assert!(
        s.banner.iter().all(|l| !l.contains("/login?code=")),
        "{:?}",
        s.banner
    );
    assert!(
        s.banner.iter().any(|l| l.starts_with("open the dashboard")),
        "{:?}",
        s.banner
    );
    let c = bare();
    use reqwest::Method;

    // The CLI's token works, as alice, a member.
    let (st, me) = call(&c, Method::GET, s.url("/api/me"), &alice, None).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["name"], "alice");
    assert_eq!(me["role"], "member");
    assert_eq!(me["via"], "access_token");
    assert_eq!(me["can"], json!({"admin": false, "write": true}));
    // A member is not an admin.
    let (st, _) = call(&c, Method::GET, s.url("/api/users"), &alice, None).await;
    assert_eq!(st, 403);

    // A read token reads, and changes nothing.
    let (st, me) = call(&c, Method::GET, s.url("/api/me"), &reader, None).await;
    assert_eq!((st, me["scope"].clone()), (200, json!("read")), "{me}");
    for (path, body) in [
        ("/api/me/tokens", json!({"name": "x", "scope": "read"})),
        (
            "/api/agents",
            json!({"name": "t", "workspace": "/tmp", "task": "x"}),
        ),
    ] {
        let (st, v) = call(&c, Method::POST, s.url(path), &reader, Some(body)).await;
        assert_eq!(st, 403, "{path}: {v}");
        assert_eq!(v["error"]["code"], "forbidden", "{v}");
    }

    // Tokens made through the API: shown once, no more than the caller's
    // scope, and listed without their secret.
    let (st, v) = call(
        &c,
        Method::POST,
        s.url("/api/me/tokens"),
        &alice,
        Some(json!({"name": "too much", "scope": "admin"})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("scope:"),
        "{v}"
    );
    let (st, v) = call(
        &c,
        Method::POST,
        s.url("/api/me/tokens"),
        &alice,
        Some(json!({"name": "laptop", "scope": "write", "expires_in_days": 400})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    let (st, made) = call(
        &c,
        Method::POST,
        s.url("/api/me/tokens"),
        &alice,
        Some(json!({"name": "laptop", "scope": "write", "expires_in_days": 7})),
    )
    .await;
    assert_eq!(st, 201, "{made}");
    let laptop = made["secret"].as_str().unwrap().to_string();
    let laptop_id = made["token"]["id"].as_str().unwrap().to_string();
    assert!(laptop.starts_with(made["token"]["prefix"].as_str().unwrap()));
    let (st, me) = call(&c, Method::GET, s.url("/api/me"), &laptop, None).await;
    assert_eq!((st, me["name"].clone()), (200, json!("alice")));

    // Its use is recorded (in the background: wait for it).
    let started = Instant::now();
    loop {
        let (st, list) = call(&c, Method::GET, s.url("/api/me/tokens"), &alice, None).await;
        assert_eq!(st, 200, "{list}");
        assert!(!list.to_string().contains(&laptop), "no secret in the list");
        let t = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == laptop_id.as_str())
            .cloned()
            .unwrap();
        if t["last_used_at"].is_string() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "last_used_at never set: {t}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Another user may not revoke it (404: it is not theirs to see); its
    // owner may, and it stops working at once.
    let (st, bob) = call(
        &c,
        Method::POST,
        s.url("/api/users"),
        ADMIN_TOKEN,
        Some(json!({"name": "bob", "role": "member"})),
    )
    .await;
    assert_eq!(st, 201, "{bob}");
    let bob_id = bob["id"].as_str().unwrap().to_string();
    let (st, made) = call(
        &c,
        Method::POST,
        s.url(&format!("/api/users/{bob_id}/tokens")),
        ADMIN_TOKEN,
        Some(json!({"name": "script", "scope": "write"})),
    )
    .await;
    assert_eq!(st, 201, "{made}");
    let bob_token = made["secret"].as_str().unwrap().to_string();
    let (st, _) = call(
        &c,
        Method::DELETE,
        s.url(&format!("/api/me/tokens/{laptop_id}")),
        &bob_token,
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = call(
        &c,
        Method::DELETE,
        s.url(&format!("/api/me/tokens/{laptop_id}")),
        &alice,
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, v) = call(&c, Method::GET, s.url("/api/me"), &laptop, None).await;
    assert_eq!(st, 401, "a revoked token: {v}");

    // An expired token fails too.
    let store = paddock_store::Store::open_sqlite(&p.data_dir().join("paddock.db"))
        .await
        .unwrap();
    let user = store.get_user_by_name("alice").await.unwrap().unwrap();
    let expired = "pdk_expiredexpiredexpiredexpiredexpiredexpi";
    store
        .create_token(&paddock_store::NewToken {
            user_id: user.id.clone(),
            name: "old".into(),
            hash: paddock_api::credentials::token_hash(expired),
            prefix: expired[..12].into(),
            scope: paddock_protocol::identity::Scope::Write,
            expires_at: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        })
        .await
        .unwrap();
    let (st, v) = call(&c, Method::GET, s.url("/api/me"), expired, None).await;
    assert_eq!(st, 401, "an expired token: {v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );

    // Groups show on the member's own view.
    let (st, g) = call(
        &c,
        Method::POST,
        s.url("/api/groups"),
        ADMIN_TOKEN,
        Some(json!({"name": "devs", "members": ["alice", bob_id]})),
    )
    .await;
    assert_eq!(st, 201, "{g}");
    assert_eq!(g["members"].as_array().unwrap().len(), 2, "{g}");
    let (_, me) = call(&c, Method::GET, s.url("/api/me"), &alice, None).await;
    assert_eq!(me["groups"][0]["name"], "devs", "{me}");
    let (st, g) = call(
        &c,
        Method::PUT,
        s.url("/api/groups/devs"),
        ADMIN_TOKEN,
        Some(json!({"name": "developers", "members": ["alice"]})),
    )
    .await;
    assert_eq!((st, g["name"].clone()), (200, json!("developers")), "{g}");
    assert_eq!(
        g["members"],
        json!([{"id": user_id_of_alice(&p).await, "name": "alice"}])
    );
    let (st, v) = call(
        &c,
        Method::POST,
        s.url("/api/groups"),
        ADMIN_TOKEN,
        Some(json!({"name": "developers"})),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    let (st, v) = call(
        &c,
        Method::POST,
        s.url("/api/groups"),
        ADMIN_TOKEN,
        Some(json!({"name": "ops", "members": ["nobody"]})),
    )
    .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("members[0]:"),
        "{v}"
    );

    // A disabled user's tokens fail; enabled again, they work.
    let (st, v) = call(
        &c,
        Method::PATCH,
        s.url(&format!("/api/users/{}", user.id)),
        ADMIN_TOKEN,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!((st, v["disabled"].clone()), (200, json!(true)), "{v}");
    let (st, _) = call(&c, Method::GET, s.url("/api/me"), &alice, None).await;
    assert_eq!(st, 401);
    let out = p.cmd(["user", "enable", "alice"]);
    assert!(out.status.success(), "{}", describe(&out));
    // The CLI changed the store behind the server: its cache lasts 2 s.
    let started = Instant::now();
    while call(&c, Method::GET, s.url("/api/me"), &alice, None)
        .await
        .0
        != 200
    {
        assert!(started.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A password from the CLI (stdin) signs alice in; a removed user's
    // tokens stop working.
    let mut cmd = p.command();
    cmd.args(["user", "passwd", "alice"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"alice's long password\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let r = c
        .post(s.url("/api/session"))
        .json(&json!({"name": "alice", "password": "alice's long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let out = p.cmd(["user", "remove", "bob"]);
    assert!(out.status.success(), "{}", describe(&out));
    let started = Instant::now();
    while call(&c, Method::GET, s.url("/api/me"), &bob_token, None)
        .await
        .0
        != 401
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bob's token still works"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = p.cmd(["user", "remove", "local"]);
    assert!(!out.status.success(), "local stays: {}", describe(&out));

    // The audit names who made and revoked tokens.
    let (st, audit) = call(
        &c,
        Method::GET,
        s.url("/api/audit?limit=5000"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(st, 200, "{audit}");
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["kind"] == "token"
            && e["action"] == "revoked"
            && e["user_id"] == user.id.as_str()),
        "{audit}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "user" && e["action"] == "disabled"),
        "{audit}"
    );
    assert!(
        !audit.to_string().contains(&laptop),
        "no secret in the audit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sign_in_sets_a_csrf_cookie_refuses_wrong_and_disabled_and_locks_after_failures() {
    let p = Paddock::new();
    let config = scripted_config(p.data_dir(), "http://127.0.0.1:9/v1", "");
    let password = "correct horse battery staple";
    let s = Server::start(
        &p,
        &config,
        None,
        &[
            ("PADDOCK_ADMIN_USER", "boss"),
            ("PADDOCK_ADMIN_PASSWORD", password),
        ],
    );
    assert!(
        s.banner.iter().any(|l| l.contains("boss")),
        "the first admin is announced: {:?}",
        s.banner
    );
    assert!(
        s.banner.iter().all(|l| !l.contains(password)),
        "a given password is not printed: {:?}",
        s.banner
    );
    let c = bare();
    let port = s.base.rsplit(':').next().unwrap().to_string();
    let sign_in = |body: Value| {
        let c = c.clone();
        let url = s.url("/api/session");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };

    // The first admin, from the environment.
    let r = sign_in(json!({"name": "boss", "password": password})).await;
    assert_eq!(r.status(), 201);
    let cookies = set_cookies(&r);
    let session = common::session_cookie(&r);
    assert!(
        session.starts_with(&format!("paddock_session_{port}=")),
        "{session}"
    );
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with(&format!("paddock_csrf_{port}=")))
        .unwrap_or_else(|| panic!("no CSRF cookie: {cookies:?}"));
    assert!(csrf.contains("SameSite=Strict"), "{csrf}");
    assert!(!csrf.contains("HttpOnly"), "the dashboard reads it: {csrf}");
    assert!(!csrf.contains("Secure"), "plain HTTP here: {csrf}");
    let csrf_value = csrf
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["name"].clone(), v["role"].clone()),
        (json!("boss"), json!("admin")),
        "{v}"
    );
    let boss_id = v["user_id"].as_str().unwrap().to_string();

    // A change with the session cookie needs the CSRF header; reads do not;
    // bearer tokens do not.
    let with_cookie = |method: reqwest::Method, path: &str| {
        c.request(method, s.url(path)).header("cookie", &session)
    };
    let r = with_cookie(reqwest::Method::GET, "/api/me")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = json!({"name": "carol", "role": "member", "password": "carols password!"});
    let r = with_cookie(reqwest::Method::POST, "/api/users")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "csrf_failed", "{v}");
    let r = with_cookie(reqwest::Method::POST, "/api/users")
        .header("x-paddock-csrf", "nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a wrong CSRF value");
    let r = with_cookie(reqwest::Method::POST, "/api/users")
        .header("x-paddock-csrf", &csrf_value)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let (st, _) = call(
        &c,
        reqwest::Method::POST,
        s.url("/api/groups"),
        ADMIN_TOKEN,
        Some(json!({"name": "g1"})),
    )
    .await;
    assert_eq!(st, 201, "a bearer token needs no CSRF header");

    // carol signs in; with a wrong password she does not.
    let r = sign_in(json!({"name": "carol", "password": "carols password!"})).await;
    assert_eq!(r.status(), 201);
    let r = sign_in(json!({"name": "carol", "password": "not her password"})).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unauthorized", "{v}");
    // Disabled, she cannot sign in even with her password.
    let (st, v) = call(
        &c,
        reqwest::Method::PATCH,
        s.url("/api/users/carol"),
        ADMIN_TOKEN,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let r = sign_in(json!({"name": "carol", "password": "carols password!"})).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    // One's own password, with the current one; the last admin stays.
    let put_password = |body: Value| {
        c.put(s.url("/api/me/password"))
            .header("cookie", &session)
            .header("x-paddock-csrf", &csrf_value)
            .json(&body)
            .send()
    };
    let r = put_password(json!({"current": "not it at all", "new": "a brand new passphrase"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = put_password(json!({"current": password, "new": "short"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().starts_with("new:"),
        "{v}"
    );
    let r = put_password(json!({"current": password, "new": "a brand new passphrase"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let password = "a brand new passphrase";
    let r = sign_in(json!({"name": "boss", "password": password})).await;
    assert_eq!(r.status(), 201);
    for (method, body) in [
        (reqwest::Method::DELETE, None),
        (reqwest::Method::PATCH, Some(json!({"role": "member"}))),
        (reqwest::Method::PATCH, Some(json!({"disabled": true}))),
    ] {
        let (st, v) = call(&c, method, s.url("/api/users/boss"), ADMIN_TOKEN, body).await;
        assert_eq!(st, 409, "the last enabled admin: {v}");
        assert_eq!(v["error"]["code"], "conflict", "{v}");
    }
    let (st, v) = call(
        &c,
        reqwest::Method::DELETE,
        s.url("/api/users/local"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(st, 409, "{v}");

    // Repeated failures lock the name (and only that name) for a while.
    let mut locked = None;
    for i in 0..12 {
        let r = sign_in(json!({"name": "nobody", "password": format!("guess number {i}")})).await;
        if r.status() == 429 {
            locked = Some((
                i,
                r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            ));
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], "rate_limited", "{v}");
            break;
        }
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let (after, retry) = locked.expect("no lock after repeated failures");
    assert_eq!(after, 10, "ten failures, then 429");
    assert!(retry > 0);
    let r = sign_in(json!({"name": "boss", "password": password})).await;
    assert_eq!(r.status(), 201, "another name is not locked");

    // The audit has the sign-ins and the failures, with the user.
    let (st, all) = call(
        &c,
        reqwest::Method::GET,
        s.url("/api/audit?limit=5000"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(st, 200, "{all}");
    let entries = all["entries"].as_array().unwrap();
    let sign_ins: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "sign_in").collect();
    assert!(
        entries.iter().all(|e| e["detail"].is_object()),
        "every entry's detail is an object, as the document says: {all}"
    );
    assert!(
        sign_ins.iter().any(|e| e["detail"]["method"] == "password"),
        "{all}"
    );
    assert!(
        sign_ins
            .iter()
            .any(|e| e["action"] == "succeeded" && e["user_id"] == boss_id.as_str()),
        "{all}"
    );
    let carol_id = entries
        .iter()
        .find(|e| {
            e["kind"] == "user"
                && e["action"] == "created"
                && e["detail"]["user"]["name"] == "carol"
        })
        .map(|e| e["detail"]["user"]["id"].clone())
        .unwrap();
    assert!(
        sign_ins
            .iter()
            .any(|e| e["action"] == "failed" && e["user_id"] == carol_id),
        "a failed sign-in names the user: {all}"
    );
    assert!(
        sign_ins
            .iter()
            .filter(
                |e| e["action"] == "failed" && e["actor"].as_str().unwrap_or("").contains("nobody")
            )
            .count()
            >= 10,
        "failed sign-ins of an unknown name: {all}"
    );
    assert!(
        entries.iter().any(|e| e["kind"] == "user"
            && e["action"] == "created"
            && e["user_id"] == boss_id.as_str()),
        "the audit names who created carol: {all}"
    );
    assert!(
        !all.to_string().contains(password),
        "no password in the audit"
    );
    assert!(!all.to_string().contains("carols password!"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_credential_has_its_rate_limit_and_the_first_admin_may_get_a_generated_password() {
    let p = Paddock::new();
    let config = scripted_config(
        p.data_dir(),
        "http://127.0.0.1:9/v1",
        "[server]\nrate_limit_per_minute = 5\n",
    );
    let s = Server::start(&p, &config, None, &[("PADDOCK_ADMIN_USER", "root")]);
    // The generated password is printed once.
    let password = s
        .banner
        .iter()
        .find_map(|l| {
            l.split_once("password (shown once): ")
                .map(|(_, p)| p.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no generated password in {:?}", s.banner));
    assert!(password.len() >= 12, "{password}");
    let c = bare();
    let r = c
        .post(s.url("/api/session"))
        .json(&json!({"name": "root", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let mut limited = None;
    for i in 0..10 {
        let r = c
            .get(s.url("/api/info"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            let retry = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap();
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"]["code"], "rate_limited", "{v}");
            limited = Some((i, retry));
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let (after, retry) = limited.expect("never rate limited");
    assert_eq!(after, 5, "five a minute");
    assert!((1..=60).contains(&retry), "{retry}");
    // Another credential has its own allowance.
    let r = c
        .get(s.url("/api/info"))
        .bearer_auth(USER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(s);

    // Restarted with team users, no new first admin is made.
    let s = Server::start(&p, &config, None, &[("PADDOCK_ADMIN_USER", "second")]);
    assert!(
        s.banner.iter().all(|l| !l.contains("shown once")),
        "{:?}",
        s.banner
    );
    let out = p.cmd(["user", "list"]);
    assert!(!stdout(&out).contains("second"), "{}", describe(&out));
}
