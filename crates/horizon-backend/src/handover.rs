//! What a backend that hands jobs to a remote scheduler (Slurm, Tapis) keeps
//! on the server, in its state directory:
//!
//! ```text
//! <state_dir>/<job id>.submitted   written durably before the job is handed
//!                                  over (then holds the scheduler's id): a job
//!                                  with this file may be there already, so a
//!                                  second submit looks it up first
//! <state_dir>/<job id>.noted       the side state last reported (held,
//!                                  blocked, …), so each change is noted once
//! ```
//!
//! Noted states are also kept in memory (loaded once at start), so a poll
//! reads no files; cancels the scheduler refused are kept for a retry.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use tracing::warn;
use uuid::Uuid;

use crate::local::files::{write_atomic, write_durable};

const SUBMITTED: &str = "submitted";
const NOTED: &str = "noted";

#[derive(Debug)]
pub(crate) struct Handover {
    dir: PathBuf,
    /// When this was opened: markers older than this were not written by
    /// this process (see `strays`).
    born: SystemTime,
    noted: Mutex<HashMap<Uuid, String>>,
    /// Scheduler ids whose cancel failed: tried again every poll.
    cancels: Mutex<HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handover {
    pub(crate) fn open(dir: PathBuf) -> io::Result<Handover> {
        std::fs::create_dir_all(&dir)?;
        let mut noted = HashMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name
                .strip_suffix(".noted")
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                noted.insert(id, text.trim().to_owned());
            }
        }
        Ok(Handover {
            dir,
            born: SystemTime::now(),
            noted: Mutex::new(noted),
            cancels: Mutex::new(HashSet::new()),
        })
    }

    fn path(&self, id: &Uuid, kind: &str) -> PathBuf {
        self.dir.join(format!("{id}.{kind}"))
    }

    /// Whether the job may have been handed over before.
    pub(crate) fn handed_over(&self, id: &Uuid) -> bool {
        self.path(id, SUBMITTED).exists()
    }

    /// About to hand the job over: durable before the scheduler hears of it.
    pub(crate) fn begin(&self, id: &Uuid) -> io::Result<()> {
        self.begin_noting(id, "")
    }

    /// `begin`, the marker holding `text` until the scheduler's id replaces
    /// it (what the backend must know of a job it never heard back of).
    pub(crate) fn begin_noting(&self, id: &Uuid, text: &str) -> io::Result<()> {
        write_durable(&self.path(id, SUBMITTED), text.as_bytes())
    }

    /// The scheduler accepted the job as `remote`.
    pub(crate) fn accepted(&self, id: &Uuid, remote: &str) {
        if let Err(err) = write_atomic(&self.path(id, SUBMITTED), remote.as_bytes()) {
            warn!(job.id = %id, "cannot record the scheduler's id for job {id}: {err}");
        }
    }

    /// The side state last noted of a job ("" for none).
    pub(crate) fn noted(&self, id: &Uuid) -> String {
        lock(&self.noted).get(id).cloned().unwrap_or_default()
    }

    pub(crate) fn set_noted(&self, id: &Uuid, noted: &str) {
        let path = self.path(id, NOTED);
        let result = if noted.is_empty() {
            lock(&self.noted).remove(id);
            match std::fs::remove_file(&path) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        } else {
            lock(&self.noted).insert(*id, noted.to_owned());
            write_atomic(&path, noted.as_bytes())
        };
        if let Err(err) = result {
            warn!(job.id = %id, "cannot remember what was noted of job {id}: {err}");
        }
    }

    /// Forget a job that ended.
    pub(crate) fn forget(&self, id: &Uuid) {
        lock(&self.noted).remove(id);
        for kind in [SUBMITTED, NOTED] {
            let _ = std::fs::remove_file(self.path(id, kind));
        }
    }

    pub(crate) fn cancel_failed(&self, remote: String) {
        lock(&self.cancels).insert(remote);
    }

    pub(crate) fn cancel_done(&self, remote: &str) {
        lock(&self.cancels).remove(remote);
    }

    /// Cancels to try again.
    pub(crate) fn pending_cancels(&self) -> Vec<String> {
        lock(&self.cancels).iter().cloned().collect()
    }

    /// Jobs handed over before this process started (an older marker) that
    /// are not `active`: ended while no server watched. Each with the
    /// scheduler's id when it was recorded. Markers written by this process
    /// are left alone (a job submitted since the active list was read).
    pub(crate) fn strays(&self, active: &HashSet<Uuid>) -> io::Result<Vec<(Uuid, Option<String>)>> {
        let mut strays = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".submitted")
                .and_then(|s| Uuid::parse_str(s).ok())
            else {
                continue;
            };
            let older = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < self.born);
            if active.contains(&id) || !older {
                continue;
            }
            let recorded = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let recorded = recorded.trim();
            strays.push((id, (!recorded.is_empty()).then(|| recorded.to_owned())));
        }
        Ok(strays)
    }
}
