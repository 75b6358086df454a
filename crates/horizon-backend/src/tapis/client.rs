//! A client for TACC's Tapis v3: a token from the Authenticator (password
//! grant; refreshed before it expires, with the refresh token when an OAuth
//! client is configured), `X-Tapis-Token` on every Jobs call, the Tapis
//! envelope (`status, message, result, version, metadata`), and the service
//! as it really behaves (`../shared/TAPIS.md`): 401 bodies are plain text,
//! submit answers 200, some 404s say `"status": "success"`.
//!
//! As a Tapis service (`TapisService`): the token comes from the Tokens API
//! (`POST /v3/tokens`, the service's password as HTTP Basic) and every call
//! says whom it acts for, `X-Tapis-User` and `X-Tapis-Tenant`, as Tapis
//! demands of a service's token (401 `TAPIS_SECURITY_MISSING_HEADER`
//! without them): the job is then the user's own in Tapis.
//!
//! Retries: an idempotent call (GET, cancel) is retried on 5xx and
//! transport errors with capped backoff; a 401 gets one fresh token and one
//! more try, never a loop. A submission is never retried here — the backend
//! looks the job up by name before it submits again.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use crate::BackendError;

/// How to log in to a tenant.
#[derive(Debug, Clone)]
pub struct TapisCredentials {
    pub username: String,
    pub password: String,
    /// An OAuth client, for refresh tokens (optional).
    pub client: Option<(String, String)>,
    /// Log in as a Tapis service that acts for users (else as a user).
    pub service: Option<TapisService>,
}

/// A Tapis service account acting for users.
#[derive(Debug, Clone)]
pub struct TapisService {
    /// The users' tenant (`X-Tapis-Tenant`).
    pub tenant: String,
    /// The token's `target_site_id`, when the site needs saying.
    pub site: Option<String>,
    /// Whom a call acts for when it names nobody.
    pub default_user: Option<String>,
}

#[derive(Debug)]
struct Token {
    access: String,
    /// When to get a new one (a minute before it expires).
    renew_at: Instant,
    refresh: Option<String>,
}

/// A Tapis answer: HTTP status and the parsed envelope (or the raw text,
/// as `{"message": text}`, when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn message(&self) -> String {
        self.body["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| self.body.to_string())
    }

    pub fn result(&self) -> &Value {
        &self.body["result"]
    }
}

#[derive(Debug)]
pub struct TapisClient {
    http: reqwest::Client,
    base: String,
    credentials: TapisCredentials,
    token: Mutex<Option<Token>>,
    /// Attempts of an idempotent call (5xx, transport errors).
    attempts: u32,
    backoff: Duration,
}

/// Renew a token this long before Tapis says it expires.
const RENEW_EARLY: Duration = Duration::from_secs(60);

