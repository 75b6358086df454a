//! `horizon-supervise`: the local backend's per-job supervisor as a small
//! binary of its own. It does exactly what `horizon supervise` does (see
//! `horizon_backend::local::supervisor`), but starts in a fraction of the
//! time: one starts for every job, and the full `horizon` binary (HTTP,
//! Kafka, SQL) costs several milliseconds of CPU just to exec.
//!
//! Usage: `horizon-supervise --job-dir DIR --job-id ID [--uid N --gid N]
//! [--walltime-secs N] [--memory-mb N] -- PROGRAM ARGS…`

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use horizon_backend::local::supervisor::{Supervised, supervise};

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "horizon-supervise: {problem}\nusage: horizon-supervise --job-dir DIR --job-id ID [--uid N --gid N] [--walltime-secs N] [--memory-mb N] -- PROGRAM ARGS..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let mut job_dir: Option<PathBuf> = None;
    let mut uid: Option<u32> = None;
    let mut gid: Option<u32> = None;
    let mut program: Vec<OsString> = Vec::new();
    let mut limits = Supervised::default();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--job-dir") => job_dir = args.next().map(PathBuf::from),
            Some("--job-id") => {
                // only a marker on the command line
                args.next();
            }
            Some("--uid") => uid = args.next().and_then(|v| v.to_str()?.parse().ok()),
            Some("--gid") => gid = args.next().and_then(|v| v.to_str()?.parse().ok()),
            Some(flag @ ("--walltime-secs" | "--memory-mb")) => {
                let value = args.next();
                match limits.take_limit(flag, value.as_ref().and_then(|v| v.to_str())) {
                    Some(Ok(())) => {}
                    Some(Err(problem)) => return usage(&problem),
                    None => return usage(&format!("unexpected argument {flag}")),
                }
            }
            Some("--") => {
                program.extend(args.by_ref());
            }
            _ => return usage(&format!("unexpected argument {arg:?}")),
        }
    }
    let Some(job_dir) = job_dir else {
        return usage("--job-dir is required");
    };
    let Some((program, rest)) = program.split_first() else {
        return usage("no program after --");
    };
    if uid.is_some() != gid.is_some() {
        return usage("--uid and --gid go together");
    }
    let what = Supervised {
        program: program.clone(),
        args: rest.to_vec(),
        run_as: uid.zip(gid),
        ..limits
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("horizon-supervise: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(supervise(&job_dir, &what)) {
        Ok(record) if record.exit_code == Some(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("horizon-supervise: {err}");
            ExitCode::FAILURE
        }
    }
}
