//! Sweeps: one agent run over many points (datasets, a parameter grid, or a
//! list of parameter sets) as one request. Each point becomes an ordinary
//! job that carries the sweep's id and its index; the sweep has a record of
//! its own and two events (`sweep.submitted`, `sweep.completed`) keyed by
//! its id. Pure: how a request's points expand, and the sweep's events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::{EventType, SCHEMA_VERSION};
use crate::status::JobStatus;

/// The most points one sweep may have.
pub const MAX_POINTS: usize = 100_000;

/// What a sweep runs over, as asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    /// One dataset, or several (each point runs on each of them).
    pub datasets: Vec<String>,
    /// Parameters every point has.
    pub common: Map<String, Value>,
    /// Lists whose cartesian product is taken, in this order (the API gives
    /// them by name: alphabetical).
    pub grid: Vec<(String, Vec<Value>)>,
    /// Parameter sets given one by one (instead of a grid).
    pub points: Vec<Map<String, Value>>,
}

/// A sweep that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    #[error("a sweep needs a dataset_id or a non-empty datasets list")]
    NoDataset,
    #[error("grid and points are exclusive: give one or the other")]
    GridAndPoints,
    #[error("grid.{0}: an empty list makes an empty sweep")]
    EmptyGridList(String),
    #[error("points: an empty list makes an empty sweep")]
    NoPoints,
    #[error("the sweep would have {0} points; at most {max} are allowed", max = MAX_POINTS)]
    TooLarge(u128),
}

/// One point: its dataset and its parameters (the common ones, then its own).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub dataset_id: String,
    pub parameters: Map<String, Value>,
}

impl Points {
    /// How many points the request makes, checked before any is built.
    pub fn size(&self) -> Result<usize, SweepError> {
        if self.datasets.is_empty() {
            return Err(SweepError::NoDataset);
        }
        if !self.grid.is_empty() && !self.points.is_empty() {
            return Err(SweepError::GridAndPoints);
        }
        let mut size = self.datasets.len() as u128;
        for (name, values) in &self.grid {
            if values.is_empty() {
                return Err(SweepError::EmptyGridList(name.clone()));
            }
            size = size.saturating_mul(values.len() as u128);
        }
        if !self.points.is_empty() {
            size = size.saturating_mul(self.points.len() as u128);
        }
        if size > MAX_POINTS as u128 {
            return Err(SweepError::TooLarge(size));
        }
        usize::try_from(size).map_err(|_| SweepError::TooLarge(size))
    }

