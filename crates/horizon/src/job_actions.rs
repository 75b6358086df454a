//! `horizon clone`, `horizon hold` and `horizon release`.

use std::process::ExitCode;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::ClientArgs;
use crate::client::Client;
use crate::commands::{follow, print_job};

/// What a clone changes; `None`/empty: the original's.
pub struct CloneRequest {
    pub dataset: Option<String>,
    pub parameters: Map<String, Value>,
    pub resources: Option<Value>,
    pub idempotency_key: Option<String>,
}

pub async fn clone(
    args: &ClientArgs,
    id: &str,
    request: CloneRequest,
    wait: bool,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let mut body = json!({});
    if let Some(dataset) = request.dataset {
        body["dataset_id"] = dataset.into();
    }
    if !request.parameters.is_empty() {
        body["parameters"] = Value::Object(request.parameters);
    }
    if let Some(resources) = request.resources {
        body["resources"] = resources;
    }
    let mut call = client
        .request(Method::POST, &format!("/v1/jobs/{id}/clone"))
        .json(&body);
    if let Some(key) = &request.idempotency_key {
        call = call.header("Idempotency-Key", key);
    }
    let (_, job) = client.send(call).await?;
    if !wait {
        print_job(&job, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let new = job["id"]
        .as_str()
        .context("server returned a job without id")?
        .to_owned();
    if !args.json {
        println!("cloned job {id} as {new}");
    }
    follow(&client, &new, args.json).await
}

/// Hold (`hold` true) or release a job.
pub async fn hold(
    args: &ClientArgs,
    id: &str,
    hold: bool,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let body = match reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    let verb = if hold { "hold" } else { "release" };
    let (_, job) = client
        .send(
            client
                .request(Method::POST, &format!("/v1/jobs/{id}/{verb}"))
                .json(&body),
        )
        .await?;
    print_job(&job, args.json)?;
    Ok(ExitCode::SUCCESS)
}
