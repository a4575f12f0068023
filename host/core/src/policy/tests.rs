use super::*;
use paddock_plugins::HostOptions;
use serde_json::json;

fn verdict(level: RiskLevel, action: Action) -> Verdict {
    Verdict {
        assessor: "a".into(),
        level,
        action,
        reason: format!("{} thing", level.as_str()),
        failed: false,
        duration_us: 1,
    }
}

fn failed() -> Verdict {
    Verdict {
        failed: true,
        reason: "the assessor failed: timed out".into(),
        ..verdict(RiskLevel::High, Action::Ask)
    }
}

fn call<'a>(args: &'a Value, read_only: bool) -> Call<'a> {
    Call {
        tool: "execute_bash",
        arguments: args,
        read_only,
        call_id: "c1",
    }
}

#[test]
fn modes_turn_risk_into_actions() {
    use Action::*;
    use ApprovalMode::*;
    use RiskLevel::*;
    let args = json!({"command": "x"});
    // (mode, read-only tool, verdicts, expected)
    let table: Vec<(ApprovalMode, bool, Vec<Verdict>, Action)> = vec![
        (Auto, false, vec![], Allow),
        (Auto, false, vec![verdict(Medium, Ask)], Allow),
        (Auto, false, vec![verdict(High, Ask)], Ask),
        (Auto, false, vec![verdict(Critical, Ask)], Ask),
        (Auto, false, vec![failed()], Ask),
        (Auto, false, vec![verdict(Low, Deny)], Deny),
        (AskRisky, false, vec![], Allow),
        (AskRisky, false, vec![verdict(Low, Allow)], Allow),
        (AskRisky, false, vec![verdict(Low, Ask)], Ask),
        (AskRisky, false, vec![verdict(Medium, Allow)], Ask),
        (AskRisky, false, vec![verdict(Low, Allow), failed()], Ask),
        (AskRisky, false, vec![verdict(High, Deny)], Deny),
        (AskAll, true, vec![], Ask),
        (AskAll, false, vec![verdict(Low, Allow)], Ask),
        (AskAll, false, vec![verdict(Low, Deny)], Deny),
        (ReadOnly, false, vec![], Deny),
        (ReadOnly, true, vec![], Allow),
        (ReadOnly, true, vec![verdict(Medium, Ask)], Allow),
        (ReadOnly, true, vec![verdict(High, Ask)], Ask),
    ];
    for (i, (mode, ro, verdicts, want)) in table.into_iter().enumerate() {
        let d = combine(mode, &call(&args, ro), None, verdicts);
        assert_eq!(d.action, want, "case {i}: {mode:?} read_only={ro}: {d:?}");
        assert_eq!(d.mode, mode);
        if want != Allow {
            assert!(!d.reasons.is_empty(), "case {i} needs a reason: {d:?}");
        }
    }
}

#[test]
fn level_is_the_highest_verdict() {
    let args = json!({});
    let d = combine(
        ApprovalMode::Auto,
        &call(&args, false),
        None,
        vec![
            verdict(RiskLevel::Medium, Action::Ask),
            verdict(RiskLevel::Critical, Action::Ask),
            verdict(RiskLevel::Low, Action::Allow),
        ],
    );
    assert_eq!(d.level, RiskLevel::Critical);
    assert_eq!(d.verdicts.len(), 3);
    assert_eq!(d.reasons.len(), 3, "two verdicts and the mode: {d:?}");
}

