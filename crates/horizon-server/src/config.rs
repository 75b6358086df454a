//! Horizon's configuration: the TOML file's shape and its embedded defaults.
//! Environment overrides are applied by the binary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use horizon_core::{BackendKind, Resources};
use serde::Deserialize;

/// `host:port` to listen on: an address, or a host name resolved now
/// (its first IPv4 address, else its first address).
pub fn resolve_bind(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let addresses: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|err| format!("{text:?} is not host:port ({err})"))?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

fn deserialize_bind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    resolve_bind(&text).map_err(serde::de::Error::custom)
}

/// The example configuration shipped in the repository, used when no file is given.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../../../examples/horizon.toml");

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `host:port`; a host name (`localhost:8080`) is resolved, IPv4 first.
    #[serde(default = "default_bind", deserialize_with = "deserialize_bind")]
    #[schemars(with = "String")]
    pub bind: SocketAddr,
    /// Where the database, job directories and state live. Default: the
    /// per-user `$XDG_DATA_HOME/horizon` (`~/.local/share/horizon`), so every
    /// command finds the same one from any directory; a relative path in a
    /// file is relative to that file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// What relative `program`/`args` paths of agents are relative to: the
    /// configuration file's directory (set by the loader, not the file).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; defaults to `horizon.db` in the data
    /// directory.
    #[serde(default)]
    pub database_url: Option<String>,
    /// PostgreSQL's pool and password (TLS: the URL's `sslmode` and
    /// `sslrootcert`).
    #[serde(default)]
    pub database: DatabaseSettings,
    /// How `serve` writes its log (stderr; `RUST_LOG` filters it).
    #[serde(default)]
    pub log: LogSettings,
    /// What is deleted once old enough (default: nothing).
    #[serde(default)]
    pub retention: RetentionSettings,
    /// The programs jobs run, by the name a submission gives (`agent`).
    #[serde(default)]
    pub agents: BTreeMap<String, AgentSettings>,
    /// Whom the cluster charges each job to, by who submits it (see
    /// `identity.rs`); the first matching rule wins.
    #[serde(default)]
    pub identity: Vec<crate::identity::IdentityRule>,
    #[serde(default)]
    pub local: LocalSettings,
    #[serde(default)]
    pub slurm: SlurmSettings,
    #[serde(default)]
    pub tapis: TapisSettings,
    #[serde(default)]
    pub dispatch: DispatchSettings,
    #[serde(default)]
    pub api: ApiSettings,
    /// Who may call: Horizon's own tokens always; JWTs from a gateway when
    /// `[auth.jwt]` is set.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Publishing to Kafka; off unless `brokers` (or `HORIZON_KAFKA_BROKERS`) is set.
    #[serde(default)]
    pub kafka: horizon_kafka::KafkaSettings,
    /// Webhook deliveries (users subscribe through `/v1/subscriptions`).
    #[serde(default)]
    pub webhooks: WebhookSettings,
    /// E-mail notifications (subscriptions with an `email`); off unless
    /// `smtp_host` is set.
    #[serde(default)]
    pub email: EmailSettings,
}

/// `[email]`: the SMTP server job notifications go through. The login, if
/// the server wants one, comes from `HORIZON_SMTP_USERNAME` and
/// `HORIZON_SMTP_PASSWORD`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EmailSettings {
    /// The SMTP server's host name (absent: no e-mail).
    pub smtp_host: Option<String>,
    /// Its port (587 for STARTTLS, 465 for TLS, 25 for a local relay).
    pub smtp_port: u16,
    /// `starttls` (required, the default), `tls` (TLS from the first byte)
    /// or `none` (a relay on this machine or a trusted network).
    pub tls: String,
    /// A PEM file of the CA that signed the SMTP server's certificate, for
    /// a campus or private CA (absent: the system's trusted roots).
    pub ca_file: Option<PathBuf>,
    /// The sender, e.g. `Horizon <horizon@gateway.example.org>`.
    pub from: String,
    /// A link to a job in the gateway, `{job_id}` replaced, e.g.
    /// `https://gateway.example.org/jobs/{job_id}`.
    pub job_link: Option<String>,
    /// Jobs that end within this of each other go in one digest mail.
    pub digest_window_ms: u64,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            smtp_host: None,
            smtp_port: 587,
            tls: "starttls".into(),
            ca_file: None,
            from: "Horizon <horizon@localhost>".into(),
            job_link: None,
            digest_window_ms: 30_000,
        }
    }
}

