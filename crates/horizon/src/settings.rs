//! Loading the configuration: the file named by --config / HORIZON_CONFIG (or
//! the embedded defaults), then the environment's overrides.

use std::path::Path;

use anyhow::Context;
use horizon_server::config::{EMBEDDED_DEFAULTS, Settings};

pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
    let mut settings = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read configuration {}", path.display()))?;
            Settings::from_toml(&text)
                .with_context(|| format!("invalid configuration {}", path.display()))?
        }
        None => Settings::from_toml(EMBEDDED_DEFAULTS).context("invalid embedded defaults")?,
    };
    if let Some(bind) = env("HORIZON_BIND") {
        settings.bind = bind
            .parse()
            .with_context(|| format!("HORIZON_BIND={bind:?} is not host:port"))?;
    }
    if let Some(dir) = env("HORIZON_DATA_DIR") {
        settings.data_dir = dir.into();
    }
    if let Some(url) = env("HORIZON_DATABASE_URL") {
        settings.database_url = Some(url);
    }
    if let Some(brokers) = env("HORIZON_KAFKA_BROKERS") {
        settings.kafka.brokers = brokers;
    }
    Ok(settings)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
