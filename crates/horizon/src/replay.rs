//! `horizon events replay`: publish stored events to Kafka again (admin),
//! following the replay's progress until it ends.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::ClientArgs;
use crate::client::Client;

/// What to replay (at least one of the first three), where, how fast.
#[derive(Debug, Default)]
pub struct Selection {
    pub job: Option<String>,
    pub since: Option<String>,
    pub from_position: Option<i64>,
    pub to_topic: Option<String>,
    pub rate: Option<u32>,
}

pub async fn replay(args: &ClientArgs, selection: Selection) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let mut body = Map::new();
    let fields = [
        ("job_id", selection.job.map(Value::from)),
        ("since", selection.since.map(Value::from)),
        ("from_position", selection.from_position.map(Value::from)),
        ("to_topic", selection.to_topic.map(Value::from)),
        ("rate_per_second", selection.rate.map(Value::from)),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            body.insert(key.to_owned(), value);
        }
    }
    let (_, started) = client
        .send(
            client
                .request(Method::POST, "/v1/admin/events/replay")
                .json(&json!(body)),
        )
        .await?;
    let id = started["replay_id"].as_str().unwrap_or_default().to_owned();
    if !args.json {
        eprintln!("replay {id}: {} event(s)", started["total"]);
    }
    let mut last = started;
    while last["state"] == "running" {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, progress) = client
            .send(client.request(Method::GET, &format!("/v1/admin/events/replay/{id}")))
            .await?;
        if !args.json {
            eprint!("\rreplayed {}/{}", progress["sent"], progress["total"]);
            let _ = std::io::stderr().flush();
        }
        last = progress;
    }
    if args.json {
        println!("{last}");
    } else {
        eprintln!();
        match last["state"].as_str() {
            Some("done") => println!(
                "replay {id} done: {} event(s) published again",
                last["sent"]
            ),
            _ => println!(
                "replay {id} failed after {} event(s): {}",
                last["sent"],
                last["error"].as_str().unwrap_or("no detail")
            ),
        }
    }
    Ok(if last["state"] == "done" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