/// `[webhooks]`: how deliveries are sent and retried.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Let subscriptions target loopback, private and other internal
    /// addresses (refused by default: a user could otherwise make the
    /// server call inside the network).
    pub allow_private_targets: bool,
    /// How long a delivery is retried (with backoff) before it fails and
    /// its subscription is disabled, e.g. `24h`.
    pub retry_for: String,
    /// The wait after a first failed attempt; doubles (with jitter) up to
    /// `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// The longest wait between two attempts.
    pub max_backoff_ms: u64,
    /// The longest one attempt may take (connecting, sending, the answer).
    pub request_timeout_ms: u64,
    /// Deliveries in flight at once, per process.
    pub concurrency: u32,
    /// After a secret rotation, how long the previous secret still signs
    /// (deliveries carry both signatures), e.g. `24h`.
    pub rotation_grace: String,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_private_targets: false,
            retry_for: "24h".into(),
            initial_backoff_ms: 5_000,
            max_backoff_ms: 3_600_000,
            request_timeout_ms: 10_000,
            concurrency: 16,
            rotation_grace: "24h".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Where its jobs run: `local` (processes on this machine), `slurm` or `tapis`.
    pub backend: BackendKind,
    /// What the agent does, for people (`GET /v1/agents`).
    #[serde(default)]
    pub description: Option<String>,
    /// The parameters it reads, by name, with what each means.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// The program to run (local backend), directly, never through a shell.
    #[serde(default)]
    pub program: Option<PathBuf>,
    /// Arguments before Horizon's own; each one word, never through a shell.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables for the program; it gets these, `PATH` and its
    /// `HORIZON_*` variables, nothing else of the server's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// What a job gets for a resource its request leaves out.
    #[serde(default)]
    pub default_resources: Resources,
    /// The most a request may ask for (422 naming the limit above it).
    #[serde(default)]
    pub max_resources: Resources,
    /// Slurm: `--partition`, `--account`, `--qos` (absent = the cluster's default).
    #[serde(default)]
    pub partition: Option<String>,
    /// Slurm: `--account` of its jobs, unless an `[[identity]]` rule names one for the submitter.
    #[serde(default)]
    pub account: Option<String>,
    /// Slurm: `--qos` of its jobs.
    #[serde(default)]
    pub qos: Option<String>,
    /// Slurm: more `sbatch` options (`["--constraint=haswell"]`), from a
    /// list of allowed ones (checked at start).
    #[serde(default)]
    pub sbatch_options: Vec<String>,
    /// Slurm: shell lines run before the program, in the batch script
    /// (`["module load python/3.11"]`).
    #[serde(default)]
    pub preamble: Vec<String>,
    /// Tapis: the application and its version, and (optionally) the
    /// execution system; `args` become its `appArgs`, `env` its `envVariables`.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Tapis: the application's version.
    #[serde(default)]
    pub app_version: Option<String>,
    /// Tapis: the execution system (default: the application's own).
    #[serde(default)]
    pub exec_system_id: Option<String>,
    /// Which failures of its jobs are retried, how often and after how
    /// long (`{ attempts = 3, on = ["NODE_FAIL"] }`); a request may narrow
    /// it. Default: none (one attempt).
    #[serde(default)]
    pub retry: Option<RetrySettings>,
    /// Sweeps of this agent run at most this many of their jobs at once,
    /// unless the request asks for fewer (`concurrency_limit`). Default:
    /// no limit (the backend's own).
    #[serde(default)]
    pub sweep_concurrency_limit: Option<u32>,
}

