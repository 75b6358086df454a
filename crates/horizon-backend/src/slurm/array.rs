//! A sweep's jobs as Slurm job arrays: one `sbatch --array=0-(n-1)[%K]`
//! for up to `MaxArraySize` of them (several arrays beyond, each after the
//! one before when the sweep has a concurrency limit, so that `%K` holds
//! for the whole sweep). Each task is one job, followed by squeue's
//! `<array id>_<task>` ids like any other.
//!
//! ```text
//! <jobs_dir>/<job id>/              each job's own directory, as for one job
//!   job.sh, params.json, work/, stdout.log, stderr.log
//!   array        "<array name> <task>": written before the sbatch
//! <jobs_dir>/arrays/<array name>/
//!   array.sh     runs task $SLURM_ARRAY_TASK_ID's job.sh in its directory
//!   0 -> ../../<job id>, 1 -> …   (so that `--output=…/%a/stdout.log` is
//!                                  the job's own log)
//! ```
//!
//! Handing over twice is prevented as for one job: every job is marked in
//! the database and in this server's state before the `sbatch`, and each
//! job's `array` file names its array; a job found marked is looked up by
//! its array's name (`squeue`/`sacct --name`) before anything is
//! submitted again, so a crash between `sbatch` and recording submits
//! nothing twice.

use std::collections::HashMap;

use base64::Engine as _;
use horizon_core::Job;
use tracing::{debug, info};
use uuid::Uuid;

use super::{SlurmAgent, SlurmBackend, dependency_args, dependency_refused, resource_args, state};
use crate::{Accepted, BackendError};

/// Slurm's default `MaxArraySize` (a task index is at most one less).
pub const DEFAULT_MAX_ARRAY_SIZE: u32 = 1001;

