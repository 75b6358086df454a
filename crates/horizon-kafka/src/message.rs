//! One outbox event as one Kafka record: key, value and headers.

use horizon_store::StoredEvent;
use rdkafka::message::{Header, OwnedHeaders};
use serde::Deserialize;

/// The header values of one event (all strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub correlation_id: String,
    pub timestamp: String,
    pub event_id: String,
    pub event_type: String,
    pub job_id: String,
    /// The job's W3C `traceparent` (CloudEvents distributed tracing).
    pub traceparent: Option<String>,
}

#[derive(Deserialize)]
struct EnvelopeFields<'a> {
    #[serde(borrow)]
    correlation_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    timestamp: std::borrow::Cow<'a, str>,
}

impl Headers {
    pub fn of(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        let fields: EnvelopeFields<'_> = serde_json::from_str(&event.envelope)?;
        Ok(Headers {
            correlation_id: fields.correlation_id.into_owned(),
            timestamp: fields.timestamp.into_owned(),
            event_id: event.event_id.to_string(),
            event_type: event.event_type.as_str().to_owned(),
            job_id: event.job_id.to_string(),
            traceparent: event.traceparent.clone(),
        })
    }
}

/// The standard and CloudEvents 1.0 (Kafka binary mode) headers; with a
/// trace, the distributed-tracing extension's `ce_traceparent` and the W3C
/// `traceparent` itself.
pub fn record_headers(h: &Headers, source: &str) -> OwnedHeaders {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("content-type", "application/json"),
        ("correlation-id", &h.correlation_id),
        ("timestamp", &h.timestamp),
        ("ce_specversion", "1.0"),
        ("ce_id", &h.event_id),
        ("ce_type", &h.event_type),
        ("ce_source", source),
        ("ce_time", &h.timestamp),
        ("ce_subject", &h.job_id),
        ("ce_partitionkey", &h.job_id),
    ];
    if let Some(trace) = &h.traceparent {
        pairs.push(("ce_traceparent", trace));
        pairs.push(("traceparent", trace));
    }
    pairs.iter().fold(
        OwnedHeaders::new_with_capacity(pairs.len()),
        |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(*value),
            })
        },
    )
}