impl TapisClient {
    pub fn new(
        base: &str,
        credentials: TapisCredentials,
        timeout: Duration,
        attempts: u32,
        backoff: Duration,
    ) -> Result<Self, BackendError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|err| BackendError::Unavailable(format!("HTTP client: {err}")))?;
        Ok(TapisClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            credentials,
            token: Mutex::new(None),
            attempts: attempts.max(1),
            backoff,
        })
    }

    /// A valid access token: the current one, or a new one when it is
    /// missing, about to expire, or `stale` (Tapis refused it).
    async fn access_token(&self, stale: Option<&str>) -> Result<String, BackendError> {
        let mut token = self.token.lock().await;
        if let Some(current) = token.as_ref()
            && Instant::now() < current.renew_at
            && stale != Some(current.access.as_str())
        {
            return Ok(current.access.clone());
        }
        let refresh = token.as_ref().and_then(|t| t.refresh.clone());
        let fresh = match (refresh, &self.credentials.client) {
            (Some(refresh), Some(_)) => match self
                .grant(json!({"grant_type": "refresh_token", "refresh_token": refresh}))
                .await
            {
                Ok(fresh) => fresh,
                Err(err) => {
                    debug!("Tapis refresh failed, logging in again: {err}");
                    self.password_grant().await?
                }
            },
            _ => self.password_grant().await?,
        };
        let access = fresh.access.clone();
        *token = Some(fresh);
        Ok(access)
    }

    async fn password_grant(&self) -> Result<Token, BackendError> {
        if let Some(service) = &self.credentials.service {
            // a service's token, from the Tokens API
            let mut body = json!({
                "account_type": "service",
                "token_tenant_id": service.tenant,
                "token_username": self.credentials.username,
                "generate_refresh_token": false,
            });
            if let Some(site) = &service.site {
                body["target_site_id"] = json!(site);
            }
            return self.grant_at("/v3/tokens", body, true).await;
        }
        self.grant(json!({
            "grant_type": "password",
            "username": self.credentials.username,
            "password": self.credentials.password,
        }))
        .await
    }

    async fn grant(&self, body: Value) -> Result<Token, BackendError> {
        self.grant_at("/v3/oauth2/tokens", body, false).await
    }

    async fn grant_at(
        &self,
        path: &str,
        body: Value,
        service: bool,
    ) -> Result<Token, BackendError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if service {
            request =
                request.basic_auth(&self.credentials.username, Some(&self.credentials.password));
        } else if let Some((id, key)) = &self.credentials.client {
            request = request.basic_auth(id, Some(key));
        }
        let reply = send(request).await?;
        if !reply.status.is_success() {
            let message = reply.message();
            return Err(if reply.status.is_server_error() {
                BackendError::Unavailable(format!("Tapis authenticator: {message}"))
            } else {
                BackendError::Unavailable(format!(
                    "Tapis refused the credentials ({}): {message}",
                    reply.status
                ))
            });
        }
        let result = reply.result();
        let access = result["access_token"]["access_token"]
            .as_str()
            .ok_or_else(|| {
                BackendError::Unavailable("Tapis token reply without access_token".to_owned())
            })?
            .to_owned();
        let ttl = result["access_token"]["expires_in"].as_u64().unwrap_or(600);
        let ttl = Duration::from_secs(ttl);
        Ok(Token {
            access,
            renew_at: Instant::now() + ttl.saturating_sub(RENEW_EARLY.min(ttl / 2)),
            refresh: result["refresh_token"]["refresh_token"]
                .as_str()
                .map(str::to_owned),
        })
    }

    /// A request with the token, and as a service, whom it acts for
    /// (`user`, else the default user).
    fn request(
        &self,
        method: Method,
        path: &str,
        token: &str,
        user: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, BackendError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Tapis-Token", token);
        if let Some(service) = &self.credentials.service {
            let user = user.or(service.default_user.as_deref()).ok_or_else(|| {
                BackendError::Rejected(
                    "no Tapis user to act for: the job has no account and [tapis] default_user is not set"
                        .to_owned(),
                )
            })?;
            request = request
                .header("X-Tapis-User", user)
                .header("X-Tapis-Tenant", &service.tenant);
        }
        Ok(request)
    }

    /// Call a Jobs endpoint, for `user` (as a service; ignored otherwise).
    /// `idempotent` calls are retried on 5xx and transport errors; any call
    /// gets one fresh token after a 401.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
        user: Option<&str>,
    ) -> Result<Reply, BackendError> {
        let mut attempt = 0;
        let mut refreshed = false;
        let mut token = self.access_token(None).await?;
        loop {
            attempt += 1;
            let mut request = self.request(method.clone(), path, &token, user)?;
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = send(request).await;
            let retry_in = self.backoff.saturating_mul(1 << (attempt - 1).min(6));
            match outcome {
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED && !refreshed => {
                    // expired (or revoked) token: one new one, one more try
                    debug!("Tapis said 401 ({}); getting a new token", reply.message());
                    refreshed = true;
                    token = self.access_token(Some(&token)).await?;
                }
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
                    return Err(BackendError::Unavailable(format!(
                        "Tapis refuses a fresh token: {}",
                        reply.message()
                    )));
                }
                Ok(reply) if reply.status.is_server_error() => {
                    if !idempotent || attempt >= self.attempts {
                        return Err(BackendError::Unavailable(format!(
                            "Tapis {} {path}: {} {}",
                            method,
                            reply.status,
                            reply.message()
                        )));
                    }
                    warn!(
                        "Tapis {method} {path}: {}; retrying in {retry_in:?}",
                        reply.status
                    );
                    tokio::time::sleep(retry_in).await;
                }
                Ok(reply) => return Ok(reply),
                Err(err) => {
                    if !idempotent || attempt >= self.attempts {
                        return Err(err);
                    }
                    warn!("Tapis {method} {path}: {err}; retrying in {retry_in:?}");
                    tokio::time::sleep(retry_in).await;
                }
            }
        }
    }

    /// An output file (for logs), streamed: each chunk as it arrives goes
    /// to `take`, so a large log is never held whole. Its size, or `None`
    /// when Tapis has no such file.
    pub async fn download(
        &self,
        path: &str,
        user: Option<&str>,
        take: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Option<u64>, BackendError> {
        let mut refreshed = false;
        let mut token = self.access_token(None).await?;
        loop {
            let response = self
                .request(Method::GET, path, &token, user)?
                .send()
                .await
                .map_err(|err| BackendError::Unavailable(format!("Tapis: {err}")))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                token = self.access_token(Some(&token)).await?;
                continue;
            }
            if status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(BackendError::Unavailable(format!(
                    "Tapis download: {status}"
                )));
            }
            let mut response = response;
            let mut size = 0u64;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| BackendError::Unavailable(format!("Tapis download: {err}")))?
            {
                size += chunk.len() as u64;
                take(&chunk);
            }
            return Ok(Some(size));
        }
    }
}

/// Send a request and read its body: JSON when it parses, else the text
/// as `{"message": …}` (Tapis's 401s are plain text).
async fn send(request: reqwest::RequestBuilder) -> Result<Reply, BackendError> {
    let response = request
        .send()
        .await
        .map_err(|err| BackendError::Unavailable(format!("Tapis: {err}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|err| BackendError::Unavailable(format!("Tapis: {err}")))?;
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "message": text.trim() }));
    Ok(Reply { status, body })
}