/// `MaxArraySize` from `scontrol show config`'s output.
pub fn parse_max_array_size(config: &str) -> Option<u32> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Task ids of one array as one `scancel`/`scontrol` target:
/// `1234_[0-3,7]`.
pub fn task_list(array: &str, tasks: &mut [u32]) -> String {
    tasks.sort_unstable();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < tasks.len() {
        let start = tasks[i];
        let mut end = start;
        while i + 1 < tasks.len() && tasks[i + 1] == end + 1 {
            i += 1;
            end = tasks[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    format!("{array}_[{}]", parts.join(","))
}

fn quote(word: &str) -> Result<String, BackendError> {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .map_err(|err| BackendError::Rejected(format!("cannot quote {word:?}: {err}")))
}

impl SlurmBackend {
    /// The most tasks one array may have: the cluster's `MaxArraySize`
    /// (read once), or the configured `max_array_size` when lower.
    async fn max_array_size(&self) -> Result<u32, BackendError> {
        let cluster = match self.max_array_size.get() {
            Some(n) => *n,
            None => {
                let output = self
                    .run(vec![
                        self.command("scontrol"),
                        "show".to_owned(),
                        "config".to_owned(),
                    ])
                    .await?;
                if !output.success {
                    return Err(BackendError::Unavailable(format!(
                        "scontrol show config: {}",
                        output.complaint()
                    )));
                }
                let n = parse_max_array_size(&output.stdout).unwrap_or(DEFAULT_MAX_ARRAY_SIZE);
                let _ = self.max_array_size.set(n);
                n
            }
        };
        let mut most = cluster.max(1);
        if let Some(configured) = self.config.max_array_size {
            most = most.min(configured.max(1));
        }
        Ok(most)
    }

    /// A job handed over before as a task of an array: that task, if Slurm
    /// has the array (`None`: it never reached Slurm, or not as an array).
    pub(super) async fn find_task(
        &self,
        id: &Uuid,
        arrays: &mut HashMap<String, Option<String>>,
    ) -> Result<Option<Accepted>, BackendError> {
        let dir = self.job_dir(id);
        let output = self
            .run(vec!["cat".to_owned(), format!("{dir}/array")])
            .await?;
        let Some((name, task)) = output
            .success
            .then(|| output.stdout.trim().split_once(' '))
            .flatten()
            .map(|(n, t)| (n.to_owned(), t.to_owned()))
        else {
            return Ok(None);
        };
        if !arrays.contains_key(&name) {
            let found = self.find_array(&name).await?;
            arrays.insert(name.clone(), found);
        }
        Ok(arrays.get(&name).cloned().flatten().map(|array| Accepted {
            remote_job_id: Some(format!("{array}_{task}")),
            location: Some(dir),
        }))
    }

    /// The id of the array named `name`, if Slurm has it (any of its
    /// tasks names it).
    async fn find_array(&self, name: &str) -> Result<Option<String>, BackendError> {
        Ok(self
            .find_named(name)
            .await?
            .map(|task| task.id.split('_').next().unwrap_or_default().to_owned()))
    }

    /// Hand `jobs` (of one sweep and agent) to Slurm as arrays; each job's
    /// outcome in order. `limit`: the sweep's concurrency limit (`%K`);
    /// `after`: the sweep's arrays still running (new ones start after them).
    pub(super) async fn submit_jobs_as_arrays(
        &self,
        jobs: &[Job],
        limit: Option<u32>,
        after: &[String],
    ) -> Vec<Result<Accepted, BackendError>> {
        let mut outcomes: Vec<Option<Result<Accepted, BackendError>>> =
            (0..jobs.len()).map(|_| None).collect();
        // handed over before: found again, never submitted twice
        let mut arrays: HashMap<String, Option<String>> = HashMap::new();
        let mut fresh = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            if job.handed_over || self.handover.handed_over(&job.id) {
                match self.find_task(&job.id, &mut arrays).await {
                    Ok(Some(found)) => {
                        debug!(job.id = %job.id, "job {} is already Slurm task {:?}", job.id, found.remote_job_id);
                        outcomes[i] = Some(Ok(found));
                        continue;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        outcomes[i] = Some(Err(err));
                        continue;
                    }
                }
                // perhaps handed over alone before (not as a task)
                match self.find_by_name(&job.id).await {
                    Ok(Some(found)) => {
                        outcomes[i] = Some(Ok(Accepted {
                            remote_job_id: Some(found.id),
                            location: Some(self.job_dir(&job.id)),
                        }));
                        continue;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        outcomes[i] = Some(Err(err));
                        continue;
                    }
                }
            }
            fresh.push(i);
        }
        // one array per agent, account and resources (a retried job may
        // ask for more), at most MaxArraySize tasks each
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for i in fresh {
            let job = &jobs[i];
            let key = format!(
                "{}|{:?}|{:?}|{:?}",
                job.agent, job.account, job.resources, job.scheduler_dependency
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let most = match self.max_array_size().await {
            Ok(n) => n as usize,
            Err(err) => {
                return outcomes
                    .into_iter()
                    .map(|o| {
                        o.unwrap_or_else(|| {
                            Err(BackendError::Unavailable(format!(
                                "cannot read MaxArraySize: {err}"
                            )))
                        })
                    })
                    .collect();
            }
        };
        // with a limit, each array after the one before, the first after
        // the sweep's arrays still running
        let mut previous: Option<String> = (!after.is_empty()).then(|| after.join(":"));
        for (_, members) in groups {
            for chunk in members.chunks(most) {
                let chunk_jobs: Vec<&Job> = chunk.iter().map(|&i| &jobs[i]).collect();
                // with a limit, each array after the one before: %K then
                // holds for all of them together
                let after = if limit.is_some() {
                    previous.clone()
                } else {
                    None
                };
                match self
                    .submit_array(&chunk_jobs, limit, after.as_deref())
                    .await
                {
                    Ok(array) => {
                        for (task, &i) in chunk.iter().enumerate() {
                            outcomes[i] = Some(Ok(Accepted {
                                remote_job_id: Some(format!("{array}_{task}")),
                                location: Some(self.job_dir(&jobs[i].id)),
                            }));
                        }
                        previous = Some(array);
                    }
                    Err(err) => {
                        let message = err.to_string();
                        let rejected = err.rejection_code().is_some();
                        for &i in chunk {
                            outcomes[i] = Some(Err(if rejected {
                                BackendError::SchedulerRejected(message.clone())
                            } else {
                                BackendError::Unavailable(message.clone())
                            }));
                        }
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(BackendError::Unavailable("not submitted".into()))))
            .collect()
    }

    /// One array of `jobs` (same agent, account and resources): their files
    /// and the array's written in one shell command, every job marked, one
    /// `sbatch`. Returns the array's id.
    async fn submit_array(
        &self,
        jobs: &[&Job],
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<String, BackendError> {
        let first = jobs
            .first()
            .ok_or_else(|| BackendError::Rejected("an empty array".into()))?;
        let agent: &SlurmAgent = self.config.agents.get(&first.agent).ok_or_else(|| {
            BackendError::Rejected(format!("no Slurm agent named {:?}", first.agent))
        })?;
        let name = format!("horizon-array-{}", Uuid::now_v7());
        let root = self.config.jobs_dir.trim_end_matches('/');
        let array_dir = format!("{root}/arrays/{name}");
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut script = String::from("set -e\numask 077\n");
        script.push_str(&format!("mkdir -p {}\n", quote(&array_dir)?));
        for (task, job) in jobs.iter().enumerate() {
            let dir = self.job_dir(&job.id);
            let params = serde_json::to_vec(&job.parameters)
                .map_err(|err| BackendError::Rejected(format!("parameters: {err}")))?;
            let batch = self.script(job, agent)?;
            let d = quote(&dir)?;
            script.push_str(&format!(
                "mkdir -p {d}/work\necho {} | base64 -d > {d}/params.json\necho {} | base64 -d > {d}/job.sh\necho {} > {d}/array\nln -sfn {d} {}/{task}\n",
                b64.encode(&params),
                b64.encode(batch.as_bytes()),
                quote(&format!("{name} {task}"))?,
                quote(&array_dir)?,
            ));
        }
        let runner = format!(
            "#!/bin/sh\n# Generated by Horizon: task $SLURM_ARRAY_TASK_ID runs the job whose directory it links to.\nd={}/\"$SLURM_ARRAY_TASK_ID\"\ncd \"$d/work\" && exec /bin/sh \"$d/job.sh\"\n",
            quote(&array_dir)?
        );
        script.push_str(&format!(
            "echo {} | base64 -d > {}/array.sh\n",
            b64.encode(runner.as_bytes()),
            quote(&array_dir)?
        ));
        let timeout = self.config.command_timeout * 4;
        let written = self
            .config
            .shell
            .run(
                &["sh".to_owned(), "-s".to_owned()],
                Some(script.as_bytes()),
                timeout,
            )
            .await?;
        if !written.success {
            return Err(BackendError::Unavailable(format!(
                "cannot write the array's files: {}",
                written.complaint()
            )));
        }
        for job in jobs {
            self.handover.begin(&job.id)?;
        }
        let last = jobs.len() - 1;
        let mut args = vec![
            self.command("sbatch"),
            "--parsable".to_owned(),
            format!("--job-name={name}"),
            match limit {
                Some(k) => format!("--array=0-{last}%{k}"),
                None => format!("--array=0-{last}"),
            },
            format!("--output={array_dir}/%a/stdout.log"),
            format!("--error={array_dir}/%a/stderr.log"),
            format!("--chdir={array_dir}"),
            "--export=NONE".to_owned(),
        ];
        args.extend(dependency_args(first, after));
        for (flag, value) in [
            ("partition", agent.partition.as_ref()),
            ("account", first.account.as_ref().or(agent.account.as_ref())),
            ("qos", agent.qos.as_ref()),
        ] {
            if let Some(value) = value {
                args.push(format!("--{flag}={value}"));
            }
        }
        args.extend(resource_args(&first.resources));
        args.extend(agent.sbatch_options.iter().cloned());
        args.push(format!("{array_dir}/array.sh"));
        let output = self.run(args).await?;
        if !output.success {
            let complaint = output.complaint();
            return Err(
                if state::is_transient_submit_error(&complaint)
                    || dependency_refused(first, &complaint)
                {
                    BackendError::Unavailable(complaint)
                } else {
                    BackendError::SchedulerRejected(complaint)
                },
            );
        }
        let array = output
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().split(';').next())
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| {
                BackendError::Unavailable(format!("sbatch printed no job id: {:?}", output.stdout))
            })?
            .to_owned();
        crate::crash_after_submit_for_tests("HORIZON_TEST_CRASH_AFTER_SBATCH");
        for (task, job) in jobs.iter().enumerate() {
            self.handover.accepted(&job.id, &format!("{array}_{task}"));
        }
        info!(
            "handed {} job(s) of sweep {} to Slurm as array {array}",
            jobs.len(),
            first.sweep_id.map(|s| s.to_string()).unwrap_or_default()
        );
        Ok(array)
    }

    /// Cancel jobs with one `scancel` per array (and one per other job).
    pub(super) async fn cancel_jobs(&self, jobs: &[Job]) -> Result<(), BackendError> {
        let mut tasks: HashMap<String, Vec<(u32, &Job)>> = HashMap::new();
        let mut alone = Vec::new();
        for job in jobs {
            match job
                .remote_job_id
                .as_deref()
                .and_then(|r| r.split_once('_'))
                .and_then(|(a, t)| Some((a.to_owned(), t.parse::<u32>().ok()?)))
            {
                Some((array, task)) => tasks.entry(array).or_default().push((task, job)),
                None => alone.push(job),
            }
        }
        let mut first_error = None;
        for (array, members) in tasks {
            let mut ids: Vec<u32> = members.iter().map(|(t, _)| *t).collect();
            let target = task_list(&array, &mut ids);
            match self.scancel(&target).await {
                Ok(()) => {
                    for (_, job) in members {
                        self.forget(&job.id);
                    }
                }
                Err(err) => {
                    for (_, job) in &members {
                        if let Some(remote) = &job.remote_job_id {
                            self.handover.cancel_failed(remote.clone());
                        }
                    }
                    first_error.get_or_insert(err);
                }
            }
        }
        for job in alone {
            if let Err(err) = crate::Backend::cancel(self, job).await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_array_size_is_read_from_the_clusters_config() {
        let config = "Configuration data as of 2026-12-07T10:00:00\nMailProg                = /bin/mail\nMaxArraySize            = 1001\nMaxJobCount             = 10000\n";
        assert_eq!(parse_max_array_size(config), Some(1001));
        assert_eq!(parse_max_array_size("MaxJobCount = 5\n"), None);
    }

    #[test]
    fn tasks_of_one_array_are_one_target() {
        assert_eq!(
            task_list("77", &mut [3, 0, 1, 2, 7, 9, 10]),
            "77_[0-3,7,9-10]"
        );
        assert_eq!(task_list("8", &mut [5]), "8_[5]");
    }
}
