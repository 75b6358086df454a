//! JWT bearer tokens from a gateway or its identity provider: RS256/ES256
//! checked against a public key file or a JWKS (a file, or a URL fetched,
//! cached and fetched again when a token names a key it does not know),
//! HS256 against a shared secret from the environment.
//!
//! A token is accepted only with an accepted `alg` (never `none`), a valid
//! signature by a key of that algorithm's family, the configured `iss` and
//! `aud`, an `exp` in the future and no `nbf` in the future (both with the
//! configured leeway), and a non-empty user claim.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::config::JwtSettings;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Who a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIdentity {
    pub user_id: String,
    pub admin: bool,
    /// All the token's claims (for the identity mapping).
    pub claims: std::sync::Arc<Map<String, Value>>,
}

/// Why a JWT was refused (said in the 401's detail and the audit trail; it
/// never holds key material or the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwtRefused(pub String);

/// A JWT setting that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("[auth.jwt] {0}")]
pub struct JwtConfigError(String);

#[derive(Debug)]
struct Jwks {
    set: JwkSet,
    fetched: Option<Instant>,
}

#[derive(Debug)]
pub struct JwtVerifier {
    settings: JwtSettings,
    algorithms: HashSet<Algorithm>,
    public_key: Option<DecodingKey>,
    secret: Option<DecodingKey>,
    jwks: Mutex<Jwks>,
    http: reqwest::Client,
    /// Whether a token lacking `admin_claim` was seen (and said so).
    admin_claim_missing: std::sync::atomic::AtomicBool,
}

