//! Where Slurm's commands run: on this machine, or on a cluster's login node
//! over one multiplexed SSH connection (OpenSSH's ControlMaster), so a
//! poll or a submission costs a round trip, not a new SSH handshake.
//!
//! Commands are argument vectors, never shell text built from job data; over
//! SSH the vector is quoted word by word (`shlex`) into the one string SSH
//! sends, and Slurm's times come as epoch seconds (`SLURM_TIME_FORMAT=%s`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::BackendError;

/// An SSH destination: the cluster's login node.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    /// The private key (`ssh -i`); absent = the server user's default keys.
    pub identity_file: Option<PathBuf>,
    /// A known_hosts file to check the host key against (strictly);
    /// absent = the server user's own known_hosts.
    pub known_hosts: Option<PathBuf>,
    /// Where the control socket of the shared connection lives.
    pub control_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub enum Shell {
    Local,
    Ssh(SshTarget),
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stderr's last non-empty line, or stdout's, for messages.
    pub fn complaint(&self) -> String {
        let last = |text: &str| {
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_owned())
        };
        last(&self.stderr)
            .or_else(|| last(&self.stdout))
            .unwrap_or_else(|| format!("exit status {:?}", self.code))
    }
}

impl Shell {
    /// Run `argv` (with `stdin`, if any) and wait at most `timeout`. An error
    /// only when it could not run at all or did not finish in time (SSH's
    /// own failures, exit 255, included); a command that ran and failed is
    /// an `Output` with `success = false`.
    pub async fn run(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, BackendError> {
        let (program, rest) = argv
            .split_first()
            .ok_or_else(|| BackendError::Unavailable("empty command".to_owned()))?;
        let mut command = match self {
            Shell::Local => {
                let mut command = Command::new(program);
                command.args(rest).env("SLURM_TIME_FORMAT", "%s");
                command
            }
            Shell::Ssh(target) => {
                let words = argv.iter().map(String::as_str);
                let quoted = shlex::try_join(words).map_err(|err| {
                    BackendError::Unavailable(format!("cannot quote a command for SSH: {err}"))
                })?;
                let mut command = Command::new("ssh");
                command.args(target.ssh_options());
                command
                    .arg("--")
                    .arg(format!("SLURM_TIME_FORMAT=%s {quoted}"));
                command
            }
        };
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|err| BackendError::Unavailable(format!("cannot run {program}: {err}")))?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let bytes = bytes.to_vec();
            // written while the output is read, so a large input cannot
            // dead-lock against a full output pipe
            tokio::spawn(async move {
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            });
        }
        let output = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                BackendError::Unavailable(format!("{program} did not finish within {timeout:?}"))
            })?
            .map_err(|err| BackendError::Unavailable(format!("{program}: {err}")))?;
        let output = Output {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        if matches!(self, Shell::Ssh(_)) && output.code == Some(255) {
            return Err(BackendError::Unavailable(format!(
                "ssh: {}",
                output.complaint()
            )));
        }
        if matches!(output.code, Some(126 | 127)) {
            // the command is not there or cannot run: the cluster's set-up,
            // not the job, so it is worth trying again later
            return Err(BackendError::Unavailable(format!(
                "cannot run {program}: {}",
                output.complaint()
            )));
        }
        Ok(output)
    }

    /// Write a file atomically (temporary name, then rename), creating its
    /// directory and a `work/` directory beside it. The bytes travel on stdin.
    pub async fn write_file(
        &self,
        dir: &str,
        name: &str,
        bytes: &[u8],
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let script = r#"umask 077 && mkdir -p "$1/work" && cat > "$1/.$2.tmp" && mv -f "$1/.$2.tmp" "$1/$2""#;
        let argv = ["sh", "-c", script, "sh", dir, name].map(str::to_owned);
        let output = self.run(&argv, Some(bytes), timeout).await?;
        if output.success {
            Ok(())
        } else {
            Err(BackendError::Unavailable(format!(
                "cannot write {dir}/{name}: {}",
                output.complaint()
            )))
        }
    }
}

impl SshTarget {
    fn ssh_options(&self) -> Vec<String> {
        let mut options = vec![
            "-o".to_owned(),
            "BatchMode=yes".to_owned(),
            "-o".to_owned(),
            "ControlMaster=auto".to_owned(),
            "-o".to_owned(),
            format!("ControlPath={}/%C", self.control_dir.display()),
            "-o".to_owned(),
            "ControlPersist=300".to_owned(),
            "-o".to_owned(),
            "ConnectTimeout=10".to_owned(),
            "-o".to_owned(),
            "ServerAliveInterval=15".to_owned(),
            "-p".to_owned(),
            self.port.to_string(),
        ];
        if let Some(key) = &self.identity_file {
            options.extend([
                "-i".to_owned(),
                key.display().to_string(),
                "-o".to_owned(),
                "IdentitiesOnly=yes".to_owned(),
            ]);
        }
        if let Some(known) = &self.known_hosts {
            options.extend([
                "-o".to_owned(),
                format!("UserKnownHostsFile={}", known.display()),
                "-o".to_owned(),
                "StrictHostKeyChecking=yes".to_owned(),
            ]);
        }
        if let Some(user) = &self.user {
            options.extend(["-l".to_owned(), user.clone()]);
        }
        options.push(self.host.clone());
        options
    }
}
