//! Network rules: what the policy says about a connection a sandbox makes
//! to a host that is not on its network allow-list (the egress proxy asks).
//!
//! ```text
//! ask network(*)                  ask a human about every new host
//! allow network(*.npmjs.org)      any subdomain of npmjs.org, any port
//! allow network(pypi.org:443)     this host on this port
//! deny network(*.example.com)     never (a deny wins, as for tools)
//! allow network(port=443)         any host on port 443
//! ```
//!
//! The rules are the policy's own (`[policy] rules`, the API, an agent's
//! `rules`, remembered approvals), in the same order as for tool calls: a
//! matching `deny` wins, otherwise the first matching rule decides. Only
//! rules whose tool is exactly `network` apply (`ask *` does not). A bare
//! pattern is a glob matched against the host (`registry.npmjs.org`) and
//! against `host:port` (`registry.npmjs.org:443`; `[::1]:443` for IPv6).
//! With no matching rule the connection is refused: the allow-list is the
//! default. The approval mode does not change this.
//!
//! An `ask` parks an approval of the pseudo-tool `network` with arguments
//! `{"host", "port"}`; approving it allows that host and port for the agent
//! (remembering it stores `allow network(host:port)` for the agent or for
//! everyone). Whatever rules or a human allow, a *name* never reaches a
//! loopback, private, link-local or metadata address: only an allow-list
//! entry naming the address literally does.

pub use super::rules::NETWORK_TOOL as TOOL;
pub use super::rules::authority;
use super::rules::{Rule, escape};
use super::{Action, Policy, Subject};

/// The rule that allows (or denies) exactly `host:port`.
pub fn exact_rule(action: Action, host: &str, port: u16) -> String {
    format!(
        "{} {TOOL}({})",
        action.as_str(),
        escape(&authority(host, port))
    )
}

/// What the rules say about one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkDecision {
    /// Allow, ask a human, or refuse.
    pub action: Action,
    /// Why, for the connection's record and the client's 403.
    pub reason: String,
    /// The rule that decided, as written (none: no rule matched).
    pub rule: Option<String>,
}

/// The decision of `rules` (in the order they are tried) on `host:port`.
pub fn decide<'a>(
    rules: impl Iterator<Item = &'a Rule> + Clone,
    host: &str,
    port: u16,
) -> NetworkDecision {
    let matching = rules.filter(|r| r.matches_connection(host, port));
    let deny = matching.clone().find(|r| r.action == Action::Deny);
    match deny.or_else(|| matching.clone().next()) {
        Some(rule) => NetworkDecision {
            action: rule.action,
            reason: format!(
                "{} by rule `{}`",
                match rule.action {
                    Action::Allow => "allowed",
                    Action::Ask => "asks",
                    Action::Deny => "denied",
                },
                rule.text()
            ),
            rule: Some(rule.text().to_string()),
        },
        None => NetworkDecision {
            action: Action::Deny,
            reason: format!(
                "{} is not on this agent's network allow-list (a rule `ask network(*)` would \
                 ask a human about new hosts)",
                authority(host, port)
            ),
            rule: None,
        },
    }
}

impl Policy {
    /// Judges a connection of `subject`'s sandbox to `host:port`, which is
    /// not on its allow-list (see the module doc).
    pub fn decide_network(&self, subject: &Subject<'_>, host: &str, port: u16) -> NetworkDecision {
        let stored = self.snapshot();
        let applicable = self.applicable(subject, &stored);
        decide(applicable.iter().map(|(r, _)| *r), host, port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(texts: &[&str]) -> Vec<Rule> {
        texts.iter().map(|t| Rule::parse(t).unwrap()).collect()
    }

    fn action(texts: &[&str], host: &str, port: u16) -> Action {
        decide(rules(texts).iter(), host, port).action
    }

    #[test]
    fn no_rule_refuses_and_says_how_to_ask() {
        let d = decide(
            rules(&["ask *", "allow execute_bash"]).iter(),
            "pypi.org",
            443,
        );
        assert_eq!(d.action, Action::Deny, "only `network` rules apply");
        assert!(d.reason.contains("pypi.org:443 is not on"), "{}", d.reason);
        assert!(d.reason.contains("ask network(*)"), "{}", d.reason);
        assert_eq!(d.rule, None);
    }

    #[test]
    fn patterns_match_the_host_or_host_and_port() {
        assert_eq!(action(&["ask network(*)"], "a.b", 1), Action::Ask);
        assert_eq!(action(&["ask network"], "a.b", 1), Action::Ask);
        let npm = ["allow network(*.npmjs.org)"];
        assert_eq!(action(&npm, "registry.npmjs.org", 443), Action::Allow);
        assert_eq!(action(&npm, "npmjs.org", 443), Action::Deny);
        let port = ["allow network(pypi.org:443)"];
        assert_eq!(action(&port, "pypi.org", 443), Action::Allow);
        assert_eq!(action(&port, "pypi.org", 80), Action::Deny);
        assert_eq!(
            action(&["allow network(port=443)"], "x.org", 443),
            Action::Allow
        );
        assert_eq!(
            action(&["allow network(host=x.*)"], "x.org", 1),
            Action::Allow
        );
        assert_eq!(action(&["allow network(path=x)"], "x", 1), Action::Deny);
        assert_eq!(
            action(&["allow network([::1]:80)"], "::1", 80),
            Action::Allow
        );
    }

    #[test]
    fn a_deny_wins_then_the_first_match_decides() {
        let d = decide(
            rules(&["allow network(*)", "deny network(*.evil.test)"]).iter(),
            "x.evil.test",
            443,
        );
        assert_eq!(d.action, Action::Deny);
        assert_eq!(d.rule.as_deref(), Some("deny network(*.evil.test)"));
        assert_eq!(
            action(&["ask network(*)", "allow network(*)"], "a.org", 1),
            Action::Ask
        );
    }

    #[test]
    fn the_exact_rule_matches_its_connection_only() {
        let text = exact_rule(Action::Allow, "registry.npmjs.org", 443);
        assert_eq!(text, "allow network(registry.npmjs.org:443)");
        let r = Rule::parse(&text).unwrap();
        assert!(r.matches_connection("registry.npmjs.org", 443));
        assert!(!r.matches_connection("registry.npmjs.org", 80));
        let v6 = exact_rule(Action::Deny, "2001:db8::1", 443);
        assert_eq!(v6, "deny network([2001:db8::1]:443)");
        assert!(
            Rule::parse(&v6)
                .unwrap()
                .matches_connection("2001:db8::1", 443)
        );
    }
}
