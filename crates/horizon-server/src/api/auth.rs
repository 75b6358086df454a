//! Bearer tokens: how they are made, stored (SHA-256, never the token) and checked.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AppState;
use super::problem::ApiError;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub admin: bool,
}

impl Caller {
    /// Whether this caller may see the jobs of `user_id`.
    pub fn may_see(&self, user_id: &str) -> bool {
        self.admin || self.user_id == user_id
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
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
        })
    }
}
