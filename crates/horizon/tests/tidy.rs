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
    use horizon_server::telemetry::*;
    for name in [
        OUTBOX_DEPTH,
        PUBLISHED,
        PUBLISH_FAILURES,
        PUBLISH_RETRIES,
        PUBLISH_LATENCY,
    ] {
        assert!(readme.contains(name), "README.md does not mention {name}");
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
