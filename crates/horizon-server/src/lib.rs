//! Horizon's server: the HTTP API and the workers that move jobs along,
//! assembled by [`serve`].
//!
//! Architecture invariant: HTTP status codes are decided here and only here
//! (`api::problem`); the store and backends report typed errors.

pub mod api;
pub mod backend_health;
pub mod config;
pub mod config_reference;
pub mod http;
pub mod identity;
mod lifecycle;
pub mod live;
pub mod tasks;
pub mod telemetry;
pub mod webhooks;
pub mod workers;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use horizon_backend::local::{LocalAgent, LocalBackend, LocalConfig};
use horizon_backend::slurm::{Shell, SlurmAgent, SlurmBackend, SlurmConfig, SshTarget};
use horizon_backend::tapis::{
    TapisAgent, TapisBackend, TapisClient, TapisConfig, TapisCredentials, TapisService,
};
use horizon_backend::{Backend, BackendError};
use horizon_core::BackendKind;
use horizon_store::{PgStore, SqliteStore, Store, StoreError};
use tokio::sync::Notify;
use tracing::info;

use api::AppState;
use config::Settings;
use tasks::{TaskHealth, supervise};
use workers::dispatcher::Dispatcher;
use workers::watcher::{Watcher, merge_notifiers};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("metrics: {0}")]
    Metrics(String),
    /// (the cause is printed by whoever prints the chain, once)
    #[error("cannot listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Open the store named by the settings: SQLite or PostgreSQL.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, ServeError> {
    let url = settings.database_url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        return Ok(Arc::new(SqliteStore::connect(&url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let db = &settings.database;
        let password = match &db.password_file {
            Some(file) => {
                let path = settings
                    .base_dir
                    .as_ref()
                    .map_or_else(|| file.clone(), |base| base.join(file));
                let text = std::fs::read_to_string(&path).map_err(|err| {
                    ServeError::Config(format!(
                        "cannot read [database] password_file {}: {err}",
                        path.display()
                    ))
                })?;
                Some(text.lines().next().unwrap_or_default().to_owned())
            }
            None => db.password.clone(),
        };
        let options = horizon_store::PgOptions {
            max_connections: db.max_connections,
            acquire_timeout: Duration::from_millis(db.acquire_timeout_ms.max(100)),
            password,
        };
        return Ok(Arc::new(PgStore::connect_with(&url, &options).await?));
    }
    Err(ServeError::Config(format!(
        "unsupported database URL {:?}: use sqlite://… or postgres://…",
        config::mask_url(&url)
    )))
}

/// How often the refused requests that got no audit row are summed up.
const DENIED_SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Where this process runs local jobs: its host and local jobs directory.
/// Only a process with the same scope adopts another's local jobs.
fn local_scope(settings: &Settings) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let dir = settings
        .local
        .jobs_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("jobs"));
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    format!("{host}:{}", dir.display())
}