/// `[agents.NAME] retry`: a job's failed attempt is followed by another
/// when its error is one of these, until the attempts run out; then it
/// ends FAILED.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    /// Every run counts, the first included: 3 means up to two retries.
    pub attempts: u32,
    /// Seconds before the first retry, doubled for each later one (at
    /// most an hour), with up to ±20 % jitter.
    #[serde(default = "default_retry_backoff")]
    pub backoff_seconds: f64,
    /// Error codes that are retried: `NODE_FAIL`, `PREEMPTED`,
    /// `SCHEDULER_TIMEOUT`, `SCHEDULER_OUT_OF_MEMORY`, `LAUNCH_FAILED`,
    /// `AGENT_LOST`, … (`NONZERO_EXIT` goes by `exit_codes`).
    #[serde(default)]
    pub on: Vec<String>,
    /// Exit codes of a `NONZERO_EXIT` that are retried.
    #[serde(default)]
    pub exit_codes: Vec<i32>,
    /// After `SCHEDULER_OUT_OF_MEMORY`, the next attempt asks for this many
    /// times the memory, up to the agent's `max_resources`.
    #[serde(default)]
    pub memory_factor: Option<f64>,
    /// After `SCHEDULER_TIMEOUT`, the next attempt asks for this many times
    /// the wall time, up to the agent's `max_resources`.
    #[serde(default)]
    pub walltime_factor: Option<f64>,
}

fn default_retry_backoff() -> f64 {
    10.0
}

impl RetrySettings {
    /// The policy a job of an agent with these maxima is given.
    pub fn policy(&self, max_resources: Resources) -> horizon_core::retry::RetryPolicy {
        horizon_core::retry::RetryPolicy {
            attempts: self.attempts,
            backoff_seconds: self.backoff_seconds,
            on: self.on.clone(),
            exit_codes: self.exit_codes.clone(),
            memory_factor: self.memory_factor,
            walltime_factor: self.walltime_factor,
            max_resources,
        }
    }
}

/// `[retention]`: ages as a number and a unit (`90d`, `12h`, `30m`, `45s`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Ended jobs (COMPLETED, FAILED, CANCELLED) with their events and
    /// directories, this long after they ended (with Kafka on, only once
    /// every event of theirs is in Kafka). Default: kept.
    #[serde(deserialize_with = "deserialize_age", serialize_with = "serialize_age")]
    #[schemars(with = "Option<String>")]
    pub ended_jobs: Option<time::Duration>,
    /// Audit records this old (with Kafka on, only once in Kafka). Default: kept.
    #[serde(deserialize_with = "deserialize_age", serialize_with = "serialize_age")]
    #[schemars(with = "Option<String>")]
    pub audit: Option<time::Duration>,
    /// How often the background pass runs.
    pub interval_ms: u64,
    /// Rows deleted per transaction.
    pub batch: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            ended_jobs: None,
            audit: None,
            interval_ms: 60_000,
            batch: 500,
        }
    }
}

/// `90d`, `12h`, `30m`, `45s` (a bare number is seconds): more than zero.
/// Also `horizon token create --expires-in`.
pub fn parse_age(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and s, m, h or d"))?;
    let age = match unit {
        "s" | "" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use s, m, h or d)"
            ));
        }
    };
    if age <= time::Duration::ZERO {
        return Err(format!("{text:?}: must be more than zero"));
    }
    Ok(age)
}

fn deserialize_age<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<time::Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_age(&text).map(Some).map_err(serde::de::Error::custom)
}

fn serialize_age<S: serde::Serializer>(
    age: &Option<time::Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match age {
        Some(age) => serializer.serialize_str(&format!("{}s", age.whole_seconds())),
        None => serializer.serialize_none(),
    }
}

/// `[log]`
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` (default: one line per event, for people) or `json` (one JSON
    /// object per line, fields such as `job.id` and `job.correlation_id` as
    /// keys, for log collectors); also `HORIZON_LOG_FORMAT`.
    pub format: LogFormat,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[database]`: how each process connects to PostgreSQL.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// Connections in the process's pool (the writer, heartbeat, relay lease
    /// and listener have one each besides).
    pub max_connections: u32,
    /// Longest wait for a pooled connection before a request answers 503.
    pub acquire_timeout_ms: u64,
    /// A file whose first line is the password (instead of one in the URL;
    /// `HORIZON_DATABASE_PASSWORD` also works).
    pub password_file: Option<PathBuf>,
    /// From `HORIZON_DATABASE_PASSWORD` (never from the file).
    #[serde(skip)]
    pub password: Option<String>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            max_connections: 8,
            acquire_timeout_ms: 5000,
            password_file: None,
            password: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LocalSettings {
    /// Jobs that may run at once.
    pub slots: usize,
    /// How often running jobs are looked at (process exits are noticed at once).
    pub poll_interval_ms: u64,
    /// How often a running job's CPU and memory are sampled (`job.metrics`).
    pub metrics_interval_ms: u64,
    /// After SIGTERM, how long a cancelled job's processes have before SIGKILL.
    pub cancel_grace_ms: u64,
    /// Run programs as this unprivileged user (the server must run as root);
    /// the database then stays out of their reach.
    pub run_as: Option<String>,
    /// Where job directories go (default `jobs/` in the data directory).
    /// Several `serve` processes on one machine and one database give the
    /// same directory here, so one can take over the jobs of another.
    pub jobs_dir: Option<PathBuf>,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            slots: 4,
            poll_interval_ms: 500,
            metrics_interval_ms: 2000,
            cancel_grace_ms: 10_000,
            run_as: None,
            jobs_dir: None,
        }
    }
}

