//! The OpenAPI document as served, built from the handlers' annotations
//! (`ApiDoc`) and finished here, at the JSON level:
//!
//! - the event envelopes' own JSON Schemas (`schemas/`, the ones consumers
//!   validate Kafka records with) become components, one per event type,
//!   and `JobEvent` / `Event` the unions of them by `event_type`, so an
//!   event list or a parked event is typed, not a bare object;
//! - optional request bodies are plain `$ref`s with `required: false`
//!   (generators choke on `oneOf: [$ref, null]`);
//! - response headers are declared.
//!
//! It describes the API, never this server's configuration (agents and
//! their limits are `GET /v1/agents`), so a client generated from it keeps
//! working when agents change.

use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};

use super::ApiDoc;

/// Each event type, its component's name, and its schema file.
const EVENTS: [(&str, &str, &str); 12] = [
    (
        "job.submitted",
        "JobSubmittedEvent",
        include_str!("../../../../schemas/job.submitted.json"),
    ),
    (
        "job.queued",
        "JobQueuedEvent",
        include_str!("../../../../schemas/job.queued.json"),
    ),
    (
        "job.running",
        "JobRunningEvent",
        include_str!("../../../../schemas/job.running.json"),
    ),
    (
        "job.completed",
        "JobCompletedEvent",
        include_str!("../../../../schemas/job.completed.json"),
    ),
    (
        "job.failed",
        "JobFailedEvent",
        include_str!("../../../../schemas/job.failed.json"),
    ),
    (
        "job.cancelled",
        "JobCancelledEvent",
        include_str!("../../../../schemas/job.cancelled.json"),
    ),
    (
        "job.status_changed",
        "JobStatusChangedEvent",
        include_str!("../../../../schemas/job.status_changed.json"),
    ),
    (
        "job.retry_scheduled",
        "JobRetryScheduledEvent",
        include_str!("../../../../schemas/job.retry_scheduled.json"),
    ),
    (
        "job.metrics_recorded",
        "JobMetricsRecordedEvent",
        include_str!("../../../../schemas/job.metrics_recorded.json"),
    ),
    (
        "sweep.submitted",
        "SweepSubmittedEvent",
        include_str!("../../../../schemas/sweep.submitted.json"),
    ),
    (
        "sweep.completed",
        "SweepCompletedEvent",
        include_str!("../../../../schemas/sweep.completed.json"),
    ),
    (
        "audit.recorded",
        "AuditRecord",
        include_str!("../../../../schemas/audit.recorded.json"),
    ),
];

/// `events` of an event list: job events.
pub fn job_events() -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .items(RefOr::Ref(Ref::from_schema_name("JobEvent")))
            .build(),
    )
}

/// Any event: a job's, a sweep's, or an audit record (a parked event is
/// any of them).
pub fn any_event() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name("Event"))
}

/// Audit records, as `GET /v1/audit` lists them.
pub fn audit_records() -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .items(RefOr::Ref(Ref::from_schema_name("AuditRecord")))
            .build(),
    )
}

/// The document as served.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    add_event_schemas(&mut doc);
    plain_optional_bodies(&mut doc);
    declare_headers(&mut doc);
    doc
}

fn union(names: &[(&str, &str)]) -> Value {
    let mapping: serde_json::Map<String, Value> = names
        .iter()
        .map(|(kind, name)| {
            (
                (*kind).to_owned(),
                json!(format!("#/components/schemas/{name}")),
            )
        })
        .collect();
    json!({
        "oneOf": names
            .iter()
            .map(|(_, name)| json!({"$ref": format!("#/components/schemas/{name}")}))
            .collect::<Vec<_>>(),
        "discriminator": {"propertyName": "event_type", "mapping": mapping},
    })
}

fn add_event_schemas(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (_, name, text) in EVENTS {
        // the files are checked by the tests; one that does not parse is
        // left out rather than failing the document
        let Ok(mut schema) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        if let Some(object) = schema.as_object_mut() {
            object.remove("$schema");
            object.remove("$id");
        }
        schemas.insert(name.to_owned(), schema);
    }
    let jobs: Vec<(&str, &str)> = EVENTS
        .iter()
        .filter(|(kind, _, _)| kind.starts_with("job."))
        .map(|(kind, name, _)| (*kind, *name))
        .collect();
    let all: Vec<(&str, &str)> = EVENTS.iter().map(|(k, n, _)| (*k, *n)).collect();
    let mut job_event = union(&jobs);
    job_event["description"] =
        json!("A job's event: one of the envelopes of schemas/, by event_type.");
    let mut event = union(&all);
    event["description"] = json!("Any event: a job's, a sweep's, or an audit record.");
    schemas.insert("JobEvent".into(), job_event);
    schemas.insert("Event".into(), event);
}

