//! Gateway identity and the audit trail against a real `horizon serve`: JWTs
//! (RS256 and ES256 from a JWKS served over real HTTP, RS256 from a public
//! key file, HS256 from a shared secret) next to Horizon's own tokens; every
//! route under every kind of bad credential; no byte of another user's data
//! in any answer; key rotation; and the audit trail holding each action of
//! the matrix, in order, with the right user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Server, ServerOptions, repo_root};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ISSUER: &str = "https://gateway.test";
const AUDIENCE: &str = "horizon";
const SECRET: &str = "a-shared-secret-of-at-least-32-bytes!!";

fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("crates/horizon/tests/fixtures/jwt")
        .join(name)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWKS served over HTTP whose keys the test can rotate.
struct Jwks {
    url: String,
    current: Arc<Mutex<String>>,
    fetches: Arc<Mutex<u32>>,
}

async fn serve_jwks() -> Jwks {
    let current = Arc::new(Mutex::new(
        std::fs::read_to_string(fixture("jwks-1.json")).unwrap(),
    ));
    let fetches = Arc::new(Mutex::new(0));
    let (body, count) = (current.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.lock().unwrap().clone();
            *count.lock().unwrap() += 1;
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Jwks {
        url: format!("http://{addr}/.well-known/jwks.json"),
        current,
        fetches,
    }
}

/// Claims of a valid token for `user`, to spoil one at a time.
fn claims(user: &str) -> Value {
    json!({"sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600})
}

fn sign(alg: Algorithm, kid: Option<&str>, key_file: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let pem = std::fs::read(fixture(key_file)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => unreachable!(),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("rsa-1"), "rsa-1.key.pem", claims)
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn start(jwks: &Jwks) -> Server {
    Server::start_with(ServerOptions {
        slots: 0,
        extra_toml: format!(
            r#"
[auth.jwt]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
jwks_url = "{url}"
jwks_refetch_min_secs = 0
public_key_file = "{public}"
secret_env = "HORIZON_TEST_JWT_SECRET"
admin_claim = "roles"
leeway_secs = 5

# every refusal with a row of its own: this test reads the whole trail
[api]
denied_audit_per_minute = 0
"#,
            url = jwks.url,
            public = fixture("rsa-1.pub.pem").display(),
        ),
        env: vec![("HORIZON_TEST_JWT_SECRET".into(), SECRET.into())],
        ..ServerOptions::default()
    })
    .await
}

/// One request; status and body.
async fn call(
    server: &Server,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut request = server
        .http
        .request(method, format!("{}{path}", server.url))
        .header("x-correlation-id", "matrix");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn every_route_under_every_credential_and_the_audit_trail_of_it_all() {
    let jwks = serve_jwks().await;
    let server = start(&jwks).await;
    let admin_token = server.token("root", true);
    let alice = rs256(&claims("alice"));
    let bob = sign(
        Algorithm::ES256,
        Some("ec-1"),
        "ec-1.key.pem",
        &claims("bob"),
    );
    let mut admin_claims = claims("carol");
    admin_claims["roles"] = json!(["staff", "horizon-admin"]);
    let admin_jwt = rs256(&admin_claims);

    // alice's job, with a dataset id no one else's answer may contain
    let secret_dataset = "alice-private-dataset-7f3a";
    let (status, body) = call(
        &server,
        Some(&alice),
        Method::POST,
        "/v1/jobs",
        Some(json!({"agent": "ok", "dataset_id": secret_dataset, "parameters": {"x": 1}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    let job_id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["user_id"], "alice");
    // the expected audit trail, built as the requests go
    let mut expected: Vec<(Option<String>, String, u16)> =
        vec![(Some("alice".into()), "job.submit".into(), 201)];

    let mut spoiled = Vec::new();
    let mut c = claims("alice");
    c["exp"] = json!(now() - 120);
    spoiled.push(("expired", rs256(&c)));
    let mut c = claims("alice");
    c["nbf"] = json!(now() + 600);
    spoiled.push(("not yet valid", rs256(&c)));
    spoiled.push((
        "wrong signature",
        sign(
            Algorithm::RS256,
            Some("rsa-1"),
            "attacker.key.pem",
            &claims("alice"),
        ),
    ));
    spoiled.push((
        "no kid, wrong key",
        sign(Algorithm::RS256, None, "attacker.key.pem", &claims("alice")),
    ));
    let mut c = claims("alice");
    c["iss"] = json!("https://evil.test");
    spoiled.push(("wrong issuer", rs256(&c)));
    let mut c = claims("alice");
    c["aud"] = json!("someone-else");
    spoiled.push(("wrong audience", rs256(&c)));
    spoiled.push((
        "unknown key id",
        sign(
            Algorithm::RS256,
            Some("rsa-9"),
            "attacker.key.pem",
            &claims("alice"),
        ),
    ));
    let mut c = claims("alice");
    c.as_object_mut().unwrap().remove("exp");
    spoiled.push(("no exp", rs256(&c)));
    let mut c = claims("alice");
    c["sub"] = json!("");
    spoiled.push(("empty user", rs256(&c)));
    spoiled.push(("malformed", "abc.def.ghi".to_owned()));
    spoiled.push(("unknown opaque token", "hzn_0000".to_owned()));
    // alg=none, whatever the signature
    let none = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(claims("alice").to_string().as_bytes())
    );
    spoiled.push(("alg none", none));
    // HS256 signed with the RSA public key as the secret (key confusion)
    let public = std::fs::read(fixture("rsa-1.pub.pem")).unwrap();
    spoiled.push((
        "HS256 with the public key",
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims("alice"),
            &EncodingKey::from_secret(&public),
        )
        .unwrap(),
    ));

    let routes: Vec<(Method, String, Option<Value>, bool)> = vec![
        (
            Method::POST,
            "/v1/jobs".into(),
            Some(json!({"agent": "ok", "dataset_id": "d", "parameters": {}})),
            false,
        ),
        (Method::GET, "/v1/jobs".into(), None, false),
        (Method::GET, format!("/v1/jobs/{job_id}"), None, false),
        (
            Method::GET,
            format!("/v1/jobs/{job_id}/events"),
            None,
            false,
        ),
        (Method::GET, format!("/v1/jobs/{job_id}/logs"), None, false),
        (
            Method::POST,
            format!("/v1/jobs/{job_id}/cancel"),
            Some(json!({"reason": "r"})),
            false,
        ),
        (Method::GET, "/v1/agents".into(), None, false),
        (Method::GET, "/v1/admin/parked-events".into(), None, true),
        (
            Method::POST,
            "/v1/admin/parked-events/retry".into(),
            None,
            true,
        ),
        (Method::GET, "/v1/audit".into(), None, true),
    ];
    let action = |method: &Method, path: &str| -> String {
        let route = path.replace(&job_id, "{id}");
        match (method.as_str(), route.as_str()) {
            ("POST", "/v1/jobs") => "job.submit",
            ("GET", "/v1/jobs") => "job.list",
            ("GET", "/v1/jobs/{id}") => "job.read",
            ("GET", "/v1/jobs/{id}/events") => "job.events",
            ("GET", "/v1/jobs/{id}/logs") => "job.logs",
            ("POST", "/v1/jobs/{id}/cancel") => "job.cancel",
            ("GET", "/v1/agents") => "agent.list",
            ("GET", "/v1/admin/parked-events") => "parked.list",
            ("POST", "/v1/admin/parked-events/retry") => "parked.retry",
            ("GET", "/v1/audit") => "audit.read",
            other => panic!("no action for {other:?}"),
        }
        .to_owned()
    };

    for (method, path, body, _) in &routes {
        // no token, and a non-bearer scheme
        for token in [None, Some("")] {
            let (status, text) = if token.is_some() {
                let r = server
                    .http
                    .request(method.clone(), format!("{}{path}", server.url))
                    .header("authorization", "Basic YWxpY2U6cHc=")
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.text().await.unwrap())
            } else {
                call(&server, None, method.clone(), path, body.clone()).await
            };
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {text}");
            assert!(!text.contains(secret_dataset));
            expected.push((None, action(method, path), 401));
        }
        for (case, token) in &spoiled {
            let (status, text) =
                call(&server, Some(token), method.clone(), path, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{case}: {method} {path}: {text}"
            );
            assert!(!text.contains(secret_dataset), "{case}: {text}");
            assert!(!text.contains(&job_id), "{case}: {text}");
            expected.push((None, action(method, path), 401));
        }
    }

    // another user: alice's job does not exist for bob; admin routes are 403
    for (method, path, body, admin_only) in &routes {
        let (status, text) = call(&server, Some(&bob), method.clone(), path, body.clone()).await;
        assert!(!text.contains(secret_dataset), "{method} {path}: {text}");
        let job_route = path.contains(&job_id);
        let wanted = if *admin_only {
            StatusCode::FORBIDDEN
        } else if job_route {
            StatusCode::NOT_FOUND
        } else if *method == Method::POST {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        assert_eq!(status, wanted, "bob: {method} {path}: {text}");
        if !job_route {
            assert!(!text.contains(&job_id), "bob: {method} {path}: {text}");
        }
        if *admin_only || job_route || *method == Method::POST {
            expected.push((Some("bob".into()), action(method, path), status.as_u16()));
        }
    }

    // admins (Horizon's token, and a gateway JWT with the admin role) see
    // everything; the cancel comes last, by the JWT admin
    for (who, token) in [
        ("root", admin_token.as_str()),
        ("carol", admin_jwt.as_str()),
    ] {
        for (method, path, body, _) in &routes {
            if path.ends_with("/cancel") && who == "root" {
                continue;
            }
            let (status, text) =
                call(&server, Some(token), method.clone(), path, body.clone()).await;
            let wanted = if path.ends_with("/logs") {
                // a job's output is its owner's alone
                StatusCode::FORBIDDEN
            } else if *method == Method::POST && path == "/v1/jobs" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            assert_eq!(status, wanted, "{who}: {method} {path}: {text}");
            if path == "/v1/jobs" && *method == Method::GET {
                assert!(text.contains(&job_id), "an admin lists every user's jobs");
            }
            // reads of other users' data (alice's job, its events, every
            // user's list) are on the trail too
            let others_read = *method == Method::GET
                && status == StatusCode::OK
                && (path.contains(&job_id) || path == "/v1/jobs");
            if *method == Method::POST || status == StatusCode::FORBIDDEN || others_read {
                expected.push((Some(who.into()), action(method, path), status.as_u16()));
            }
        }
    }
    // alice sees her job cancelled by the admin
    let (_, text) = call(
        &server,
        Some(&alice),
        Method::GET,
        &format!("/v1/jobs/{job_id}"),
        None,
    )
    .await;
    assert!(text.contains("CANCELLED"), "{text}");

    // HS256 from the shared secret, and RS256 without kid (public key file)
    let (status, _) = call(
        &server,
        Some(&hs256(&claims("dave"))),
        Method::GET,
        "/v1/agents",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let no_kid = sign(Algorithm::RS256, None, "rsa-1.key.pem", &claims("erin"));
    let (status, _) = call(&server, Some(&no_kid), Method::GET, "/v1/agents", None).await;
    assert_eq!(status, StatusCode::OK);

    // key rotation: the identity provider now signs with rsa-2, which the
    // server learns from its JWKS URL when a token first names it
    let fetches_before = *jwks.fetches.lock().unwrap();
    *jwks.current.lock().unwrap() = std::fs::read_to_string(fixture("jwks-2.json")).unwrap();
    let rotated = sign(
        Algorithm::RS256,
        Some("rsa-2"),
        "rsa-2.key.pem",
        &claims("alice"),
    );
    let (status, text) = call(&server, Some(&rotated), Method::GET, "/v1/agents", None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(*jwks.fetches.lock().unwrap() > fetches_before);
    // and rsa-1, gone from the JWKS, is refused by kid
    let (status, _) = call(&server, Some(&alice), Method::GET, "/v1/agents", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    expected.push((None, "agent.list".into(), 401));

    // the audit trail: exactly the writes and refusals above, in order
    let mut records = Vec::new();
    let mut after = 0i64;
    loop {
        let (status, text) = call(
            &server,
            Some(&admin_token),
            Method::GET,
            &format!("/v1/audit?limit=1000&after={after}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        records.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("schemas/audit.recorded.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for record in &records {
        assert!(validator.is_valid(record), "{record}");
    }
    let seen: Vec<(Option<String>, String, u16)> = records
        .iter()
        // `horizon token create` for root is on the trail too
        .filter(|r| r["auth_method"] != "cli")
        .map(|r| {
            (
                r["actor"].as_str().map(str::to_owned),
                r["action"].as_str().unwrap().to_owned(),
                r["status"].as_u64().unwrap() as u16,
            )
        })
        .collect();
    assert_eq!(seen.len(), expected.len());
    for (i, (seen, expected)) in seen.iter().zip(&expected).enumerate() {
        assert_eq!(seen, expected, "audit record {i}");
    }
    let cli: Vec<&Value> = records
        .iter()
        .filter(|r| r["auth_method"] == "cli")
        .collect();
    assert_eq!(cli.len(), 1);
    assert_eq!(cli[0]["action"], "token.create");
    // who, from where, under which correlation id, and why refused
    let submit = &records[1];
    assert_eq!(submit["target"], job_id.as_str());
    assert_eq!(submit["auth_method"], "jwt");
    assert!(
        submit["client_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(submit["correlation_id"], "matrix");
    let expired = records
        .iter()
        .find(|r| r["detail"] == "JWT has expired")
        .expect("the refusal says why");
    assert_eq!(expired["outcome"], "denied");
    let cancel = records
        .iter()
        .find(|r| r["action"] == "job.cancel" && r["status"] == 200)
        .unwrap();
    assert_eq!(cancel["actor"], "carol");
    assert_eq!(cancel["admin"], true);
    assert_eq!(cancel["target"], job_id.as_str());
    // only admins read it; filtered by actor
    let (status, text) = call(
        &server,
        Some(&admin_token),
        Method::GET,
        "/v1/audit?actor=bob",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page: Value = serde_json::from_str(&text).unwrap();
    let bobs = page["records"].as_array().unwrap();
    assert!(!bobs.is_empty());
    assert!(bobs.iter().all(|r| r["actor"] == "bob"));
    // the CLI shows the same trail
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_horizon"))
        .args(["audit", "--actor", "bob", "--last", "3", "--json"])
        .env("HORIZON_URL", &server.url)
        .env("HORIZON_TOKEN", &admin_token)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli = cli.as_array().unwrap();
    assert_eq!(cli.len(), 3);
    assert!(cli.iter().all(|r| r["actor"] == "bob"));
    assert_eq!(
        cli[2],
        *bobs.last().unwrap(),
        "the last three, oldest first"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_horizon"))
        .args(["audit"])
        .env("HORIZON_URL", &server.url)
        .env("HORIZON_TOKEN", server.token("dave", false))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    // no secret anywhere: not in /metrics, /openapi.json, /readyz or the log
    for path in ["/metrics", "/openapi.json", "/readyz"] {
        let text = server.get_text(path).await;
        for secret in [SECRET, admin_token.as_str(), alice.as_str()] {
            assert!(!text.contains(secret), "{path} shows a secret");
        }
    }
    let log = server.log();
    assert!(!log.contains(SECRET));
    assert!(!log.contains(&admin_token));
    assert!(!log.contains(&alice));
}

fn base64url(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn a_bad_jwt_configuration_stops_the_server_with_a_clear_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_horizon"))
        .args(["serve", "--config"])
        .arg({
            let dir = tempfile::tempdir().unwrap().keep();
            let path = dir.join("h.toml");
            std::fs::write(
                &path,
                format!(
                    "bind = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n[auth.jwt]\nissuer = \"i\"\naudience = \"a\"\njwks_url = \"http://idp.example.org/jwks\"\n",
                    common::free_port(),
                    dir.join("data").display()
                ),
            )
            .unwrap();
            path
        })
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must be https://"), "{stderr}");
}
