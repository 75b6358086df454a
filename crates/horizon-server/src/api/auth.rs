//! Who is calling, and whether they may: every `/v1` route passes through
//! [`guard`], which authenticates the bearer token (Horizon's own, or a
//! gateway's JWT), refuses what the route's [`Access`] forbids, and hands
//! the [`Caller`] to the handler. Per-job visibility (a user sees their own
//! jobs; an admin sees all) is [`Caller::may_see`], used by every job route.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AppState;
use super::audit::{self, Outcome};
use super::problem::ApiError;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A token made by `horizon token create`.
    Token,
    /// A JWT from the gateway or its identity provider.
    Jwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Token => "token",
            AuthMethod::Jwt => "jwt",
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub admin: bool,
    pub method: AuthMethod,
    /// A JWT's claims (none for Horizon's own tokens).
    pub claims: Option<std::sync::Arc<serde_json::Map<String, serde_json::Value>>>,
}

impl Caller {
    /// Whether this caller may see (and act on) the jobs of `user_id`.
    pub fn may_see(&self, user_id: &str) -> bool {
        self.admin || self.user_id == user_id
    }
}

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid token; job routes then show only the caller's own jobs
    /// (all jobs to an admin).
    User,
    /// An admin token.
    Admin,
}

/// The one table of who may call what (by route template).
pub fn access(path: &str) -> Access {
    if path.starts_with("/v1/admin/") || path == "/v1/audit" {
        Access::Admin
    } else {
        Access::User
    }
}

/// A new random token (256 bits, hex) with a recognizable prefix.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("hzn_{}", hex::encode(bytes))
}

/// What the store keeps of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a bearer value has a JWT's shape (three base64url parts).
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with("hzn_")
}

/// The caller a request's `Authorization` header proves.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
    })?;
    // the scheme is case-insensitive (RFC 9110 §11.1)
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("Authorization header must be `Bearer <token>`".into())
        })?;
    if looks_like_jwt(token) {
        let Some(jwt) = &state.jwt else {
            return Err(ApiError::Unauthorized(
                "JWTs are not accepted by this server (no [auth.jwt])".into(),
            ));
        };
        let identity = jwt
            .verify(token)
            .await
            .map_err(|refused| ApiError::Unauthorized(refused.0))?;
        return Ok(Caller {
            user_id: identity.user_id,
            admin: identity.admin,
            method: AuthMethod::Jwt,
            claims: Some(identity.claims),
        });
    }
    let hash = hash_token(token);
    let owner = match state.tokens.get(&hash) {
        Some(owner) => owner,
        None => {
            let owner = state.store.find_token(&hash).await?.ok_or_else(|| {
                ApiError::Unauthorized("invalid, expired or revoked token".into())
            })?;
            state.tokens.put(hash, owner.clone());
            owner
        }
    };
    Ok(Caller {
        user_id: owner.user_id,
        admin: owner.admin,
        method: AuthMethod::Token,
        claims: None,
    })
}

/// The middleware in front of every `/v1` route: authenticate, authorize by
/// [`access`], run the handler, and write the audit record of what happened.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let context = audit::Context::of(&request, &route, client);
    let caller = match authenticate(&state, request.headers()).await {
        Ok(caller) => caller,
        Err(err) => {
            let refused = matches!(err, ApiError::Unauthorized(_));
            let detail = err.to_string();
            let response = err.into_response();
            // (a 503 — the database away while checking a token — is no refusal)
            if refused {
                metrics::counter!(crate::telemetry::DENIED, "reason" => "unauthenticated")
                    .increment(1);
                // a row of its own within the budget; else counted, and
                // summed up once a minute (anyone can send these)
                if state.denials.admit(&context.source()) {
                    context
                        .finish(
                            &state,
                            None,
                            Outcome::Denied,
                            response.status(),
                            None,
                            Some(detail),
                        )
                        .await;
                }
            }
            return response;
        }
    };
    if access(&route) == Access::Admin && !caller.admin {
        metrics::counter!(crate::telemetry::DENIED, "reason" => "forbidden").increment(1);
        let err = ApiError::Forbidden("this route needs an admin token".into());
        let detail = err.to_string();
        let response = err.into_response();
        context
            .finish(
                &state,
                Some(&caller),
                Outcome::Denied,
                response.status(),
                None,
                Some(detail),
            )
            .await;
        return response;
    }
    request.extensions_mut().insert(caller.clone());
    // a submission's (a clone's, a sweep's) record is written with the
    // job or sweep it makes
    if (route == "/v1/jobs" || route == "/v1/jobs/{id}/clone" || route == "/v1/sweeps")
        && request.method() == axum::http::Method::POST
    {
        let record = context.record(
            Some(&caller),
            Outcome::Allowed,
            axum::http::StatusCode::CREATED,
            None,
            None,
        );
        request.extensions_mut().insert(audit::PendingAudit(record));
    }
    let response = next.run(request).await;
    let recorded = response
        .extensions()
        .get::<audit::AuditNote>()
        .is_some_and(|n| n.recorded);
    if !recorded && context.wanted(&response) {
        let outcome = audit::outcome_of(&response);
        let note = response.extensions().get::<audit::AuditNote>().cloned();
        let status = response.status();
        context
            .finish(&state, Some(&caller), outcome, status, note, None)
            .await;
    }
    response
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("route is not behind the auth guard".into()))
    }
}