impl JwtVerifier {
    /// Load keys and check the settings; `base` is what relative paths are
    /// relative to. A JWKS URL that cannot be fetched now is not an error
    /// (it is tried again on the first token); a bad file is.
    pub async fn new(settings: &JwtSettings, base: Option<&Path>) -> Result<Self, JwtConfigError> {
        let err = |m: String| JwtConfigError(m);
        let resolve = |p: &Path| base.map_or_else(|| p.to_path_buf(), |b| b.join(p));
        let public_key = match &settings.public_key_file {
            Some(path) => {
                let path = resolve(path);
                let pem = std::fs::read(&path)
                    .map_err(|e| err(format!("public_key_file {}: {e}", path.display())))?;
                let key = DecodingKey::from_rsa_pem(&pem)
                    .or_else(|_| DecodingKey::from_ec_pem(&pem))
                    .map_err(|_| {
                        err(format!(
                            "public_key_file {} is not a PEM RSA or EC public key",
                            path.display()
                        ))
                    })?;
                Some(key)
            }
            None => None,
        };
        let mut set = JwkSet { keys: Vec::new() };
        if let Some(path) = &settings.jwks_file {
            let path = resolve(path);
            let text = std::fs::read(&path)
                .map_err(|e| err(format!("jwks_file {}: {e}", path.display())))?;
            set = serde_json::from_slice(&text)
                .map_err(|e| err(format!("jwks_file {} is not a JWKS: {e}", path.display())))?;
        }
        if let Some(url) = &settings.jwks_url {
            check_jwks_url(url).map_err(err)?;
        }
        let secret = match &settings.secret_env {
            Some(name) => {
                let value = std::env::var(name).unwrap_or_default();
                if value.len() < 32 {
                    return Err(err(format!(
                        "secret_env: ${name} must hold a secret of at least 32 bytes"
                    )));
                }
                Some(DecodingKey::from_secret(value.as_bytes()))
            }
            None => None,
        };
        if public_key.is_none()
            && secret.is_none()
            && settings.jwks_file.is_none()
            && settings.jwks_url.is_none()
        {
            return Err(err(
                "needs a key: public_key_file, jwks_file, jwks_url or secret_env".into(),
            ));
        }
        let algorithms = if settings.algorithms.is_empty() {
            let mut all = HashSet::new();
            if secret.is_some() {
                all.insert(Algorithm::HS256);
            }
            if public_key.is_some() || settings.jwks_file.is_some() || settings.jwks_url.is_some() {
                all.extend([Algorithm::RS256, Algorithm::ES256]);
            }
            all
        } else {
            settings
                .algorithms
                .iter()
                .map(|name| {
                    Algorithm::from_str(name)
                        .map_err(|_| err(format!("algorithms: unknown algorithm {name:?}")))
                })
                .collect::<Result<_, _>>()?
        };
        if settings.issuer.trim().is_empty() || settings.audience.trim().is_empty() {
            return Err(err("issuer and audience must not be empty".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| err(format!("HTTP client: {e}")))?;
        let verifier = JwtVerifier {
            settings: settings.clone(),
            algorithms,
            public_key,
            secret,
            jwks: Mutex::new(Jwks { set, fetched: None }),
            http,
            admin_claim_missing: std::sync::atomic::AtomicBool::new(false),
        };
        if settings.jwks_url.is_some() {
            let mut jwks = verifier.jwks.lock().await;
            if let Err(e) = verifier.fetch(&mut jwks).await {
                tracing::warn!("[auth.jwt] jwks_url: {e}; trying again on the first token");
            }
        }
        Ok(verifier)
    }

    /// Check a token and say whom it names.
    pub async fn verify(&self, token: &str) -> Result<JwtIdentity, JwtRefused> {
        let refuse = |m: &str| JwtRefused(m.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| refuse("malformed JWT"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(JwtRefused(format!(
                "JWT algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = self.key_for(header.alg, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.settings.leeway_secs;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| refusal(e.kind()))?;
        let claims = data.claims;
        let user_id = claim_at(&claims, &self.settings.user_claim)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty() && u.len() <= 255 && !u.chars().any(char::is_control))
            .ok_or_else(|| {
                JwtRefused(format!(
                    "JWT claim {:?} must name the user (1 to 255 printable characters)",
                    self.settings.user_claim
                ))
            })?
            .to_owned();
        let admin = match &self.settings.admin_claim {
            None => false,
            Some(path) => match claim_at(&claims, path) {
                Some(value) => grants(value, &self.settings.admin_value),
                None => {
                    // said once: a misnamed claim path otherwise makes no
                    // one an admin without a word
                    if !self
                        .admin_claim_missing
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                    {
                        let mut present: Vec<&str> = claims.keys().map(String::as_str).collect();
                        present.sort_unstable();
                        tracing::warn!(
                            "[auth.jwt] admin_claim {path:?} is not in the JWT of {user_id}: \
                             such tokens make normal users (their claims: {}); said once",
                            present.join(", ")
                        );
                    }
                    false
                }
            },
        };
        Ok(JwtIdentity {
            user_id,
            admin,
            claims: std::sync::Arc::new(claims),
        })
    }

    async fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, JwtRefused> {
        if alg == Algorithm::HS256 || alg == Algorithm::HS384 || alg == Algorithm::HS512 {
            return self
                .secret
                .clone()
                .ok_or_else(|| JwtRefused("no shared secret is configured for HMAC JWTs".into()));
        }
        let Some(kid) = kid else {
            return self
                .public_key
                .clone()
                .ok_or_else(|| JwtRefused("JWT has no key id (kid)".into()));
        };
        let mut jwks = self.jwks.lock().await;
        let stale = jwks
            .fetched
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(self.settings.jwks_refresh_secs));
        let unknown = jwks.set.find(kid).is_none();
        let may_refetch = jwks.fetched.is_none_or(|at| {
            at.elapsed() >= Duration::from_secs(self.settings.jwks_refetch_min_secs)
        });
        if self.settings.jwks_url.is_some()
            && (stale || (unknown && may_refetch))
            && let Err(e) = self.fetch(&mut jwks).await
        {
            tracing::warn!("[auth.jwt] jwks_url: {e}");
        }
        let jwk = jwks
            .set
            .find(kid)
            .ok_or_else(|| JwtRefused(format!("JWT key id {kid:?} is unknown")))?;
        DecodingKey::from_jwk(jwk)
            .map_err(|_| JwtRefused(format!("JWT key id {kid:?} names an unusable key")))
    }

    async fn fetch(&self, jwks: &mut Jwks) -> Result<(), String> {
        let Some(url) = &self.settings.jwks_url else {
            return Ok(());
        };
        // a failed fetch also counts, so a dead URL is not asked per request
        jwks.fetched = Some(Instant::now());
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("fetching {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("fetching {url}: HTTP {}", response.status()));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| format!("{url} is not a JWKS: {e}"))?;
        tracing::info!(keys = set.keys.len(), "fetched JWKS from {url}");
        jwks.set = set;
        Ok(())
    }
}

/// HTTPS, or plain HTTP to a loopback address (tests, a sidecar).
fn check_jwks_url(url: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("jwks_url {url:?} is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "jwks_url {url:?} must be https:// (http:// only on a loopback address)"
        )),
    }
}

/// A claim by name, or by a dotted path into nested objects
/// (`realm_access.roles`, Keycloak's realm roles;
/// `resource_access.<client>.roles`): a top-level claim whose name is the
/// whole path (namespaced claims hold dots) wins.
pub fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Whether an admin claim's value grants `wanted`.
fn grants(value: &Value, wanted: &str) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.split_whitespace().any(|v| v == wanted),
        Value::Array(items) => items.iter().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    }
}

fn refusal(kind: &ErrorKind) -> JwtRefused {
    let text = match kind {
        ErrorKind::ExpiredSignature => "JWT has expired".to_owned(),
        ErrorKind::ImmatureSignature => "JWT is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "JWT issuer is not accepted".to_owned(),
        ErrorKind::InvalidAudience => "JWT audience is not accepted".to_owned(),
        ErrorKind::InvalidSignature => "JWT signature is invalid".to_owned(),
        ErrorKind::MissingRequiredClaim(c) => format!("JWT lacks the {c:?} claim"),
        ErrorKind::InvalidClaimFormat(c) => format!("JWT claim {c:?} has the wrong type"),
        ErrorKind::InvalidAlgorithm => "JWT algorithm does not match its key".to_owned(),
        _ => "malformed JWT".to_owned(),
    };
    JwtRefused(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn admin_claims_of_every_shape() {
        assert!(grants(&json!(true), "a"));
        assert!(!grants(&json!(false), "a"));
        assert!(grants(&json!("x a y"), "a"));
        assert!(!grants(&json!("ab"), "a"));
        assert!(grants(&json!(["x", "a"]), "a"));
        assert!(!grants(&json!(["x"]), "a"));
        assert!(!grants(&json!(1), "a"));
    }

    #[test]
    fn claims_by_name_or_dotted_path() {
        let claims = json!({
            "sub": "alice",
            "realm_access": {"roles": ["offline_access", "horizon-admin"]},
            "resource_access": {"gateway": {"roles": ["operator"]}},
            "https://example.org/roles": ["x"],
        });
        let claims = claims.as_object().expect("object");
        assert_eq!(claim_at(claims, "sub"), Some(&json!("alice")));
        assert!(grants(
            claim_at(claims, "realm_access.roles").expect("realm roles"),
            "horizon-admin"
        ));
        assert!(grants(
            claim_at(claims, "resource_access.gateway.roles").expect("client roles"),
            "operator"
        ));
        assert_eq!(
            claim_at(claims, "https://example.org/roles"),
            Some(&json!(["x"]))
        );
        assert_eq!(claim_at(claims, "realm_access.groups"), None);
        assert_eq!(claim_at(claims, "sub.x"), None);
    }

    #[test]
    fn jwks_urls_must_be_https_unless_loopback() {
        assert!(check_jwks_url("https://idp.example.org/jwks").is_ok());
        assert!(check_jwks_url("http://127.0.0.1:9/jwks").is_ok());
        assert!(check_jwks_url("http://localhost/jwks").is_ok());
        assert!(check_jwks_url("http://idp.example.org/jwks").is_err());
        assert!(check_jwks_url("file:///etc/passwd").is_err());
    }
}