#[test]
fn rules_decide_before_the_mode_but_not_over_assessor_denials_or_failures() {
    let args = json!({"command": "git push"});
    let allow = Rule::parse("allow execute_bash(git push*)").unwrap();
    let ask = Rule::parse("ask execute_bash(git *)").unwrap();
    let c = call(&args, false);
    let d = combine(
        ApprovalMode::AskAll,
        &c,
        Some((&allow, "global")),
        vec![verdict(RiskLevel::Medium, Action::Ask)],
    );
    assert_eq!(d.action, Action::Allow);
    assert_eq!(d.rule.as_deref(), Some("allow execute_bash(git push*)"));
    assert_eq!(d.rule_scope.as_deref(), Some("global"));
    let d = combine(ApprovalMode::Auto, &c, Some((&ask, "agent")), vec![]);
    assert_eq!(d.action, Action::Ask);
    let d = combine(
        ApprovalMode::Auto,
        &c,
        Some((&allow, "global")),
        vec![verdict(RiskLevel::Critical, Action::Deny)],
    );
    assert_eq!(d.action, Action::Deny, "an assessor's deny stands");
    let d = combine(
        ApprovalMode::Auto,
        &c,
        Some((&allow, "global")),
        vec![failed()],
    );
    assert_eq!(d.action, Action::Ask, "a failed assessor never allows");
    let d = combine(ApprovalMode::ReadOnly, &c, Some((&allow, "global")), vec![]);
    assert_eq!(d.action, Action::Deny, "read-only mode refuses writers");
}

#[test]
fn scopes_parse_and_print() {
    for s in ["global", "agent:a1", "template:reviewer"] {
        assert_eq!(Scope::parse(s).unwrap().to_string(), s);
    }
    for s in ["", "agent:", "templates:x", "all"] {
        assert!(Scope::parse(s).is_err(), "{s}");
    }
}

#[test]
fn config_rules_are_strings_or_tables() {
    let c: crate::config::Config = toml::from_str(
        r#"
        [policy]
        default_mode = "auto"
        approval_timeout_secs = 30
        rules = [
            "deny execute_bash(rm -rf /*)",
            { rule = "ask execute_bash(git push*)", match = ["git push origin main"], not_match = ["git pull"] },
            { rule = "allow read_file", scope = "template:reviewer" },
        ]
        "#,
    )
    .unwrap();
    assert_eq!(c.policy.default_mode, ApprovalMode::Auto);
    assert_eq!(c.policy.rules.len(), 3);
    assert_eq!(
        c.policy.rules[2].spec().scope,
        Scope::Template("reviewer".into())
    );
    let bad: Result<crate::config::Config, _> =
        toml::from_str("[policy]\nrules = [{ rule = \"x\", scope = \"nowhere\" }]");
    assert!(bad.is_err());
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    plugins: Arc<PluginHost>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("paddock.db"))
        .await
        .unwrap();
    let plugins = Arc::new(
        PluginHost::open(HostOptions {
            data_dir: dir.path().to_path_buf(),
            builtin_dir: None,
            cache_dir: None,
        })
        .await
        .unwrap(),
    );
    Fixture {
        _dir: dir,
        store,
        plugins,
    }
}

fn config(rules: &[&str]) -> PolicyConfig {
    PolicyConfig {
        rules: rules
            .iter()
            .map(|r| ConfigRule::Text(r.to_string()))
            .collect(),
        ..PolicyConfig::default()
    }
}

fn subject<'a>(agent: &'a str, template: Option<&'a str>, rules: &'a [Rule]) -> Subject<'a> {
    Subject {
        agent_id: agent,
        template,
        rules,
        mode: ApprovalMode::Auto,
    }
}

#[tokio::test]
async fn a_rule_failing_its_examples_stops_the_host_with_its_name() {
    let f = fixture().await;
    let mut c = config(&[]);
    c.rules.push(ConfigRule::Spec(RuleSpec {
        rule: "ask execute_bash(git push*)".into(),
        scope: Scope::Global,
        matches: vec![json!("git pull")],
        not_matches: vec![],
    }));
    let e = Policy::open(c, f.store.clone(), f.plugins.clone())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("git push*") && e.contains("rules[0]") && e.contains("git pull"),
        "{e}"
    );
    let e = Policy::open(config(&["permit x"]), f.store.clone(), f.plugins.clone())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("permit"), "{e}");
}

