//! A minimal Server-Sent Events reader for the tests (the `eventsource`
//! npm client in `tools/clients/eventsource` is the third-party one).
#![allow(dead_code, clippy::unwrap_used)]

use reqwest::{Method, StatusCode};

use super::Api;

/// One message: its id, its `event:` name (None: "message") and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

pub struct Reader {
    response: reqwest::Response,
    buffer: String,
}

/// Open `path`, resuming after `last_id`; the status when it is not 200.
pub async fn connect(api: &Api, path: &str, last_id: Option<&str>) -> Result<Reader, StatusCode> {
    let mut request = api.request(Method::GET, path);
    if let Some(id) = last_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/event-stream"), "{kind}");
    Ok(Reader {
        response,
        buffer: String::new(),
    })
}

impl Reader {
    /// The next message with data (comments and retry hints skipped); None
    /// once the server closed the stream. Panics after 30 s without one
    /// (a stream that stalls must fail a test, not hang it).
    pub async fn next(&mut self) -> Option<Message> {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.next_message())
            .await
            .expect("no message for 30 s: the stream stalled")
    }

    async fn next_message(&mut self) -> Option<Message> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = Message {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut has_data = false;
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => message.id = Some(value.to_owned()),
                        "event" => message.event = Some(value.to_owned()),
                        "data" => {
                            if has_data {
                                message.data.push('\n');
                            }
                            message.data.push_str(value);
                            has_data = true;
                        }
                        _ => {}
                    }
                }
                if has_data {
                    return Some(message);
                }
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}
