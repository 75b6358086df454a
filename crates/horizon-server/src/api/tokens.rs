//! Tokens for users, made and revoked by an admin over the API (what
//! `horizon token create|list|revoke` do on the server's machine): a gateway
//! can provision its users without a shell on Horizon's host. Only the
//! token's SHA-256 is stored; the token itself is in the one response that
//! creates it. Each change is in the audit trail (`token.create`,
//! `token.revoke`), never with the token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Caller, hash_token, new_token};
use super::problem::{ApiError, Problem};

/// The longest a token may be made to last.
const MAX_LIFETIME_SECONDS: u64 = 10 * 366 * 24 * 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// The user the token acts as (1 to 255 characters, no control ones).
    pub user_id: String,
    /// An admin token (default false).
    #[serde(default)]
    pub admin: bool,
    /// Let it expire after this many seconds (default: never).
    #[schema(minimum = 1)]
    pub expires_in_seconds: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenDto {
    /// The token: shown this once, never stored.
    pub token: String,
    /// Its id (the first 12 hex digits of its hash), to list and revoke it.
    pub id: String,
    pub user_id: String,
    pub admin: bool,
    /// RFC 3339; absent: it does not expire.
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    pub id: String,
    pub user_id: String,
    pub admin: bool,
    /// RFC 3339
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenListDto {
    /// Newest first.
    pub tokens: Vec<TokenDto>,
}

/// Create a token for a user. **Admin only.**
#[utoipa::path(
    post, path = "/v1/admin/tokens", tag = "admin",
    request_body = CreateTokenRequest,
    responses((status = 201, body = CreatedTokenDto), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn create_token(
    State(state): State<AppState>,
    _admin: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedTokenDto>), ApiError> {
    let request: CreateTokenRequest = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("the body is not a token request: {err}")))?;
    let user = request.user_id.trim();
    if user.is_empty() || user.chars().count() > 255 || user.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "user_id must be 1 to 255 characters, none of them control characters".into(),
        ));
    }
    let expires_at = match request.expires_in_seconds {
        None => None,
        Some(seconds) if (1..=MAX_LIFETIME_SECONDS).contains(&seconds) => Some(
            OffsetDateTime::now_utc()
                + time::Duration::seconds(i64::try_from(seconds).unwrap_or(0)),
        ),
        Some(seconds) => {
            return Err(ApiError::Unprocessable(format!(
                "expires_in_seconds must be 1 to {MAX_LIFETIME_SECONDS}, got {seconds}"
            )));
        }
    };
    let token = new_token();
    let hash = hash_token(&token);
    state
        .store
        .create_token(&hash, user, request.admin, expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenDto {
            token,
            id: hash.chars().take(12).collect(),
            user_id: user.to_owned(),
            admin: request.admin,
            expires_at: expires_at.map(horizon_core::timestamp::format),
        }),
    ))
}

/// Every token (ids, users, expiry, revocation; never the tokens). **Admin only.**
#[utoipa::path(
    get, path = "/v1/admin/tokens", tag = "admin",
    responses((status = 200, body = TokenListDto), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = []))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    _admin: Caller,
) -> Result<Json<TokenListDto>, ApiError> {
    let tokens = state.store.list_tokens().await?;
    Ok(Json(TokenListDto {
        tokens: tokens
            .into_iter()
            .map(|t| TokenDto {
                id: t.id,
                user_id: t.user_id,
                admin: t.admin,
                created_at: horizon_core::timestamp::format(t.created_at),
                expires_at: t.expires_at.map(horizon_core::timestamp::format),
                revoked_at: t.revoked_at.map(horizon_core::timestamp::format),
            })
            .collect(),
    }))
}

/// Revoke a token by its id (8 or more of its hex digits). This process
/// stops accepting it at once, the others within `[api] token_cache_ms`.
/// **Admin only.**
#[utoipa::path(
    delete, path = "/v1/admin/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "the token's id, 8 to 64 hex digits")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    _admin: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id.trim().to_ascii_lowercase();
    if !(8..=64).contains(&id.len()) || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::Unprocessable(format!(
            "a token id is 8 to 64 hex digits, got {id:?}"
        )));
    }
    match state.store.revoke_token(&id).await? {
        0 => Err(ApiError::NotFound(format!("no active token has id {id}"))),
        1 => {
            state.tokens.forget(&id);
            Ok(StatusCode::NO_CONTENT)
        }
        n => Err(ApiError::Conflict(format!(
            "{n} tokens start with {id}: give more of the id (nothing was revoked)"
        ))),
    }
}
