//! What a job asks of the machine: nodes, cores, memory, GPUs, wall time.

use serde::{Deserialize, Serialize};

/// A job's resources. A field left out means "the backend's own default".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Nodes (Slurm `--nodes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// Cores on each node (Slurm `--cpus-per-task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores_per_node: Option<u32>,
    /// Memory per node in MiB (Slurm `--mem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// GPUs (Slurm `--gpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
    /// The longest the job may run (Slurm `--time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walltime_minutes: Option<u32>,
}

/// Why a request's resources are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("resources.{field} = {requested} is over this agent's maximum of {maximum}")]
    OverMaximum {
        field: &'static str,
        requested: u64,
        maximum: u64,
    },
    #[error("resources.{field} must be at least {minimum}")]
    TooSmall { field: &'static str, minimum: u64 },
}

impl Resources {
    /// Each field with its name, as u64, in a fixed order.
    pub fn fields(&self) -> [(&'static str, Option<u64>); 5] {
        [
            ("nodes", self.nodes.map(u64::from)),
            ("cores_per_node", self.cores_per_node.map(u64::from)),
            ("memory_mb", self.memory_mb),
            ("gpus", self.gpus.map(u64::from)),
            ("walltime_minutes", self.walltime_minutes.map(u64::from)),
        ]
    }

    /// The request's fields, with `defaults` for the ones it left out.
    pub fn or(self, defaults: Resources) -> Resources {
        Resources {
            nodes: self.nodes.or(defaults.nodes),
            cores_per_node: self.cores_per_node.or(defaults.cores_per_node),
            memory_mb: self.memory_mb.or(defaults.memory_mb),
            gpus: self.gpus.or(defaults.gpus),
            walltime_minutes: self.walltime_minutes.or(defaults.walltime_minutes),
        }
    }

    /// Refuse a field under its minimum (1; GPUs may be 0) or over `maxima`.
    pub fn check(&self, maxima: &Resources) -> Result<(), ResourceError> {
        for ((field, value), (_, maximum)) in self.fields().into_iter().zip(maxima.fields()) {
            let Some(value) = value else { continue };
            let minimum = if field == "gpus" { 0 } else { 1 };
            if value < minimum {
                return Err(ResourceError::TooSmall { field, minimum });
            }
            if let Some(maximum) = maximum
                && value > maximum
            {
                return Err(ResourceError::OverMaximum {
                    field,
                    requested: value,
                    maximum,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_fill_what_the_request_left_out() {
        let request = Resources {
            memory_mb: Some(512),
            ..Resources::default()
        };
        let defaults = Resources {
            memory_mb: Some(100),
            walltime_minutes: Some(10),
            ..Resources::default()
        };
        let merged = request.or(defaults);
        assert_eq!(merged.memory_mb, Some(512));
        assert_eq!(merged.walltime_minutes, Some(10));
        assert_eq!(merged.nodes, None);
    }

    #[test]
    fn over_a_maximum_names_the_limit() {
        let maxima = Resources {
            walltime_minutes: Some(60),
            ..Resources::default()
        };
        let request = Resources {
            walltime_minutes: Some(61),
            ..Resources::default()
        };
        let err = request.check(&maxima).unwrap_err();
        assert_eq!(
            err.to_string(),
            "resources.walltime_minutes = 61 is over this agent's maximum of 60"
        );
        let zero = Resources {
            nodes: Some(0),
            gpus: Some(0),
            ..Resources::default()
        };
        assert_eq!(
            zero.check(&Resources::default()).unwrap_err(),
            ResourceError::TooSmall {
                field: "nodes",
                minimum: 1
            }
        );
        assert!(
            Resources {
                gpus: Some(0),
                ..Resources::default()
            }
            .check(&maxima)
            .is_ok()
        );
    }
}
