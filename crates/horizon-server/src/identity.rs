//! Identity mapping: whom the cluster charges a job to, by who submitted it.
//!
//! ```toml
//! [[identity]]              # the first rule that matches wins
//! user = "alice"            # the submitter's user id (token or JWT)
//! slurm_account = "astro-123"
//!
//! [[identity]]
//! claim = "groups"          # a JWT claim: a string equal to `value`,
//! value = "astro-lab"       # or a list holding it
//! slurm_account = "astro-lab"
//! ```
//!
//! The account is decided once, at submission, and kept on the job
//! (`account` in the API), so every process submits and shows it alike;
//! no rule matching leaves the agent's own `account`.

use serde::Deserialize;
use serde_json::{Map, Value};

use horizon_core::BackendKind;

/// One `[[identity]]` rule.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRule {
    /// Matches this user id.
    pub user: Option<String>,
    /// Matches a JWT whose claim of this name is `value` (or a list holding
    /// it); never matches a Horizon token.
    pub claim: Option<String>,
    /// The claim's value that matches (with `claim`).
    pub value: Option<String>,
    /// The Slurm account (`sbatch --account`) of matching users' jobs.
    pub slurm_account: Option<String>,
}

/// Why the rules cannot work (said at start).
pub fn check(rules: &[IdentityRule]) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("[[identity]] rule {}", i + 1);
        match (&rule.user, &rule.claim, &rule.value) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (Some(_), Some(_), _) => {
                return Err(format!("{at}: give `user` or `claim`, not both"));
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(format!("{at}: `claim` and `value` go together"));
            }
            (Some(_), None, Some(_)) => {
                return Err(format!("{at}: `value` belongs with `claim`, not `user`"));
            }
            (None, None, None) => {
                return Err(format!("{at}: says whom it is for with `user` or `claim`"));
            }
        }
        let Some(account) = &rule.slurm_account else {
            return Err(format!("{at}: maps to nothing (set `slurm_account`)"));
        };
        if account.is_empty()
            || account.len() > 64
            || !account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(format!(
                "{at}: slurm_account {account:?} must be 1 to 64 letters, digits, '_', '-' or '.'"
            ));
        }
    }
    Ok(())
}

/// The account a job of `user_id` (with these JWT claims, if it came with a
/// JWT) is charged to on `backend`, if a rule says so.
pub fn account_for(
    rules: &[IdentityRule],
    user_id: &str,
    claims: Option<&Map<String, Value>>,
    backend: BackendKind,
) -> Option<String> {
    if backend != BackendKind::Slurm {
        return None;
    }
    rules
        .iter()
        .find(|rule| matches(rule, user_id, claims))
        .and_then(|rule| rule.slurm_account.clone())
}

fn matches(rule: &IdentityRule, user_id: &str, claims: Option<&Map<String, Value>>) -> bool {
    if let Some(user) = &rule.user {
        return user == user_id;
    }
    let (Some(name), Some(wanted), Some(claims)) = (&rule.claim, &rule.value, claims) else {
        return false;
    };
    match claims.get(name) {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Vec<IdentityRule> {
        let text = r#"
            [[identity]]
            user = "alice"
            slurm_account = "alice-acct"
            [[identity]]
            claim = "groups"
            value = "astro"
            slurm_account = "astro-lab"
        "#;
        #[derive(Deserialize)]
        struct File {
            identity: Vec<IdentityRule>,
        }
        let file: File = toml::from_str(text).expect("rules");
        file.identity
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = rules();
        check(&rules).expect("valid");
        let groups = json!({"groups": ["bio", "astro"]});
        let claims = groups.as_object();
        assert_eq!(
            account_for(&rules, "alice", claims, BackendKind::Slurm).as_deref(),
            Some("alice-acct")
        );
        assert_eq!(
            account_for(&rules, "bob", claims, BackendKind::Slurm).as_deref(),
            Some("astro-lab")
        );
        let single = json!({"groups": "astro"});
        assert_eq!(
            account_for(&rules, "bob", single.as_object(), BackendKind::Slurm).as_deref(),
            Some("astro-lab")
        );
        assert_eq!(account_for(&rules, "bob", None, BackendKind::Slurm), None);
        let other = json!({"groups": ["bio"]});
        assert_eq!(
            account_for(&rules, "bob", other.as_object(), BackendKind::Slurm),
            None
        );
        // only Slurm has accounts
        assert_eq!(
            account_for(&rules, "alice", claims, BackendKind::Local),
            None
        );
    }

    #[test]
    fn rules_that_cannot_work_are_refused() {
        let rule =
            |user: Option<&str>, claim: Option<&str>, value: Option<&str>, acct: Option<&str>| {
                IdentityRule {
                    user: user.map(Into::into),
                    claim: claim.map(Into::into),
                    value: value.map(Into::into),
                    slurm_account: acct.map(Into::into),
                }
            };
        for (bad, says) in [
            (rule(None, None, None, Some("a")), "with `user` or `claim`"),
            (rule(Some("u"), Some("c"), Some("v"), Some("a")), "not both"),
            (rule(None, Some("c"), None, Some("a")), "go together"),
            (rule(Some("u"), None, None, None), "maps to nothing"),
            (rule(Some("u"), None, None, Some("a b")), "must be 1 to 64"),
            (
                rule(Some("u"), None, None, Some("--qos=x;")),
                "must be 1 to 64",
            ),
        ] {
            let err = check(&[bad]).expect_err(says);
            assert!(err.contains(says), "{err}");
        }
    }
}
