//! The SDKs against a live server (`scripts/sdk.sh setup` first; test.sh
//! runs it): both clients are generated again from the served document and
//! must equal what sdk/ holds (else: `scripts/sdk.sh generate`), then each
//! SDK's end-to-end script calls every route through its generated types
//! (sdk/typescript/test/e2e.ts with openapi-fetch, sdk/python/tests/e2e.py
//! with openapi-python-client's client and the SDK layer).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Server, ServerOptions, repo_root};
use serde_json::Value;

fn run(command: &mut std::process::Command) -> String {
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?}:\n{text}");
    text
}

/// Every file under `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // caches of Python and of the generator's formatter
                if path
                    .file_name()
                    .is_some_and(|n| n == "__pycache__" || n.to_string_lossy().starts_with('.'))
                {
                    continue;
                }
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sdks_match_the_live_document_and_call_every_route() {
    let root = repo_root();
    assert!(
        root.join("sdk/typescript/dist/test/e2e.js").exists(),
        "the TypeScript SDK is not built: scripts/sdk.sh setup (scripts/test.sh runs it)"
    );
    // the scripts' webhook subscription points at a loopback port
    let server = Server::start_with(ServerOptions {
        extra_toml: "\n[webhooks]\nallow_private_targets = true\n".into(),
        ..ServerOptions::default()
    })
    .await;

    // drift: the document, and both clients generated from it now
    let live: Value = serde_json::from_str(&server.get_text("/openapi.json").await).unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("sdk/openapi.json")).unwrap())
            .unwrap();
    assert!(
        live == committed,
        "sdk/openapi.json is not the served document: run scripts/sdk.sh generate"
    );
    let fresh = tempfile::tempdir().unwrap();
    let document = fresh.path().join("openapi.json");
    std::fs::write(&document, serde_json::to_vec_pretty(&live).unwrap()).unwrap();
    run(std::process::Command::new(root.join("scripts/sdk.sh"))
        .arg("generate-into")
        .arg(&document)
        .arg(fresh.path()));
    assert!(
        std::fs::read(fresh.path().join("schema.ts")).unwrap()
            == std::fs::read(root.join("sdk/typescript/src/schema.ts")).unwrap(),
        "sdk/typescript/src/schema.ts drifted from the document: run scripts/sdk.sh generate"
    );
    let (now, held) = (
        tree(&fresh.path().join("horizon_client")),
        tree(&root.join("sdk/python/horizon_client")),
    );
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&now), names(&held), "run scripts/sdk.sh generate");
    for ((name, a), (_, b)) in now.iter().zip(&held) {
        assert!(
            a == b,
            "sdk/python/horizon_client/{name} drifted: run scripts/sdk.sh generate"
        );
    }

    // every route, from each language
    let token = server.token("alice", false);
    let admin = server.token("root", true);
    let env = [
        ("HORIZON_URL", server.url.as_str()),
        ("HORIZON_TOKEN", token.as_str()),
        ("HORIZON_ADMIN_TOKEN", admin.as_str()),
    ];
    let ts = run(std::process::Command::new("node")
        .arg("dist/test/e2e.js")
        .current_dir(root.join("sdk/typescript"))
        .envs(env));
    assert!(ts.contains("typescript e2e: ok"), "{ts}");
    let py = run(std::process::Command::new("python3")
        .arg("tests/e2e.py")
        .current_dir(root.join("sdk/python"))
        .envs(env));
    assert!(py.contains("python e2e: ok"), "{py}");
    assert!(!server.log().contains("panicked"), "{}", server.log());
}