/// `[slurm]`: where Slurm's commands run and where job directories go.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmSettings {
    /// Job directories (batch script, params.json, stdout/stderr) on the
    /// cluster: a file system the compute nodes share. Default: `slurm/` in
    /// the data directory (Horizon on the login node itself).
    pub jobs_dir: Option<String>,
    /// Where sbatch, squeue, sacct and scancel are (default: on `PATH`).
    pub bin_dir: Option<String>,
    /// How often one `squeue` looks at every active job.
    pub poll_interval_ms: u64,
    /// The longest any one Slurm command may take.
    pub command_timeout_ms: u64,
    /// How often a running job's CPU and memory are read (`sstat`).
    pub metrics_interval_ms: u64,
    /// Run the commands on a login node over SSH (one shared connection).
    pub ssh: Option<SshSettings>,
    /// A sweep's jobs go to Slurm as job arrays of at most this many tasks
    /// (default: the cluster's `MaxArraySize`, read from `scontrol show
    /// config`; a lower value here wins).
    pub max_array_size: Option<u32>,
    /// A Slurm job whose dependencies are all Slurm jobs (or sweeps of
    /// them) goes to Slurm at once with `--dependency=afterok:…` (or
    /// `afterany`), so that Slurm plans it; `false`: it waits in Horizon
    /// until they ended. `after_not_ok`, and jobs depended on that may be
    /// retried, always wait in Horizon.
    pub hand_dependencies_to_slurm: bool,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            jobs_dir: None,
            bin_dir: None,
            poll_interval_ms: 2000,
            command_timeout_ms: 30_000,
            metrics_interval_ms: 30_000,
            ssh: None,
            max_array_size: None,
            hand_dependencies_to_slurm: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// The login node's host name.
    pub host: String,
    /// Its SSH port.
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// The user to log in as (default: the server's user, or `~/.ssh/config`).
    #[serde(default)]
    pub user: Option<String>,
    /// The private key to log in with (default: the server user's keys).
    #[serde(default)]
    pub identity_file: Option<PathBuf>,
    /// A known_hosts file holding the login node's host key (checked
    /// strictly); default: the server user's own known_hosts.
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
}

/// `[tapis]`: the tenant and how to log in. The password (and an OAuth
/// client, for refresh tokens) come from the environment, never the file:
/// `HORIZON_TAPIS_PASSWORD`, `HORIZON_TAPIS_CLIENT_ID`, `HORIZON_TAPIS_CLIENT_KEY`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TapisSettings {
    /// The tenant's base URL, e.g. `https://tacc.tapis.io`.
    pub base_url: Option<String>,
    /// Also `HORIZON_TAPIS_USERNAME`.
    pub username: Option<String>,
    /// The credentials are a Tapis service's: its token comes from the
    /// Tokens API (`POST /v3/tokens`, the service password as HTTP Basic)
    /// and every call acts for a user (`X-Tapis-User`, `X-Tapis-Tenant`):
    /// the job's `account`, from `[[identity]]` rules' `tapis_user`, else
    /// `default_user`. Off: every job runs as `username`.
    pub service_account: bool,
    /// The tenant the users belong to (`X-Tapis-Tenant`); needed with
    /// `service_account`.
    pub tenant: Option<String>,
    /// The site of the service's token (`target_site_id`), e.g. `tacc`.
    pub site: Option<String>,
    /// With `service_account`: the Tapis user of jobs whose submitter no
    /// `[[identity]]` rule maps; unset, such submissions are refused.
    pub default_user: Option<String>,
    /// One status request per active job per pass: Tapis itself checks its
    /// jobs every 10 s to 10 min, so faster gains little.
    pub poll_interval_ms: u64,
    /// The longest any one Tapis request may take.
    pub request_timeout_ms: u64,
    /// Attempts of a status or cancel request on 5xx / network errors.
    pub attempts: u32,
    /// Status requests in flight at once.
    pub concurrency: usize,
    /// The first retry's wait (doubling after each attempt).
    pub retry_backoff_ms: u64,
}

