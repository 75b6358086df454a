//! A small HTTP client for Horizon's API, used by the CLI commands.

use anyhow::{Context, bail};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::ClientArgs;

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let token = args.token.clone().context(
            "no API token: set HORIZON_TOKEN or pass --token (see `horizon token create`)",
        )?;
        if !args.url.contains("://") {
            anyhow::bail!(
                "server URL {:?} has no scheme: use http://{} (HORIZON_URL or --url)",
                args.url,
                args.url
            );
        }
        Ok(Client {
            http: reqwest::Client::new(),
            base: args.url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Send and return the JSON body of a 2xx answer, or the problem's detail.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach Horizon at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = body["detail"].as_str().unwrap_or("no details");
            bail!("{status}: {detail}");
        }
        Ok((status, body))
    }

    /// The text of an unauthenticated GET (`/metrics`).
    pub async fn text(&self, path: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("cannot reach Horizon at {}", self.base))?;
        Ok(response.text().await?)
    }

    /// A piece of a job's log: the offset just past it (`X-Log-Start` + its
    /// length) and its bytes.
    pub async fn log_chunk(&self, path: &str) -> anyhow::Result<(u64, Vec<u8>)> {
        let response = self
            .request(Method::GET, path)
            .send()
            .await
            .with_context(|| format!("cannot reach Horizon at {}", self.base))?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let detail = body["detail"].as_str().unwrap_or("no details");
            bail!("{status}: {detail}");
        }
        let start: u64 = response
            .headers()
            .get("x-log-start")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let bytes = response.bytes().await?.to_vec();
        Ok((start + bytes.len() as u64, bytes))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.send(self.request(Method::GET, path)).await?.1)
    }
}