/// `oneOf: [{$ref}, {type: null}]` bodies (an `Option<T>` body) become the
/// `$ref` alone, with the body not required.
fn plain_optional_bodies(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let Some(content) =
                operation.pointer_mut("/requestBody/content/application~1json/schema")
            else {
                continue;
            };
            let alone = content
                .get("oneOf")
                .and_then(Value::as_array)
                .and_then(|options| {
                    let refs: Vec<&Value> =
                        options.iter().filter(|o| o.get("$ref").is_some()).collect();
                    let nulls = options
                        .iter()
                        .filter(|o| o.get("type") == Some(&json!("null")))
                        .count();
                    (refs.len() == 1 && nulls + 1 == options.len()).then(|| refs[0].clone())
                });
            if let Some(reference) = alone {
                *content = reference;
                operation["requestBody"]["required"] = json!(false);
            }
        }
    }
}

/// The headers responses carry, declared where they are sent.
fn declare_headers(doc: &mut Value) {
    let header =
        |description: &str, schema: Value| json!({"description": description, "schema": schema});
    let correlation = header(
        "the job's correlation id (carried into every event of the job)",
        json!({"type": "string"}),
    );
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (code, response) in responses.iter_mut() {
                let mut headers = serde_json::Map::new();
                if code == "429" || code == "503" {
                    headers.insert(
                        "Retry-After".into(),
                        header(
                            "seconds to wait before trying again",
                            json!({"type": "integer", "minimum": 0}),
                        ),
                    );
                }
                if code == "401" {
                    headers.insert(
                        "WWW-Authenticate".into(),
                        header("`Bearer`", json!({"type": "string"})),
                    );
                }
                match (method.as_str(), path.as_str(), code.as_str()) {
                    ("post", "/v1/jobs", "201") => {
                        headers.insert(
                            "Location".into(),
                            header("the new job: `/v1/jobs/{id}`", json!({"type": "string"})),
                        );
                        headers.insert("X-Correlation-ID".into(), correlation.clone());
                        headers.insert(
                            "Idempotent-Replayed".into(),
                            header(
                                "`true` when the Idempotency-Key named a job made before (this is that job)",
                                json!({"type": "string", "enum": ["true"]}),
                            ),
                        );
                    }
                    ("get", "/v1/jobs/{id}/logs", "200") => {
                        headers.insert(
                            "X-Log-Size".into(),
                            header(
                                "the log's whole size in bytes (the next `offset` to follow it)",
                                json!({"type": "integer", "minimum": 0}),
                            ),
                        );
                        headers.insert(
                            "X-Log-Start".into(),
                            header(
                                "the byte of the log this answer starts at",
                                json!({"type": "integer", "minimum": 0}),
                            ),
                        );
                    }
                    _ => {}
                }
                if !headers.is_empty()
                    && let Some(response) = response.as_object_mut()
                {
                    let existing = response.entry("headers").or_insert_with(|| json!({}));
                    if let Some(existing) = existing.as_object_mut() {
                        for (name, value) in headers {
                            existing.entry(name).or_insert(value);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_schema_is_a_component_and_in_the_unions() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        for (kind, name, _) in EVENTS {
            let schema = &schemas[name];
            assert_eq!(schema["type"], "object", "{name}");
            assert!(schema.get("$id").is_none(), "{name}");
            assert_eq!(schema["properties"]["event_type"]["const"], kind, "{name}");
            assert_eq!(
                schemas["Event"]["discriminator"]["mapping"][kind],
                format!("#/components/schemas/{name}")
            );
        }
        assert_eq!(
            schemas["JobEvent"]["oneOf"].as_array().map(Vec::len),
            Some(9)
        );
    }

    #[test]
    fn optional_bodies_are_plain_references_not_required() {
        let doc = document();
        let body = &doc["paths"]["/v1/jobs/{id}/cancel"]["post"]["requestBody"];
        assert_eq!(body["required"], false, "{body}");
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CancelJobRequest"
        );
    }

    #[test]
    fn a_submission_s_answer_declares_its_headers() {
        let doc = document();
        let headers = &doc["paths"]["/v1/jobs"]["post"]["responses"]["201"]["headers"];
        for name in ["Location", "X-Correlation-ID", "Idempotent-Replayed"] {
            assert!(headers[name].is_object(), "{name}: {headers}");
        }
    }
}
