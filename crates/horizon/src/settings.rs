//! Loading the configuration: the file named by --config / HORIZON_CONFIG (or
//! the embedded defaults), then the environment's overrides.

use std::path::{Path, PathBuf};

use anyhow::Context;
use horizon_server::config::{EMBEDDED_DEFAULTS, Settings};

/// The demo agent of the embedded defaults, written into the data directory
/// so it runs wherever `horizon serve` was started.
const DEMO_AGENT: (&str, &str) = (
    "examples/agents/alphacal.py",
    include_str!("../../../examples/agents/alphacal.py"),
);

pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
    let embedded = path.is_none();
    let mut settings = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration {}", path.display()))?;
            let mut settings = Settings::from_toml(&text)
                .with_context(|| format!("invalid configuration {}", path.display()))?;
            // relative paths in a file are relative to that file
            let dir = std::path::absolute(path)?
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            if settings.data_dir.is_relative() {
                settings.data_dir = dir.join(&settings.data_dir);
            }
            settings.base_dir = Some(dir);
            settings
        }
        None => Settings::from_toml(EMBEDDED_DEFAULTS).context("invalid embedded defaults")?,
    };
    if let Some(bind) = env("HORIZON_BIND") {
        settings.bind = horizon_server::config::resolve_bind(&bind)
            .map_err(|err| anyhow::anyhow!("HORIZON_BIND: {err}"))?;
    }
    if let Some(dir) = env("HORIZON_DATA_DIR") {
        settings.data_dir = std::path::absolute(PathBuf::from(dir))?;
    }
    if embedded {
        let base = settings.data_dir.join("embedded");
        let (name, text) = DEMO_AGENT;
        let file = base.join(name);
        if std::fs::read_to_string(&file).ok().as_deref() != Some(text) {
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&file, text)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        settings.base_dir = Some(base);
    }
    if let Some(url) = env("HORIZON_DATABASE_URL") {
        settings.database_url = Some(url);
    }
    if let Some(format) = env("HORIZON_LOG_FORMAT") {
        settings.log.format = match format.as_str() {
            "json" => horizon_server::config::LogFormat::Json,
            "text" => horizon_server::config::LogFormat::Text,
            other => anyhow::bail!("HORIZON_LOG_FORMAT: {other:?} is not text or json"),
        };
    }
    if let Some(password) = env("HORIZON_DATABASE_PASSWORD") {
        settings.database.password = Some(password);
    }
    if let Some(brokers) = env("HORIZON_KAFKA_BROKERS") {
        settings.kafka.brokers = brokers;
    }
    Ok(settings)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