/// The data directory's process id (see `serve`), made on first use.
fn process_id(dir: &std::path::Path) -> Result<uuid::Uuid, ServeError> {
    let path = dir.join("process-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(id) = uuid::Uuid::parse_str(text.trim())
    {
        return Ok(id);
    }
    let id = uuid::Uuid::now_v7();
    horizon_backend::local::files::write_durable(&path, format!("{id}\n").as_bytes())?;
    Ok(id)
}

/// How often this process says it is alive (see `PROCESS_TIMEOUT`).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// The backends by kind.
pub type Backends = HashMap<BackendKind, Arc<dyn Backend>>;

/// Build the configured backends, and the notifiers that say a job's program ended.
pub fn build_backends(
    settings: &Settings,
    supervisor: PathBuf,
) -> Result<(Backends, Vec<Arc<Notify>>), ServeError> {
    let mut local_agents = HashMap::new();
    let mut slurm_agents = HashMap::new();
    let mut tapis_agents = HashMap::new();
    crate::identity::check(&settings.identity).map_err(ServeError::Config)?;
    crate::api::cors::origins(&settings.api.cors_origins).map_err(ServeError::Config)?;
    for (name, agent) in &settings.agents {
        agent
            .default_resources
            .check(&agent.max_resources)
            .map_err(|err| ServeError::Config(format!("agent {name}: default_{err}")))?;
        match agent.backend {
            BackendKind::Local => {
                let program = agent.program.clone().ok_or_else(|| {
                    ServeError::Config(format!("agent {name}: a local agent needs `program`"))
                })?;
                local_agents.insert(
                    name.clone(),
                    LocalAgent {
                        program: absolute_if_present(settings, &program.to_string_lossy()).into(),
                        // programs run in their job's directory: relative paths
                        // to files that exist are made absolute
                        args: agent
                            .args
                            .iter()
                            .map(|a| absolute_if_present(settings, a))
                            .collect(),
                        env: agent
                            .env
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    },
                );
            }
            BackendKind::Slurm => {
                let program = agent.program.clone().ok_or_else(|| {
                    ServeError::Config(format!("agent {name}: a Slurm agent needs `program`"))
                })?;
                for option in &agent.sbatch_options {
                    horizon_backend::slurm::check_sbatch_option(option).map_err(|why| {
                        ServeError::Config(format!("agent {name}: sbatch_options: {why}"))
                    })?;
                }
                if let Some(line) = agent
                    .preamble
                    .iter()
                    .find(|l| l.contains(['\n', '\r', '\0']))
                {
                    return Err(ServeError::Config(format!(
                        "agent {name}: preamble: one line per entry, got {line:?}"
                    )));
                }
                slurm_agents.insert(
                    name.clone(),
                    SlurmAgent {
                        program: program.to_string_lossy().into_owned(),
                        args: agent.args.clone(),
                        env: agent
                            .env
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        partition: agent.partition.clone(),
                        account: agent.account.clone(),
                        qos: agent.qos.clone(),
                        sbatch_options: agent.sbatch_options.clone(),
                        preamble: agent.preamble.clone(),
                    },
                );
            }
            BackendKind::Tapis => {
                let need = |value: &Option<String>, key: &str| {
                    value.clone().ok_or_else(|| {
                        ServeError::Config(format!("agent {name}: a Tapis agent needs `{key}`"))
                    })
                };
                tapis_agents.insert(
                    name.clone(),
                    TapisAgent {
                        app_id: need(&agent.app_id, "app_id")?,
                        app_version: need(&agent.app_version, "app_version")?,
                        exec_system_id: agent.exec_system_id.clone(),
                        args: agent.args.clone(),
                        env: agent
                            .env
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    },
                );
            }
        }
    }
    let run_as = settings
        .local
        .run_as
        .as_deref()
        .map(resolve_user)
        .transpose()?;
    let local = LocalBackend::new(LocalConfig {
        run_as,
        jobs_dir: settings
            .local
            .jobs_dir
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("jobs")),
        // 0 slots: nothing starts, jobs wait in QUEUED (maintenance, benchmarks)
        slots: settings.local.slots,
        metrics_interval: Duration::from_millis(settings.local.metrics_interval_ms.max(50)),
        cancel_grace: Duration::from_millis(settings.local.cancel_grace_ms),
        supervisor_args: if supervisor
            .file_name()
            .is_some_and(|name| name == "horizon-supervise")
        {
            Vec::new()
        } else {
            vec!["supervise".to_owned()]
        },
        supervisor,
        agents: local_agents,
    })?;
    let exited = local.exit_notifier();
    // each attempt of a retried job is a job of its own to its backend
    let attempts = |backend: Arc<dyn Backend>| -> Arc<dyn Backend> {
        Arc::new(horizon_backend::Attempts(backend))
    };
    let mut backends = Backends::new();
    backends.insert(BackendKind::Local, attempts(Arc::new(local)));
    if !slurm_agents.is_empty() {
        backends.insert(
            BackendKind::Slurm,
            attempts(Arc::new(build_slurm(settings, slurm_agents)?)),
        );
    }
    if !tapis_agents.is_empty() {
        backends.insert(
            BackendKind::Tapis,
            attempts(Arc::new(build_tapis(settings, tapis_agents)?)),
        );
    }
    // an agent's defaults must be something its backend can give
    for (name, agent) in &settings.agents {
        if let Some(backend) = backends.get(&agent.backend) {
            backend
                .check_resources(&agent.default_resources)
                .map_err(|err| {
                    ServeError::Config(format!("agent {name}: default_resources: {err}"))
                })?;
        }
        if let Some(retry) = &agent.retry {
            retry
                .policy(agent.max_resources)
                .validate()
                .map_err(|err| ServeError::Config(format!("agent {name}: {err}")))?;
        }
    }
    Ok((backends, vec![exited]))
}

