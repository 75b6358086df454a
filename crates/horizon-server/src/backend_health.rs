//! Whether each backend (Slurm, Tapis, local) can be reached, as the
//! dispatcher and the watcher last found it: an unreachable one makes
//! `/readyz` `degraded` naming it, and every failure is counted
//! (`horizon_backend_errors_total{backend, op}`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use horizon_core::BackendKind;
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Default)]
pub struct BackendHealth {
    backends: Mutex<BTreeMap<String, Reach>>,
}

/// One backend's reachability, as last seen.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reach {
    /// Since when every call failed (RFC 3339); `None`: it answers.
    pub unreachable_since: Option<String>,
    /// The last failure: what was tried, and the error.
    pub last_error: Option<String>,
    /// Failures since the process started.
    pub failures: u64,
}

impl BackendHealth {
    /// A call to `kind`'s scheduler failed for a passing reason (it could
    /// not be reached, or was busy).
    pub fn failed(&self, kind: BackendKind, op: &'static str, error: &str) {
        metrics::counter!(crate::telemetry::BACKEND_ERRORS, "backend" => kind.as_str(), "op" => op)
            .increment(1);
        let mut backends = self.backends.lock().unwrap_or_else(|e| e.into_inner());
        let reach = backends.entry(kind.as_str().to_owned()).or_default();
        reach.failures += 1;
        reach.last_error = Some(format!("{op}: {error}"));
        reach
            .unreachable_since
            .get_or_insert_with(|| horizon_core::timestamp::format(OffsetDateTime::now_utc()));
    }

    /// A call to `kind`'s scheduler went through.
    pub fn answered(&self, kind: BackendKind) {
        let mut backends = self.backends.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(reach) = backends.get_mut(kind.as_str()) {
            reach.unreachable_since = None;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, Reach> {
        self.backends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_makes_it_unreachable_until_it_answers() {
        let health = BackendHealth::default();
        health.failed(BackendKind::Slurm, "submit", "connection refused");
        health.failed(BackendKind::Slurm, "poll", "connection refused");
        let slurm = &health.snapshot()["slurm"];
        assert!(slurm.unreachable_since.is_some());
        assert_eq!(slurm.failures, 2);
        health.answered(BackendKind::Slurm);
        let slurm = &health.snapshot()["slurm"];
        assert!(slurm.unreachable_since.is_none());
        assert_eq!(slurm.failures, 2);
    }
}