impl Default for TapisSettings {
    fn default() -> Self {
        TapisSettings {
            base_url: None,
            username: None,
            service_account: false,
            tenant: None,
            site: None,
            default_user: None,
            poll_interval_ms: 15_000,
            request_timeout_ms: 30_000,
            attempts: 4,
            concurrency: 8,
            retry_backoff_ms: 500,
        }
    }
}

fn default_ssh_port() -> u16 {
    22
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchSettings {
    /// How long a job waits for its backend to be reachable (transient
    /// submit failures, retried with backoff) before it FAILs with
    /// SUBMIT_FAILED; a routine scheduler restart must not fail jobs.
    pub give_up_after_ms: u64,
    /// Attempts at most, as well (0: no limit but the time).
    pub max_attempts: u32,
    /// The wait after the first failed submission attempt; doubles (with jitter) up to `max_backoff_ms`.
    pub initial_backoff_ms: u64,
    /// The longest wait between two attempts.
    pub max_backoff_ms: u64,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            give_up_after_ms: 3_600_000,
            max_attempts: 0,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// How long a valid token is remembered without asking the database: a
    /// revoked token stops working at most this long after. 0 = every time.
    pub token_cache_ms: u64,
    /// A connection that has not sent a request's headers within this is
    /// closed (slow or silent clients).
    pub header_read_timeout_ms: u64,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    pub shutdown_grace_ms: u64,
    /// Origins whose web pages may call the API from a browser (CORS), each
    /// `scheme://host[:port]`, e.g. `https://gateway.example.org`; empty
    /// (the default): none, browsers keep other origins' pages out.
    pub cors_origins: Vec<String>,
    /// Submissions a user may make per minute (429 with Retry-After past
    /// it); 0 = no limit. Counted per process.
    pub submit_rate_per_minute: u32,
    /// How many of those may come at once (default: the per-minute rate).
    pub submit_burst: u32,
    /// A request whose body has not fully arrived within this after its
    /// headers gets 408 and its connection is closed (a client trickling
    /// its body). 0 = no limit.
    pub body_read_timeout_ms: u64,
    /// Connections served at once, at most; more wait to be accepted.
    pub max_connections: usize,
    /// Refused unauthenticated requests that get an audit row of their own,
    /// per minute and process; the others are counted
    /// (`horizon_api_denied_total`) and summed up in one row a minute.
    /// 0 = a row for every one.
    pub denied_audit_per_minute: u32,
    /// Server-Sent Event streams one user may have open on this process at
    /// once (429 past it).
    pub max_streams_per_user: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            body_limit_bytes: 256 * 1024,
            token_cache_ms: 5_000,
            header_read_timeout_ms: 10_000,
            shutdown_grace_ms: 10_000,
            cors_origins: Vec::new(),
            submit_rate_per_minute: 0,
            submit_burst: 0,
            body_read_timeout_ms: 30_000,
            max_connections: 8192,
            denied_audit_per_minute: 60,
            max_streams_per_user: 20,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt: Option<JwtSettings>,
}

/// JWT bearer tokens issued by a gateway or its identity provider.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The `iss` a token must carry.
    pub issuer: String,
    /// The `aud` a token must carry (one of its values, when a list).
    pub audience: String,
    /// Accepted `alg`s; default: RS256 and ES256 with public keys, HS256
    /// with a secret.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// A PEM public key (RSA or EC), for tokens without a `kid`.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS document on disk (read at start).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL (HTTPS; plain HTTP only on a loopback address), fetched at
    /// start, again every `jwks_refresh_secs`, and when a token names a key
    /// id it does not know (at most every 10 s), so rotated keys are found.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How often the JWKS is fetched again.
    #[serde(default = "default_jwks_refresh_secs")]
    pub jwks_refresh_secs: u64,
    /// Least time between two fetches prompted by unknown key ids.
    #[serde(default = "default_jwks_refetch_min_secs")]
    pub jwks_refetch_min_secs: u64,
    /// The environment variable holding an HS256 shared secret (the secret
    /// itself never goes in a file Horizon reads).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The claim naming the user (a name, or a dotted path into objects).
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim that makes an admin: `true`, a string equal to
    /// `admin_value`, a space-separated list or an array holding it. A
    /// dotted path reaches into objects: Keycloak's `realm_access.roles`,
    /// `resource_access.<client>.roles`. A token without it makes a normal
    /// user, and the first such token is logged.
    #[serde(default)]
    pub admin_claim: Option<String>,
    /// The value of `admin_claim` that makes an admin.
    #[serde(default = "default_admin_value")]
    pub admin_value: String,
    /// Clock skew allowed on `exp` and `nbf`, seconds.
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
}