#[tokio::test]
async fn deny_wins_and_the_first_match_decides_across_scopes() {
    let f = fixture().await;
    let policy = Policy::open(
        config(&[
            "allow execute_bash(git *)",
            "deny execute_bash(git push --force*)",
        ]),
        f.store.clone(),
        f.plugins.clone(),
    )
    .await
    .unwrap();
    let agent_rules = vec![Rule::parse("ask execute_bash(git status*)").unwrap()];
    let s = subject("a1", Some("t1"), &agent_rules);
    let decide = async |cmd: &str, s: &Subject<'_>| {
        let args = json!({ "command": cmd });
        policy.decide(s, &call(&args, false)).await
    };
    // The agent's own rule comes first.
    let d = decide("git status", &s).await;
    assert_eq!(
        (d.action, d.rule_scope.as_deref()),
        (Action::Ask, Some("agent"))
    );
    // A later deny beats an earlier allow.
    let d = decide("git push --force origin", &s).await;
    assert_eq!(d.action, Action::Deny);
    assert!(d.verdicts.is_empty(), "a denied call asks no assessor");
    let d = decide("git log", &s).await;
    assert_eq!(
        (d.action, d.rule_scope.as_deref()),
        (Action::Allow, Some("config global"))
    );
    // API rules: template and agent scopes apply only to their subjects.
    policy
        .add_rule(
            RuleSpec {
                rule: "ask execute_bash(git log*)".into(),
                scope: Scope::Template("t1".into()),
                matches: vec![json!("git log -3")],
                not_matches: vec![],
            },
            "api",
            "admin (REST)",
        )
        .await
        .unwrap();
    let d = decide("git log", &s).await;
    assert_eq!(
        (d.action, d.rule_scope.as_deref()),
        (Action::Ask, Some("template:t1"))
    );
    let other = subject("a2", Some("t2"), &[]);
    assert_eq!(decide("git log", &other).await.action, Action::Allow);
    let view = policy
        .add_rule(
            RuleSpec {
                rule: "deny execute_bash".into(),
                scope: Scope::Agent("a2".into()),
                matches: vec![],
                not_matches: vec![],
            },
            "api",
            "admin (REST)",
        )
        .await
        .unwrap();
    assert_eq!(decide("ls", &other).await.action, Action::Deny);
    assert_eq!(decide("ls", &s).await.action, Action::Allow);
    assert!(policy.denies_tool(&other, "execute_bash", false));
    assert!(!policy.denies_tool(&s, "execute_bash", false));
    // Stored rules survive a reopen; config rules cannot be removed.
    let reopened = Policy::open(
        config(&["allow read_file"]),
        f.store.clone(),
        f.plugins.clone(),
    )
    .await
    .unwrap();
    let ids: Vec<String> = reopened.rules().iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], "config-1");
    assert!(matches!(
        reopened.remove_rule("config-1").await,
        Err(PolicyError::ReadOnly(_))
    ));
    assert!(matches!(
        reopened.remove_rule("nope").await,
        Err(PolicyError::NotFound(_))
    ));
    let removed = reopened.remove_rule(&view.id).await.unwrap();
    assert_eq!(removed.spec.rule, "deny execute_bash");
    assert_eq!(reopened.rules().len(), 2);
}

#[tokio::test]
async fn read_only_mode_hides_writers() {
    let f = fixture().await;
    let policy = Policy::open(config(&[]), f.store.clone(), f.plugins.clone())
        .await
        .unwrap();
    let s = Subject {
        mode: ApprovalMode::ReadOnly,
        ..subject("a", None, &[])
    };
    assert!(policy.denies_tool(&s, "write_file", false));
    assert!(!policy.denies_tool(&s, "read_file", true));
    let auto = subject("a", None, &[]);
    assert!(!policy.denies_tool(&auto, "write_file", false));
}

#[tokio::test]
async fn an_invalid_api_rule_is_refused_with_its_reason() {
    let f = fixture().await;
    let policy = Policy::open(config(&[]), f.store.clone(), f.plugins.clone())
        .await
        .unwrap();
    let e = policy
        .add_rule(
            RuleSpec {
                rule: "ask write_file(path=*.env)".into(),
                scope: Scope::Global,
                matches: vec![],
                not_matches: vec![json!(".env")],
            },
            "api",
            "x",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("matches its own example"), "{e}");
    assert!(policy.rules().is_empty());
}