fn build_slurm(
    settings: &Settings,
    agents: HashMap<String, SlurmAgent>,
) -> Result<SlurmBackend, ServeError> {
    let slurm = &settings.slurm;
    let state_dir = settings.data_dir.join("slurm-state");
    let shell = match &slurm.ssh {
        None => Shell::Local,
        Some(ssh) => {
            let control_dir = settings.data_dir.join("ssh");
            std::fs::create_dir_all(&control_dir)?;
            Shell::Ssh(SshTarget {
                host: ssh.host.clone(),
                port: ssh.port,
                user: ssh.user.clone(),
                identity_file: ssh.identity_file.clone(),
                known_hosts: ssh.known_hosts.clone(),
                control_dir,
            })
        }
    };
    let jobs_dir = match (&slurm.jobs_dir, &slurm.ssh) {
        (Some(dir), _) => dir.clone(),
        (None, None) => std::path::absolute(settings.data_dir.join("slurm"))?
            .display()
            .to_string(),
        (None, Some(_)) => {
            return Err(ServeError::Config(
                "[slurm] over SSH needs `jobs_dir`: a directory on the cluster's shared file system"
                    .to_owned(),
            ));
        }
    };
    Ok(SlurmBackend::new(SlurmConfig {
        shell,
        jobs_dir,
        state_dir,
        bin_dir: slurm.bin_dir.clone(),
        command_timeout: Duration::from_millis(slurm.command_timeout_ms.max(100)),
        metrics_interval: Duration::from_millis(slurm.metrics_interval_ms.max(100)),
        max_array_size: slurm.max_array_size,
        agents,
    })?)
}

fn build_tapis(
    settings: &Settings,
    agents: HashMap<String, TapisAgent>,
) -> Result<TapisBackend, ServeError> {
    let tapis = &settings.tapis;
    let base = tapis.base_url.clone().ok_or_else(|| {
        ServeError::Config("[tapis] base_url is needed by the Tapis agents".to_owned())
    })?;
    let username = std::env::var("HORIZON_TAPIS_USERNAME")
        .ok()
        .or_else(|| tapis.username.clone())
        .ok_or_else(|| {
            ServeError::Config("[tapis] username (or HORIZON_TAPIS_USERNAME) is needed".to_owned())
        })?;
    let password = std::env::var("HORIZON_TAPIS_PASSWORD").map_err(|_| {
        ServeError::Config("HORIZON_TAPIS_PASSWORD is needed by the Tapis agents".to_owned())
    })?;
    let client = match (
        std::env::var("HORIZON_TAPIS_CLIENT_ID"),
        std::env::var("HORIZON_TAPIS_CLIENT_KEY"),
    ) {
        (Ok(id), Ok(key)) => Some((id, key)),
        _ => None,
    };
    let service = if tapis.service_account {
        let tenant = tapis.tenant.clone().ok_or_else(|| {
            ServeError::Config("[tapis] service_account needs `tenant` (X-Tapis-Tenant)".to_owned())
        })?;
        for user in tapis.default_user.iter() {
            if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ServeError::Config(format!(
                    "[tapis] default_user {user:?} is not a Tapis user name"
                )));
            }
        }
        Some(TapisService {
            tenant,
            site: tapis.site.clone(),
            default_user: tapis.default_user.clone(),
        })
    } else {
        if crate::identity::maps_tapis_users(&settings.identity) {
            return Err(ServeError::Config(
                "[[identity]] rules name Tapis users, which needs [tapis] service_account = true \
                 (Horizon acts for each user as a Tapis service)"
                    .to_owned(),
            ));
        }
        None
    };
    let client = TapisClient::new(
        &base,
        TapisCredentials {
            username,
            password,
            client,
            service,
        },
        Duration::from_millis(tapis.request_timeout_ms.max(100)),
        tapis.attempts,
        Duration::from_millis(tapis.retry_backoff_ms),
    )?;
    Ok(TapisBackend::new(TapisConfig {
        client,
        state_dir: settings.data_dir.join("tapis-state"),
        agents,
        concurrency: tapis.concurrency,
    })?)
}

/// A relative path to a file that exists under the configuration's
/// directory (else the current one), made absolute; anything else as is.
fn absolute_if_present(settings: &Settings, arg: &str) -> String {
    let path = std::path::Path::new(arg);
    if path.is_relative() && path.components().count() > 0 {
        let bases = settings
            .base_dir
            .iter()
            .cloned()
            .chain(std::env::current_dir().ok());
        for base in bases {
            let candidate = base.join(path);
            if candidate.exists() {
                return candidate.display().to_string();
            }
        }
    }
    arg.to_owned()
}

/// `[local] run_as`: a user name's uid and gid.
fn resolve_user(name: &str) -> Result<(u32, u32), ServeError> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|err| ServeError::Config(format!("[local] run_as = {name:?}: {err}")))?
        .ok_or_else(|| ServeError::Config(format!("[local] run_as: no user named {name:?}")))?;
    if !nix::unistd::Uid::effective().is_root() {
        return Err(ServeError::Config(format!(
            "[local] run_as = {name:?} needs `horizon serve` to run as root"
        )));
    }
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