    /// Every point, in index order: datasets outermost, then the grid's
    /// lists in the order given (the last one varies fastest), or the
    /// points as listed.
    pub fn expand(&self) -> Result<Vec<Point>, SweepError> {
        let size = self.size()?;
        let mut sets: Vec<Map<String, Value>> = vec![self.common.clone()];
        if !self.points.is_empty() {
            sets = self
                .points
                .iter()
                .map(|own| {
                    let mut set = self.common.clone();
                    set.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
                    set
                })
                .collect();
        }
        for (name, values) in &self.grid {
            let mut next = Vec::with_capacity(sets.len() * values.len());
            for set in &sets {
                for value in values {
                    let mut set = set.clone();
                    set.insert(name.clone(), value.clone());
                    next.push(set);
                }
            }
            sets = next;
        }
        let mut out = Vec::with_capacity(size);
        for dataset in &self.datasets {
            for set in &sets {
                out.push(Point {
                    dataset_id: dataset.clone(),
                    parameters: set.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// A sweep as Horizon knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub id: Uuid,
    pub user_id: String,
    pub agent: String,
    pub size: u32,
    /// At most this many of its jobs run at once.
    pub concurrency_limit: Option<u32>,
    pub correlation_id: String,
    pub created_at: OffsetDateTime,
    /// When its last job ended (`sweep.completed` was written).
    pub completed_at: Option<OffsetDateTime>,
    /// How many of its jobs are in each status.
    pub counts: BTreeMap<JobStatus, u64>,
}

impl Sweep {
    /// Every job ended: the counts by outcome.
    pub fn outcome_counts(&self) -> BTreeMap<JobStatus, u64> {
        [
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .map(|s| (s, self.counts.get(&s).copied().unwrap_or(0)))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSubmittedPayload {
    pub agent: String,
    pub size: u32,
    pub concurrency_limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepCompletedPayload {
    /// How many of its jobs ended each way (COMPLETED, FAILED, CANCELLED).
    pub counts: BTreeMap<JobStatus, u64>,
    #[serde(with = "crate::timestamp::millis")]
    pub completion_timestamp: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SweepPayload {
    Submitted(SweepSubmittedPayload),
    Completed(SweepCompletedPayload),
}

/// The envelope of a sweep's event: like a job's, with `sweep_id` (the
/// Kafka key) in place of `job_id`, and no status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepEnvelope {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub schema_version: u32,
    #[serde(with = "crate::timestamp::millis")]
    pub timestamp: OffsetDateTime,
    pub sweep_id: Uuid,
    pub user_id: String,
    pub correlation_id: String,
    /// 1 for `sweep.submitted`, 2 for `sweep.completed`.
    pub sequence: u64,
    pub payload: SweepPayload,
}

impl SweepEnvelope {
    pub fn submitted(sweep: &Sweep, event_id: Uuid) -> Self {
        SweepEnvelope {
            event_id,
            event_type: EventType::SweepSubmitted,
            schema_version: SCHEMA_VERSION,
            timestamp: sweep.created_at,
            sweep_id: sweep.id,
            user_id: sweep.user_id.clone(),
            correlation_id: sweep.correlation_id.clone(),
            sequence: 1,
            payload: SweepPayload::Submitted(SweepSubmittedPayload {
                agent: sweep.agent.clone(),
                size: sweep.size,
                concurrency_limit: sweep.concurrency_limit,
            }),
        }
    }

    /// `sweep.counts` holds its jobs' final statuses.
    pub fn completed(sweep: &Sweep, event_id: Uuid, at: OffsetDateTime) -> Self {
        SweepEnvelope {
            event_id,
            event_type: EventType::SweepCompleted,
            schema_version: SCHEMA_VERSION,
            timestamp: at,
            sweep_id: sweep.id,
            user_id: sweep.user_id.clone(),
            correlation_id: sweep.correlation_id.clone(),
            sequence: 2,
            payload: SweepPayload::Completed(SweepCompletedPayload {
                counts: sweep.outcome_counts(),
                completion_timestamp: at,
            }),
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_grid_expands_to_its_cartesian_product_in_order() {
        let points = Points {
            datasets: vec!["ds".into()],
            common: map(json!({"mode": "fast"})),
            grid: vec![
                ("a".into(), vec![json!(1), json!(2)]),
                ("b".into(), vec![json!("x"), json!("y"), json!("z")]),
            ],
            points: vec![],
        };
        let all = points.expand().expect("expands");
        assert_eq!(all.len(), 6);
        assert_eq!(
            all[0].parameters,
            map(json!({"mode": "fast", "a": 1, "b": "x"}))
        );
        assert_eq!(
            all[1].parameters,
            map(json!({"mode": "fast", "a": 1, "b": "y"}))
        );
        assert_eq!(
            all[5].parameters,
            map(json!({"mode": "fast", "a": 2, "b": "z"}))
        );
    }

    #[test]
    fn datasets_and_points_multiply_and_own_values_win() {
        let points = Points {
            datasets: vec!["d1".into(), "d2".into()],
            common: map(json!({"k": 0, "c": true})),
            grid: vec![],
            points: vec![map(json!({"k": 1})), map(json!({"k": 2}))],
        };
        let all = points.expand().expect("expands");
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].dataset_id, "d1");
        assert_eq!(all[0].parameters, map(json!({"k": 1, "c": true})));
        assert_eq!(all[3].dataset_id, "d2");
        assert_eq!(all[3].parameters, map(json!({"k": 2, "c": true})));
    }

    #[test]
    fn too_large_and_malformed_requests_are_refused_before_expanding() {
        let big = Points {
            datasets: vec!["d".into()],
            grid: (0..6)
                .map(|i| (format!("p{i}"), (0..10).map(|v| json!(v)).collect()))
                .collect(),
            ..Points::default()
        };
        assert_eq!(big.size(), Err(SweepError::TooLarge(1_000_000)));
        let exact = Points {
            datasets: vec!["d".into()],
            grid: vec![("n".into(), (0..MAX_POINTS).map(|v| json!(v)).collect())],
            ..Points::default()
        };
        assert_eq!(exact.size(), Ok(MAX_POINTS));
        assert_eq!(Points::default().size(), Err(SweepError::NoDataset));
        let empty = Points {
            datasets: vec!["d".into()],
            grid: vec![("a".into(), vec![])],
            ..Points::default()
        };
        assert_eq!(empty.size(), Err(SweepError::EmptyGridList("a".into())));
        let both = Points {
            datasets: vec!["d".into()],
            grid: vec![("a".into(), vec![json!(1)])],
            points: vec![Map::new()],
            ..Points::default()
        };
        assert_eq!(both.size(), Err(SweepError::GridAndPoints));
    }
}
