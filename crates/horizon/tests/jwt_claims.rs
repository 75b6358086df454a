//! JWTs shaped as the identity providers gateways use issue them: Keycloak
//! puts roles at `realm_access.roles` (and per client at
//! `resource_access.<client>.roles`). A claim path reaches them; a token
//! without the path makes a normal user, and the server says so once.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Server, ServerOptions};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes!!";

fn keycloak_token(user: &str, realm_roles: Option<&[&str]>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // the shape of a Keycloak access token
    let mut claims = json!({
        "exp": now + 300, "iat": now, "jti": "x",
        "iss": "https://sso.example.org/realms/gateway", "aud": "horizon",
        "sub": "f1b2c3d4-0000-4000-8000-000000000000", "typ": "Bearer",
        "azp": "gateway-portal", "preferred_username": user,
        "resource_access": {"account": {"roles": ["manage-account"]}},
        "scope": "openid profile email",
    });
    if let Some(roles) = realm_roles {
        claims["realm_access"] = json!({"roles": roles});
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn status_of(server: &Server, token: &str, path: &str) -> (StatusCode, Value) {
    let r = server
        .http
        .request(Method::GET, format!("{}{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_keycloak_realm_role_makes_an_admin_and_a_missing_path_is_said_once() {
    let server = Server::start_with(ServerOptions {
        slots: 0,
        extra_toml: r#"
[auth.jwt]
issuer = "https://sso.example.org/realms/gateway"
audience = "horizon"
secret_env = "HORIZON_TEST_JWT_SECRET"
user_claim = "preferred_username"
admin_claim = "realm_access.roles"
admin_value = "horizon-admin"
"#
        .to_owned(),
        env: vec![("HORIZON_TEST_JWT_SECRET".into(), SECRET.into())],
        ..ServerOptions::default()
    })
    .await;
    let admin = keycloak_token("carol", Some(&["offline_access", "horizon-admin"]));
    let member = keycloak_token("dave", Some(&["offline_access"]));
    let bare = keycloak_token("erin", None);

    // an admin-only route
    let (status, body) = status_of(&server, &admin, "/v1/audit").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!server.log().contains("is not in the JWT"));
    let (status, _) = status_of(&server, &member, "/v1/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // the claim is there, without the role: nothing to say
    assert!(!server.log().contains("is not in the JWT"));
    for _ in 0..3 {
        let (status, _) = status_of(&server, &bare, "/v1/audit").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = status_of(&server, &bare, "/v1/jobs").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let log = server.log();
    assert_eq!(
        log.matches("admin_claim \"realm_access.roles\" is not in the JWT")
            .count(),
        1,
        "{log}"
    );
    assert!(log.contains("of erin"), "{log}");
    // the user is the user_claim's, not `sub`
    let (_, page) = status_of(&server, &admin, "/v1/audit?actor=erin").await;
    assert!(
        page.to_string().contains("erin"),
        "the audit trail names erin: {page}"
    );
}
