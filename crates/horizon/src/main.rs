//! `horizon`: one binary for the server (`serve`), its administration
//! (`token create`) and the command line client that talks to a running
//! server (`submit`, `status`, `list`, `cancel`, `events`).

mod bench;
mod client;
mod commands;
mod job_actions;
mod replay;
mod settings;
mod sweep;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "horizon",
    version,
    about = "Job orchestrator for science gateways"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// TOML configuration file (else $HORIZON_CONFIG, else the embedded defaults)
    #[arg(long, env = "HORIZON_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server URL
    #[arg(long, env = "HORIZON_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API token (see `horizon token create`)
    #[arg(long, env = "HORIZON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of text for people: one document per command;
    /// what streams (`events --follow`, `submit --wait`) prints one event per
    /// line (NDJSON)
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and the workers
    ///
    /// Environment (overrides the configuration file): HORIZON_CONFIG (the
    /// file), HORIZON_BIND (host:port, default 127.0.0.1:8080),
    /// HORIZON_DATA_DIR (default $XDG_DATA_HOME/horizon), HORIZON_DATABASE_URL
    /// (sqlite://… or postgres://…), HORIZON_DATABASE_PASSWORD,
    /// HORIZON_KAFKA_BROKERS (host:port,…),
    /// HORIZON_TAPIS_PASSWORD (and _USERNAME, _CLIENT_ID, _CLIENT_KEY),
    /// RUST_LOG (log filter, default info).
    Serve(ConfigArgs),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Copy the SQLite database to a new file while the server runs (a
    /// consistent snapshot); on PostgreSQL, says how (pg_dump)
    Backup {
        #[command(flatten)]
        config: ConfigArgs,
        /// The new file
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Print the configuration reference (every key of the TOML file, its
    /// type, default and meaning) as Markdown: docs/configuration.md
    ConfigReference,
    /// Print the API's OpenAPI document (what `GET /openapi.json` serves;
    /// the SDKs in sdk/ are generated from it)
    Openapi,
    /// Submit a job
    Submit {
        #[command(flatten)]
        client: ClientArgs,
        /// Agent to run (as named in the server's configuration)
        #[arg(long)]
        agent: String,
        /// Dataset id
        #[arg(long)]
        dataset: String,
        /// A parameter, `key=value`; the value is read as JSON when it parses, else as a string
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// All parameters as one JSON object
        #[arg(long = "params", value_name = "JSON", conflicts_with = "params_file")]
        params_json: Option<String>,
        /// All parameters from a JSON file
        #[arg(long, value_name = "PATH")]
        params_file: Option<PathBuf>,
        /// Idempotency key: submitting again with the same key returns the same job
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Correlation id carried into every event of the job
        #[arg(long)]
        correlation_id: Option<String>,
        #[command(flatten)]
        resources: ResourceArgs,
        /// Follow the job until it ends; exit non-zero unless it COMPLETED
        /// (with --sweep: until every job ended; non-zero unless all COMPLETED)
        #[arg(long)]
        wait: bool,
        /// Submit a sweep: a job for every combination of the `--grid`
        /// lists, or for each parameter set of `--points-file`, in one request
        #[arg(long)]
        sweep: bool,
        /// A sweep's list of values for one parameter, `KEY=V1,V2,…` (each
        /// value JSON when it parses); repeat it for a grid
        #[arg(long = "grid", value_name = "KEY=V1,V2,…", requires = "sweep")]
        grid: Vec<String>,
        /// A sweep's points: a JSON file holding a list of parameter objects
        #[arg(long, value_name = "PATH", requires = "sweep", conflicts_with = "grid")]
        points_file: Option<PathBuf>,
        /// At most this many of the sweep's jobs run at once
        #[arg(long, requires = "sweep")]
        concurrency_limit: Option<u32>,
    },
    /// Show a sweep's counts by status, or cancel all its unfinished jobs
    Sweep {
        #[command(flatten)]
        client: ClientArgs,
        /// Sweep id
        id: String,
        /// Cancel every job of the sweep that has not ended
        #[arg(long)]
        cancel: bool,
        /// Why (with --cancel)
        #[arg(long, requires = "cancel")]
        reason: Option<String>,
    },
    /// Show one job
    Status {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id
        id: String,
    },
    /// List jobs, newest first
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Only jobs in these statuses (repeat it, or comma-separate: RUNNING,QUEUED)
        #[arg(long, value_delimiter = ',', value_parser = ["SUBMITTED", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"], ignore_case = true)]
        status: Vec<String>,
        /// Only this user's jobs (admins)
        #[arg(long)]
        user: Option<String>,
        /// Only jobs of this agent
        #[arg(long)]
        agent: Option<String>,
        /// Only jobs on this dataset
        #[arg(long)]
        dataset: Option<String>,
        /// Only the jobs of this sweep
        #[arg(long, value_name = "SWEEP_ID")]
        sweep: Option<String>,
        /// Only jobs created at or after this RFC 3339 time (2026-11-29T00:00:00Z)
        #[arg(long, value_name = "TIME")]
        created_after: Option<String>,
        /// Only jobs created before this RFC 3339 time
        #[arg(long, value_name = "TIME")]
        created_before: Option<String>,
        /// Jobs per page, 1 to 100
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Continue after a page: the `--cursor` the previous page printed
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Cancel a job
    Cancel {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id
        id: String,
        /// Why (kept in the job.cancelled event)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Submit a job again from an earlier one (resubmit), with overrides;
    /// the new job records which job it was cloned from
    Clone {
        #[command(flatten)]
        client: ClientArgs,
        /// The job to clone
        id: String,
        /// Another dataset
        #[arg(long)]
        dataset: Option<String>,
        /// A parameter to set, `key=value` (JSON when it parses); the others are kept
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Parameters to set, as one JSON object
        #[arg(long = "params", value_name = "JSON", conflicts_with = "params_file")]
        params_json: Option<String>,
        /// Parameters to set, from a JSON file
        #[arg(long, value_name = "PATH")]
        params_file: Option<PathBuf>,
        /// Idempotency key: cloning again with the same key returns the same job
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        resources: ResourceArgs,
        /// Follow the new job until it ends; exit non-zero unless it COMPLETED
        #[arg(long)]
        wait: bool,
    },
    /// Hold a job that has not started: it waits until released
    Hold {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id
        id: String,
        /// Why (kept in the job.status_changed event)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Release a held job
    Release {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id
        id: String,
        /// Why (kept in the job.status_changed event)
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show a job's output (stdout, or --stderr)
    Logs {
        #[command(flatten)]
        client: ClientArgs,
        /// Job id
        id: String,
        /// The error output instead of the standard output
        #[arg(long)]
        stderr: bool,
        /// Only the last N lines
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
        /// Keep printing new output until the job ends
        #[arg(long, short)]
        follow: bool,
    },
    /// List the agents this server runs, with their resource defaults and maxima
    Agents {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Say a host is gone for good (admin token): the local jobs of its
    /// silent processes may then be taken over by any process (their
    /// programs are recorded lost). Several processes on PostgreSQL only.
    HostGone {
        /// The host's name, as its processes registered it
        host: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show the audit trail: who did what, when, from where (admin token)
    Audit {
        /// Only this user's actions
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (job.cancel, job.read, token.create, …)
        #[arg(long)]
        action: Option<String>,
        /// Only actions on this target (a job id, …)
        #[arg(long)]
        target: Option<String>,
        /// Only allowed, denied or failed actions
        #[arg(long, value_parser = ["allowed", "denied", "failed"])]
        outcome: Option<String>,
        /// Only records at or after this RFC 3339 time
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records before this RFC 3339 time
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Only the last this many records
        #[arg(long, default_value_t = 50)]
        last: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a job's events; `events parked` / `events retry-parked` (admin)
    /// show and resend the events Kafka refused for good
    #[command(subcommand_negates_reqs = true)]
    Events {
        #[command(subcommand)]
        action: Option<EventsAction>,
        #[command(flatten)]
        client: ClientArgs,
        /// Job id
        #[arg(required = true)]
        id: Option<String>,
        /// Keep printing new events until the job ends
        #[arg(long)]
        follow: bool,
    },
    /// Measure a running server: submit jobs concurrently, report latency and throughput
    Bench {
        #[command(flatten)]
        client: ClientArgs,
        /// Agent to submit (a quick one, e.g. a `/bin/true` agent)
        #[arg(long)]
        agent: String,
        /// Jobs to submit
        #[arg(long, default_value_t = 1000)]
        jobs: usize,
        /// Requests in flight at once
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Also wait until every job has ended and report that rate
        #[arg(long)]
        wait: bool,
        /// Also wait until every event is on Kafka (the outbox is empty) and
        /// report that rate
        #[arg(long)]
        published: bool,
    },
    /// (internal) run one job's program and record how it ended
    #[command(hide = true)]
    Supervise {
        /// The job's directory
        #[arg(long)]
        job_dir: PathBuf,
        /// Marks the process as this job's, for the server's liveness checks
        #[arg(long)]
        job_id: String,
        /// Run the program as this uid (with --gid); needs root
        #[arg(long, requires = "gid")]
        uid: Option<u32>,
        /// Run the program with this gid (with --uid)
        #[arg(long, requires = "uid")]
        gid: Option<u32>,
        /// Stop the program after this many seconds
        #[arg(long)]
        walltime_secs: Option<u64>,
        /// Limit the program's address space to this many MB
        #[arg(long)]
        memory_mb: Option<u64>,
        /// The program and its arguments, after --
        #[arg(last = true, required = true)]
        program: Vec<OsString>,
    },
}

#[derive(Debug, Subcommand)]
enum EventsAction {
    /// List the events Kafka refused for good (admin token)
    Parked,
    /// Send parked events again, in order (admin token)
    RetryParked {
        /// Only this job's
        #[arg(long)]
        job: Option<String>,
    },
    /// Publish stored events to Kafka again, byte for byte, with a
    /// `horizon-replay` header (admin token); shows progress
    Replay {
        /// One job's events
        #[arg(long)]
        job: Option<String>,
        /// Events committed at or after this time (RFC 3339)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Events at or after this outbox position (1: all of them)
        #[arg(long, value_name = "N")]
        from_position: Option<i64>,
        /// Send them to this topic instead of their own
        #[arg(long, value_name = "TOPIC")]
        to_topic: Option<String>,
        /// At most this many events a second (default 1000)
        #[arg(long, value_name = "N")]
        rate: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it (only its hash is stored)
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// User the token acts as
        #[arg(long)]
        user: String,
        /// Admins see and act on every user's jobs
        #[arg(long)]
        admin: bool,
        /// Let the token expire after this long: 90s, 30m, 12h, 30d
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Print {"token", "id", "user", ...} as JSON
        #[arg(long)]
        json: bool,
    },
    /// List tokens (their ids, users, expiry and revocation; never the tokens)
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by the id `token list` shows (its first 8+ hex digits)
    Revoke {
        #[command(flatten)]
        config: ConfigArgs,
        /// Token id, as `horizon token list` shows it (8+ hex digits)
        id: String,
    },
}

/// A reader that closed the pipe (`horizon submit --wait | head -1`) ends
/// the program quietly, as it would end a C program (status 141: SIGPIPE),
/// instead of a panic's backtrace: Rust ignores SIGPIPE, so printing fails.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// An error and its causes, each said once: a cause whose text the
/// message already holds (a database error quoting the database's own
/// message, which is also its source) is left out.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    // a job's supervisor waits on one child: one thread is plenty, and it
    // starts faster (one supervisor starts per job)
    let mut builder = if matches!(cli.command, Command::Supervise { .. }) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(config) => commands::serve(&config).await,
        Command::Backup { config, to } => commands::backup(&config, &to).await,
        Command::ConfigReference => {
            print!("{}", horizon_server::config_reference::markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", horizon_server::api::openapi_json_text()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Create {
            config,
            user,
            admin,
            expires_in,
            json,
        }) => commands::token_create(&config, &user, admin, expires_in.as_deref(), json).await,
        Command::Token(TokenCommand::List { config, json }) => {
            commands::token_list(&config, json).await
        }
        Command::Token(TokenCommand::Revoke { config, id }) => {
            commands::token_revoke(&config, &id).await
        }
        Command::Submit {
            client,
            agent,
            dataset,
            params,
            params_json,
            params_file,
            idempotency_key,
            correlation_id,
            resources,
            wait,
            sweep,
            grid,
            points_file,
            concurrency_limit,
        } => {
            let parameters =
                commands::parameters(&params, params_json.as_deref(), params_file.as_deref())?;
            let request = commands::SubmitRequest {
                agent,
                dataset,
                parameters,
                idempotency_key,
                correlation_id,
                resources: resources.to_json(),
            };
            if sweep {
                let sweep = sweep::SweepArgs {
                    grid: sweep::grid(&grid)?,
                    points: points_file.as_deref().map(sweep::points).transpose()?,
                    concurrency_limit,
                };
                return sweep::submit(&client, request, sweep, wait).await;
            }
            commands::submit(&client, request, wait).await
        }
        Command::Sweep {
            client,
            id,
            cancel,
            reason,
        } => sweep::show_or_cancel(&client, &id, cancel, reason).await,
        Command::Status { client, id } => commands::status(&client, &id).await,
        Command::Logs {
            client,
            id,
            stderr,
            tail,
            follow,
        } => commands::logs(&client, &id, stderr, tail, follow).await,
        Command::Agents { client } => commands::agents(&client).await,
        Command::Audit {
            actor,
            action,
            target,
            outcome,
            since,
            until,
            last,
            client,
        } => {
            let filters = [
                ("actor", actor),
                ("action", action),
                ("target", target),
                ("outcome", outcome),
                ("since", since),
                ("until", until),
            ];
            commands::audit(&client, &filters, last).await
        }
        Command::HostGone { host, client } => commands::host_gone(&client, &host).await,
        Command::List {
            client,
            status,
            user,
            agent,
            dataset,
            sweep,
            created_after,
            created_before,
            limit,
            cursor,
        } => {
            let filters = [
                (
                    "status",
                    (!status.is_empty()).then(|| status.join(",").to_ascii_uppercase()),
                ),
                ("user", user),
                ("agent", agent),
                ("dataset_id", dataset),
                ("sweep_id", sweep),
                ("created_after", created_after),
                ("created_before", created_before),
                ("cursor", cursor),
            ];
            commands::list(&client, &filters, limit).await
        }
        Command::Cancel { client, id, reason } => {
            commands::cancel(&client, &id, reason.as_deref()).await
        }
        Command::Clone {
            client,
            id,
            dataset,
            params,
            params_json,
            params_file,
            idempotency_key,
            resources,
            wait,
        } => {
            let parameters =
                commands::parameters(&params, params_json.as_deref(), params_file.as_deref())?;
            let request = job_actions::CloneRequest {
                dataset,
                parameters,
                resources: resources.to_json(),
                idempotency_key,
            };
            job_actions::clone(&client, &id, request, wait).await
        }
        Command::Hold { client, id, reason } => {
            job_actions::hold(&client, &id, true, reason.as_deref()).await
        }
        Command::Release { client, id, reason } => {
            job_actions::hold(&client, &id, false, reason.as_deref()).await
        }
        Command::Events {
            action: Some(EventsAction::Parked),
            client,
            ..
        } => commands::parked(&client).await,
        Command::Events {
            action: Some(EventsAction::RetryParked { job }),
            client,
            ..
        } => commands::retry_parked(&client, job.as_deref()).await,
        Command::Events {
            action:
                Some(EventsAction::Replay {
                    job,
                    since,
                    from_position,
                    to_topic,
                    rate,
                }),
            client,
            ..
        } => {
            let selection = replay::Selection {
                job,
                since,
                from_position,
                to_topic,
                rate,
            };
            replay::replay(&client, selection).await
        }
        Command::Events {
            action: None,
            client,
            id,
            follow,
        } => {
            let id = id.context("a job id is needed")?;
            commands::events(&client, &id, follow).await
        }
        Command::Bench {
            client,
            agent,
            jobs,
            concurrency,
            wait,
            published,
        } => bench::submit(&client, &agent, jobs, concurrency, wait, published).await,
        Command::Supervise {
            job_dir,
            job_id: _,
            uid,
            gid,
            walltime_secs,
            memory_mb,
            program,
        } => {
            let (program, args) = program.split_first().context("no program to supervise")?;
            let what = horizon_backend::local::supervisor::Supervised {
                program: program.clone(),
                args: args.to_vec(),
                run_as: uid.zip(gid),
                walltime: walltime_secs.map(std::time::Duration::from_secs),
                memory_bytes: memory_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
            };
            let record = horizon_backend::local::supervisor::supervise(&job_dir, &what).await?;
            Ok(match record.exit_code {
                Some(0) => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            })
        }
    }
}

/// A job's resources on the command line (each optional: the agent's
/// defaults fill in the rest).
#[derive(Debug, Clone, clap::Args)]
struct ResourceArgs {
    /// Nodes
    #[arg(long)]
    nodes: Option<u32>,
    /// Cores per node
    #[arg(long)]
    cores: Option<u32>,
    /// Memory, in MB
    #[arg(long, value_name = "MB")]
    memory_mb: Option<u64>,
    /// GPUs
    #[arg(long)]
    gpus: Option<u32>,
    /// Wall time, in minutes
    #[arg(long, value_name = "MINUTES")]
    walltime: Option<u32>,
}

impl ResourceArgs {
    fn to_json(&self) -> Option<serde_json::Value> {
        let mut map = serde_json::Map::new();
        let fields = [
            ("nodes", self.nodes.map(u64::from)),
            ("cores_per_node", self.cores.map(u64::from)),
            ("memory_mb", self.memory_mb),
            ("gpus", self.gpus.map(u64::from)),
            ("walltime_minutes", self.walltime.map(u64::from)),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                map.insert(key.to_owned(), value.into());
            }
        }
        (!map.is_empty()).then_some(serde_json::Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every option and argument of every command says what it is.
    #[test]
    fn every_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "horizon", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }
}

#[cfg(test)]
mod error_tests {
    use super::error_chain;

    #[test]
    fn each_cause_is_said_once() {
        let inner = std::io::Error::other("role \"nouser\" does not exist");
        let err = anyhow::Error::new(inner)
            .context("error returned from database: role \"nouser\" does not exist")
            .context("cannot open the database");
        assert_eq!(
            error_chain(&err),
            "cannot open the database: error returned from database: role \"nouser\" does not exist"
        );
    }
}
