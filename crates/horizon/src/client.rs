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

/// One message of a Server-Sent Event stream.
pub struct SseMessage {
    pub id: String,
    /// Its `event:` name ("message" when none).
    pub event: String,
    pub data: String,
}

/// The messages of one connection.
type Messages = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

/// A Server-Sent Event stream of the API, followed across dropped
/// connections: each reconnection sends `Last-Event-ID`, so nothing is
/// missed or read twice. It ends when the server closes a stream that has
/// no more to say (204 on reconnecting, or an `end` event).
pub struct SseFollower<'a> {
    client: &'a Client,
    path: String,
    last_id: Option<String>,
    events: Option<Messages>,
    /// Failed connection attempts in a row.
    failures: u32,
    done: bool,
}

impl Client {
    pub fn stream(&self, path: &str) -> SseFollower<'_> {
        SseFollower {
            client: self,
            path: path.to_owned(),
            last_id: None,
            events: None,
            failures: 0,
            done: false,
        }
    }
}

impl SseFollower<'_> {
    /// Start after this id instead of at the beginning.
    pub fn resume_from(&mut self, id: String) {
        self.last_id = Some(id);
    }

    /// The next message; None once the stream is over.
    pub async fn next(&mut self) -> anyhow::Result<Option<SseMessage>> {
        use eventsource_stream::Eventsource;
        use futures_util::StreamExt;
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(events) = &mut self.events else {
                let mut request = self.client.request(Method::GET, &self.path);
                if let Some(id) = &self.last_id {
                    request = request.header("Last-Event-ID", id);
                }
                match request.send().await {
                    Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                        self.done = true;
                        continue;
                    }
                    Ok(response) if response.status().is_success() => {
                        self.failures = 0;
                        self.events = Some(Box::pin(response.bytes_stream().eventsource()));
                    }
                    Ok(response) if !response.status().is_server_error() => {
                        let status = response.status();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        bail!(
                            "{status}: {}",
                            body["detail"].as_str().unwrap_or("no details")
                        );
                    }
                    Ok(_) | Err(_) => self.backoff().await?,
                }
                continue;
            };
            match events.next().await {
                Some(Ok(event)) if event.data.is_empty() => {}
                Some(Ok(event)) => {
                    if !event.id.is_empty() {
                        self.last_id = Some(event.id.clone());
                    }
                    if event.event == "end" {
                        self.done = true;
                    }
                    return Ok(Some(SseMessage {
                        id: event.id,
                        event: event.event,
                        data: event.data,
                    }));
                }
                // dropped (or the server closed it): reconnect after the last id
                Some(Err(_)) | None => {
                    self.events = None;
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
            }
        }
    }

    async fn backoff(&mut self) -> anyhow::Result<()> {
        self.failures += 1;
        if self.failures > 60 {
            bail!("cannot reach Horizon at {} for a minute", self.client.base);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        Ok(())
    }
}
