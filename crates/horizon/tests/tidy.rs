//! Tidy checks that keep the shipped files honest with the code.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use horizon_core::EventType;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn every_event_type_has_exactly_its_schema() {
    let dir = repo().join("schemas");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = EventType::ALL.iter().map(|t| format!("{t}.json")).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "schemas/ must hold one file per event type"
    );
    for event_type in EventType::ALL {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{event_type}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            schema["properties"]["event_type"]["const"],
            event_type.as_str()
        );
        assert_eq!(
            schema["properties"]["schema_version"]["const"],
            horizon_core::SCHEMA_VERSION
        );
        jsonschema::validator_for(&schema).unwrap();
    }
}

#[test]
fn the_readme_names_every_metric_the_server_exports() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let described: Vec<&str> = horizon_server::telemetry::ALL
        .iter()
        .map(|(name, _, _)| *name)
        .collect();
    for name in &described {
        assert!(readme.contains(name), "README.md does not mention {name}");
    }
    // every metric name written anywhere in the code is described (and so
    // in the README): a string literal "horizon_…" in a crate's sources
    let mut found = Vec::new();
    for krate in std::fs::read_dir(repo().join("crates")).unwrap() {
        collect_metric_literals(&krate.unwrap().path().join("src"), &mut found);
    }
    assert!(found.len() >= described.len(), "{found:?}");
    for name in found {
        assert!(
            described.contains(&name.as_str()),
            "metric {name} is used in the code but not in telemetry::ALL"
        );
    }
}

fn collect_metric_literals(dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_metric_literals(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("\"horizon_").skip(1) {
                let Some(end) = piece.find('"') else { continue };
                let name = &piece[..end];
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    found.push(format!("horizon_{name}"));
                }
            }
        }
    }
}

#[test]
fn the_embedded_defaults_parse_and_name_the_demo_agent() {
    let settings =
        horizon_server::config::Settings::from_toml(horizon_server::config::EMBEDDED_DEFAULTS)
            .unwrap();
    assert!(settings.agents.contains_key("AlphaCal"));
    assert!(
        !settings.kafka.enabled(),
        "the embedded defaults need no Kafka"
    );
    let bench = std::fs::read_to_string(repo().join("examples/bench.toml")).unwrap();
    horizon_server::config::Settings::from_toml(&bench).unwrap();
}