fn default_jwks_refresh_secs() -> u64 {
    300
}
fn default_jwks_refetch_min_secs() -> u64 {
    10
}
fn default_user_claim() -> String {
    "sub".into()
}
fn default_admin_value() -> String {
    "horizon-admin".into()
}
fn default_leeway_secs() -> u64 {
    30
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_data_dir() -> PathBuf {
    per_user_data_dir().unwrap_or_else(|| PathBuf::from("/var/lib/horizon"))
}

/// `$XDG_DATA_HOME/horizon`, else `$HOME/.local/share/horizon`.
pub fn per_user_data_dir() -> Option<PathBuf> {
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    nonempty("XDG_DATA_HOME")
        .map(|d| PathBuf::from(d).join("horizon"))
        .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".local/share/horizon")))
}

impl Settings {
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The database URL as it may be logged: any password masked.
    pub fn database_url_masked(&self) -> String {
        mask_url(&self.database_url())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("horizon.db").display()))
    }

    /// How often the watcher asks a backend about its jobs.
    pub fn poll_interval(&self, kind: BackendKind) -> Duration {
        let ms = match kind {
            BackendKind::Slurm => self.slurm.poll_interval_ms,
            BackendKind::Tapis => self.tapis.poll_interval_ms,
            BackendKind::Local => self.local.poll_interval_ms,
        };
        Duration::from_millis(ms.max(10))
    }
}

/// A URL with its password (`user:password@`, `password=` in the query)
/// replaced by `****`, for logs and errors.
pub fn mask_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let from = rest_start + colon + 1;
                out.replace_range(from..rest_start + at, "****");
            }
        }
    }
    if let Some(query) = out.find('?') {
        let (head, tail) = out.split_at(query + 1);
        let masked: Vec<String> = tail
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=****"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

#[cfg(test)]
mod mask_tests {
    use super::mask_url;

    #[test]
    fn passwords_are_masked_wherever_they_are() {
        assert_eq!(
            mask_url("postgres://horizon:s3cret@db:5432/h"),
            "postgres://horizon:****@db:5432/h"
        );
        assert_eq!(
            mask_url("postgres://horizon:p@ss@db/h?sslmode=require&password=x"),
            "postgres://horizon:****@db/h?sslmode=require&password=****"
        );
        assert_eq!(
            mask_url("postgres://horizon@db/h"),
            "postgres://horizon@db/h"
        );
        assert_eq!(mask_url("sqlite:///var/lib/h.db"), "sqlite:///var/lib/h.db");
    }
}

#[cfg(test)]
mod bind_tests {
    use super::{Settings, resolve_bind};

    #[test]
    fn bind_takes_a_host_name_or_an_address() {
        assert_eq!(
            resolve_bind("localhost:8080").expect("resolves"),
            "127.0.0.1:8080".parse().expect("address")
        );
        assert_eq!(
            resolve_bind("[::1]:9").expect("an address"),
            "[::1]:9".parse().expect("address")
        );
        let err = resolve_bind("8080").expect_err("no host");
        assert!(err.contains("not host:port"), "{err}");
        let parsed = Settings::from_toml("bind = \"localhost:8081\"").expect("parses");
        assert_eq!(parsed.bind.port(), 8081);
    }
}
