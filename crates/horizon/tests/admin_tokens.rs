//! Tokens made and revoked by an admin over the API, against a real
//! `horizon serve`: the token works at once and acts as its user, an expiring
//! one stops at its expiry, a revoked one stops at once on the process that
//! revoked it; a user cannot make tokens; bad requests change nothing; the
//! audit trail has each change and never the token.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Api, Server};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(admin: &Api, body: Value) -> (StatusCode, Value) {
    let r = admin
        .request(Method::POST, "/v1/admin/tokens")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn list(admin: &Api) -> Vec<Value> {
    let page: Value = admin
        .request(Method::GET, "/v1/admin/tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["tokens"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_admin_makes_and_revokes_tokens_over_the_api() {
    let server = Server::start().await;
    let admin = server.client(&server.token("root", true));
    // a token for erin works at once, as erin
    let (status, made) = create(&admin, json!({"user_id": "erin"})).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = made["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("hzn_"));
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 12);
    assert_eq!(made["admin"], false);
    assert!(made["expires_at"].is_null());
    let erin = server.client(&token);
    let job = erin.submit("ok", json!({"seconds": 0})).await;
    assert_eq!(job["user_id"], "erin");
    // a user token cannot reach the admin routes
    let r = erin
        .request(Method::POST, "/v1/admin/tokens")
        .json(&json!({"user_id": "mallory", "admin": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // listed, never with the token itself
    let tokens = list(&admin).await;
    let listed = tokens.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(listed["user_id"], "erin");
    assert!(listed["revoked_at"].is_null());
    let text = serde_json::to_string(&tokens).unwrap();
    assert!(!text.contains(&token), "a token was listed");
    assert!(
        !tokens.iter().any(|t| t["user_id"] == "mallory"),
        "the refused request made a token"
    );
    // revoked: refused at once by this process
    let r = admin
        .request(Method::DELETE, &format!("/v1/admin/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = erin.request(Method::GET, "/v1/jobs").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // again: nothing active has that id
    let r = admin
        .request(Method::DELETE, &format!("/v1/admin/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // the audit trail has each change, and never the token
    let trail = admin
        .request(Method::GET, "/v1/audit?limit=100")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for action in ["token.create", "token.revoke"] {
        assert!(trail.contains(action), "no {action} in {trail}");
    }
    assert!(!trail.contains(&token), "the token is in the audit trail");
    assert!(server.log().lines().all(|l| !l.contains(&token)));
}

#[tokio::test]
async fn an_expiring_token_stops_at_its_expiry() {
    let server = Server::start().await;
    let admin = server.client(&server.token("root", true));
    let (status, made) = create(
        &admin,
        json!({"user_id": "frank", "admin": true, "expires_in_seconds": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["admin"], true);
    assert!(made["expires_at"].is_string());
    let frank = server.client(made["token"].as_str().unwrap());
    let r = frank
        .request(Method::GET, "/v1/admin/tokens")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "an admin token");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = frank.request(Method::GET, "/v1/jobs").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_token_requests_are_refused_and_make_nothing() {
    let server = Server::start().await;
    let admin = server.client(&server.token("root", true));
    let before = list(&admin).await.len();
    for (body, want) in [
        (json!({"user_id": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"user_id": "a\u{7}b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"user_id": "x".repeat(256)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"user_id": "gina", "expires_in_seconds": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"user_id": "gina", "role": "admin"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"admin": true}), StatusCode::BAD_REQUEST),
    ] {
        let (status, problem) = create(&admin, body.clone()).await;
        assert_eq!(status, want, "{body} → {problem}");
        assert!(problem["detail"].is_string(), "{problem}");
    }
    for id in ["abc", "zzzzzzzzzzzz", &"a".repeat(65)] {
        let r = admin
            .request(Method::DELETE, &format!("/v1/admin/tokens/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{id}");
    }
    assert_eq!(
        list(&admin).await.len(),
        before,
        "a refused request made a token"
    );
}
