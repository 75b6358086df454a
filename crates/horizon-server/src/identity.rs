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
//! tapis_user = "{user}"     # Tapis: act as the submitter's own Tapis user
//! ```
//!
//! The account is decided once, at submission, and kept on the job
//! (`account` in the API), so every process submits and shows it alike;
//! no rule matching leaves the agent's own `account` (Slurm), or the
//! `[tapis] default_user` (Tapis with a service account).
//!
//! On Tapis the account is the user the job runs as: Horizon logs in as a
//! Tapis service and acts for that user (`X-Tapis-User`), so the job is the
//! user's own in Tapis, charged to the user's allocation.

use serde::Deserialize;
use serde_json::{Map, Value};

use horizon_core::BackendKind;

/// One `[[identity]]` rule.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRule {
    /// Matches this user id.
    pub user: Option<String>,
    /// Matches a JWT whose claim of this name (or dotted path, e.g.
    /// `realm_access.roles`) is `value` (or a list holding it); never
    /// matches a Horizon token.
    pub claim: Option<String>,
    /// The claim's value that matches (with `claim`).
    pub value: Option<String>,
    /// The Slurm account (`sbatch --account`) of matching users' jobs.
    pub slurm_account: Option<String>,
    /// The Tapis user matching users' Tapis jobs run as (needs `[tapis]
    /// service_account = true`); `{user}` stands for the submitter's user id.
    pub tapis_user: Option<String>,
}

/// Letters, digits, '_', '-' and '.', 1 to 64 of them: all an account or a
/// user name may hold (nothing a shell or a header could misread).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
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
        if rule.slurm_account.is_none() && rule.tapis_user.is_none() {
            return Err(format!(
                "{at}: maps to nothing (set `slurm_account` or `tapis_user`)"
            ));
        }
        if let Some(account) = &rule.slurm_account
            && !plain_name(account)
        {
            return Err(format!(
                "{at}: slurm_account {account:?} must be 1 to 64 letters, digits, '_', '-' or '.'"
            ));
        }
        if let Some(user) = &rule.tapis_user
            && user != "{user}"
            && !plain_name(user)
        {
            return Err(format!(
                "{at}: tapis_user {user:?} must be \"{{user}}\" or 1 to 64 letters, digits, '_', '-' or '.'"
            ));
        }
    }
    Ok(())
}

/// Whether any rule names a Tapis user.
pub fn maps_tapis_users(rules: &[IdentityRule]) -> bool {
    rules.iter().any(|rule| rule.tapis_user.is_some())
}

/// The account a job of `user_id` (with these JWT claims, if it came with a
/// JWT) is charged to on `backend`, if a rule says so.
pub fn account_for(
    rules: &[IdentityRule],
    user_id: &str,
    claims: Option<&Map<String, Value>>,
    backend: BackendKind,
) -> Option<String> {
    let rule = rules.iter().find(|rule| {
        matches(rule, user_id, claims)
            && match backend {
                BackendKind::Slurm => rule.slurm_account.is_some(),
                BackendKind::Tapis => rule.tapis_user.is_some(),
                BackendKind::Local => false,
            }
    })?;
    match backend {
        BackendKind::Slurm => rule.slurm_account.clone(),
        BackendKind::Tapis => match rule.tapis_user.as_deref() {
            // a user id that could not be a Tapis user name maps to nothing
            Some("{user}") => plain_name(user_id).then(|| user_id.to_owned()),
            other => other.map(str::to_owned),
        },
        BackendKind::Local => None,
    }
}

fn matches(rule: &IdentityRule, user_id: &str, claims: Option<&Map<String, Value>>) -> bool {
    if let Some(user) = &rule.user {
        return user == user_id;
    }
    let (Some(name), Some(wanted), Some(claims)) = (&rule.claim, &rule.value, claims) else {
        return false;
    };
    match crate::api::jwt::claim_at(claims, name) {
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
            [[identity]]
            claim = "tapis"
            value = "yes"
            tapis_user = "{user}"
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
        // local jobs run as the server's user
        assert_eq!(
            account_for(&rules, "alice", claims, BackendKind::Local),
            None
        );
        // a rule without a Tapis user is passed over on Tapis
        let tapis = json!({"groups": ["astro"], "tapis": "yes"});
        assert_eq!(
            account_for(&rules, "bob", tapis.as_object(), BackendKind::Tapis).as_deref(),
            Some("bob")
        );
        assert_eq!(
            account_for(&rules, "bob", tapis.as_object(), BackendKind::Slurm).as_deref(),
            Some("astro-lab")
        );
        assert_eq!(account_for(&rules, "bob", claims, BackendKind::Tapis), None);
        assert_eq!(
            account_for(&rules, "b o b", tapis.as_object(), BackendKind::Tapis),
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
                    tapis_user: None,
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
        let mut odd = rule(Some("u"), None, None, None);
        odd.tapis_user = Some("{claim}".into());
        let err = check(&[odd]).expect_err("template");
        assert!(err.contains("tapis_user"), "{err}");
    }
}