/// Keep the data directory's database out of the reach of programs that run
/// as another user: the directory may be passed through, not listed, and the
/// database files are the server's alone.
fn protect_data_dir(settings: &Settings) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = &settings.data_dir;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("horizon.db")
        {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Hold the data directory for this process: a second `horizon serve` on
/// it would dispatch and run the same jobs. Released when the process ends,
/// however it ends (an advisory `flock` on `horizon.lock`).
fn lock_data_dir(dir: &std::path::Path) -> Result<nix::fcntl::Flock<std::fs::File>, ServeError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join("horizon.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut locked) => {
            locked.set_len(0)?;
            locked.seek(std::io::SeekFrom::Start(0))?;
            writeln!(locked, "{}", std::process::id())?;
            Ok(locked)
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(ServeError::Config(format!(
                "data directory {} is in use by another `horizon serve` (pid {}); \
                 stop it, or give this one its own HORIZON_DATA_DIR",
                dir.display(),
                holder.trim()
            )))
        }
        Err((_, errno)) => Err(ServeError::Io(std::io::Error::from(errno))),
    }
}

/// Run the API and the workers until `shutdown` resolves.
pub async fn serve(
    settings: Settings,
    supervisor: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&settings.data_dir)?;
    let _lock = lock_data_dir(&settings.data_dir)?;
    http::raise_open_file_limit();
    let committed = Arc::new(Notify::new());
    let store = open_store(&settings).await?;
    // this process's commits of events ring the relay's bell
    store.ring_on_commit(committed.clone());
    // commits of other processes on the same database ring the same bell
    // as this one's own (the relay publishes them at once)
    store.listen_for_commits(committed.clone());
    let (backends, exit_notifiers) = build_backends(&settings, supervisor)?;
    protect_data_dir(&settings)?;
    let prometheus = telemetry::install().map_err(|e| ServeError::Metrics(e.to_string()))?;
    let dispatch_wake = Arc::new(Notify::new());
    let queued = Arc::new(Notify::new());
    let health = Arc::new(TaskHealth::new());
    // this process, among the ones that share a database: alive before it
    // claims anything, and beating every few seconds after. The id belongs
    // to the data directory (one server at a time), so a restarted server
    // goes on with its own jobs at once instead of waiting for its former
    // self to time out.
    let process = process_id(&settings.data_dir)?;
    let scope = local_scope(&settings);
    store.register_process(process, &scope).await?;
    {
        let store = store.clone();
        supervise(
            health.clone(),
            "heartbeat",
            "heartbeat".to_owned(),
            move || {
                let store = store.clone();
                async move {
                    loop {
                        tokio::time::sleep(HEARTBEAT_EVERY).await;
                        if let Err(err) = store.heartbeat(process).await {
                            tracing::warn!("heartbeat: {err}");
                        }
                    }
                }
            },
        );
    }
    info!(%process, "process {process}");
    let database = settings.database_url_masked();
    info!(%database, "database {database}");

    let backend_health = Arc::new(backend_health::BackendHealth::default());
    for (kind, backend) in &backends {
        let dispatcher = Arc::new(Dispatcher {
            store: store.clone(),
            backend: backend.clone(),
            settings: settings.dispatch.clone(),
            wake: dispatch_wake.clone(),
            queued: queued.clone(),
            process,
            health: backend_health.clone(),
        });
        supervise(
            health.clone(),
            "dispatcher",
            format!("dispatcher-{kind}"),
            move || dispatcher.clone().run(),
        );
        let mut wake = exit_notifiers.clone();
        wake.push(queued.clone());
        let watcher = Arc::new(Watcher {
            store: store.clone(),
            backend: backend.clone(),
            interval: settings.poll_interval(*kind),
            wake: merge_notifiers(wake),
            process,
            health: backend_health.clone(),
        });
        supervise(
            health.clone(),
            "watcher",
            format!("watcher-{kind}"),
            move || watcher.clone().run(),
        );
    }

    // every commit rings the relay's bell, the live streams' and the
    // webhooks' fan-out's
    let (relay_bell, live_bell, webhook_bell, dependency_bell) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    {
        let bells = [
            relay_bell.clone(),
            live_bell.clone(),
            webhook_bell.clone(),
            dependency_bell.clone(),
        ];
        tokio::spawn(async move {
            loop {
                committed.notified().await;
                for bell in &bells {
                    bell.notify_one();
                }
            }
        });
    }
    let webhooks = Arc::new(
        webhooks::Webhooks::new(
            store.clone(),
            process,
            settings.webhooks.clone(),
            &settings.email,
            webhook_bell,
        )
        .map_err(ServeError::Config)?,
    );
    {
        let fan_out = webhooks.clone();
        supervise(
            health.clone(),
            "webhooks",
            "webhook-fan-out".to_owned(),
            move || fan_out.clone().fan_out(),
        );
        let sender = webhooks.clone();
        supervise(
            health.clone(),
            "webhooks",
            "webhook-sender".to_owned(),
            move || sender.clone().send(),
        );
    }
    {
        let dependencies = Arc::new(workers::dependencies::Dependencies {
            store: store.clone(),
            bell: dependency_bell,
            dispatch: dispatch_wake.clone(),
            backends: backends.clone(),
            scheduler_handoff: settings.slurm.hand_dependencies_to_slurm,
        });
        supervise(
            health.clone(),
            "dependencies",
            "dependencies".to_owned(),
            move || dependencies.clone().run(),
        );
    }
    let live = live::LiveHub::new(store.clone(), live_bell);
    {
        let live = live.clone();
        supervise(
            health.clone(),
            "live",
            "live-events".to_owned(),
            move || live.clone().run(),
        );
    }
    let (stop_relay, relay_stop) = tokio::sync::watch::channel(false);
    let (relay, relay_task) = if settings.kafka.enabled() {
        let relay = horizon_kafka::Relay::new(store.clone(), settings.kafka.clone(), relay_bell);
        let status = relay.status();
        let task = supervise(health.clone(), "relay", "relay".to_owned(), move || {
            relay.clone().run(relay_stop.clone())
        });
        (Some(status), Some(task))
    } else {
        info!("no Kafka configured: events stay readable through the API only");
        (None, None)
    };

    let addr = settings.bind;
    let tokens = Arc::new(api::TokenCache::new(Duration::from_millis(
        settings.api.token_cache_ms,
    )));
    let jwt = match &settings.auth.jwt {
        Some(jwt) => Some(Arc::new(
            api::jwt::JwtVerifier::new(jwt, settings.base_dir.as_deref())
                .await
                .map_err(|e| ServeError::Config(e.to_string()))?,
        )),
        None => None,
    };
    let submit_limit = api::limits::SubmitRateLimit::new(
        settings.api.submit_rate_per_minute,
        settings.api.submit_burst,
    )
    .map(Arc::new);
    let settings_denied_per_minute = settings.api.denied_audit_per_minute;
    let state = AppState {
        jwt,
        submit_limit,
        store,
        settings: Arc::new(settings),
        backends: Arc::new(backends),
        dispatch_wake,
        prometheus: Some(prometheus),
        relay,
        tasks: health,
        tokens,
        replays: Default::default(),
        backend_health: backend_health.clone(),
        denials: Arc::new(api::denials::Denials::new(settings_denied_per_minute)),
        live,
        streams: Default::default(),
        process: Arc::new(api::cluster::ThisProcess::new(process, scope)),
    };
    {
        // the refusals that got no audit row of their own, summed up
        let state = state.clone();
        supervise(
            state.tasks.clone(),
            "denied-summary",
            "denied-summary".to_owned(),
            move || {
                let state = state.clone();
                async move {
                    let mut every = tokio::time::interval(DENIED_SUMMARY_EVERY);
                    every.tick().await;
                    loop {
                        every.tick().await;
                        api::audit::write_denied_summary(&state).await;
                    }
                }
            },
        );
    }
    let retention = workers::retention::Retention {
        store: state.store.clone(),
        settings: state.settings.retention.clone(),
        published_only: state.relay.is_some(),
        job_dirs: workers::retention::Retention::job_dirs_of(&state.settings),
    };
    if retention.enabled() {
        supervise(
            state.tasks.clone(),
            "retention",
            "retention".to_owned(),
            move || retention.clone().run(),
        );
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr()?;
    info!(%local, "horizon listening on http://{local}");
    let limits = http::HttpLimits {
        header_read_timeout: Duration::from_millis(state.settings.api.header_read_timeout_ms),
        shutdown_grace: Duration::from_millis(state.settings.api.shutdown_grace_ms),
        max_connections: state.settings.api.max_connections.max(1),
    };
    http::serve(listener, api::router(state.clone()), limits, shutdown).await;
    api::audit::write_denied_summary(&state).await;
    // let the relay settle what Kafka has in flight, so a restart does not
    // send it again
    if let Some(task) = relay_task {
        let _ = stop_relay.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
    }
    Ok(())
}
