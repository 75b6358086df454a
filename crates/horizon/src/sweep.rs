//! `horizon submit --sweep` (one request, a job per point) and `horizon
//! sweep` (a sweep's counts, or its cancel).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::ClientArgs;
use crate::client::Client;
use crate::commands::SubmitRequest;

/// `key=v1,v2,…` lists (each value JSON when it parses, else a string)
/// as a grid (the server takes its names in alphabetical order).
pub fn grid(lists: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut grid = Map::new();
    for list in lists {
        let (key, values) = list
            .split_once('=')
            .with_context(|| format!("--grid {list:?} is not KEY=V1,V2,…"))?;
        let values: Vec<Value> = values
            .split(',')
            .map(|v| serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned())))
            .collect();
        grid.insert(key.to_owned(), Value::Array(values));
    }
    Ok(grid)
}

/// A JSON file holding a list of parameter objects.
pub fn points(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match serde_json::from_str(&text).with_context(|| path.display().to_string())? {
        Value::Array(points) if points.iter().all(Value::is_object) => Ok(points),
        _ => bail!(
            "{}: a sweep's points are a JSON list of objects",
            path.display()
        ),
    }
}

/// What a sweep asks beyond a job's request.
#[derive(Debug, Default)]
pub struct SweepArgs {
    pub grid: Map<String, Value>,
    pub points: Option<Vec<Value>>,
    pub concurrency_limit: Option<u32>,
}

pub async fn submit(
    args: &ClientArgs,
    request: SubmitRequest,
    sweep: SweepArgs,
    wait: bool,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let mut body = json!({
        "agent": request.agent,
        "dataset_id": request.dataset,
        "parameters": request.parameters,
    });
    if !sweep.grid.is_empty() {
        body["grid"] = Value::Object(sweep.grid);
    }
    if let Some(points) = sweep.points {
        body["points"] = Value::Array(points);
    }
    if let Some(limit) = sweep.concurrency_limit {
        body["concurrency_limit"] = json!(limit);
    }
    if let Some(resources) = &request.resources {
        body["resources"] = resources.clone();
    }
    let mut call = client.request(Method::POST, "/v1/sweeps").json(&body);
    if let Some(key) = &request.idempotency_key {
        call = call.header("Idempotency-Key", key);
    }
    if let Some(id) = &request.correlation_id {
        call = call.header("X-Correlation-ID", id);
    }
    let (_, made) = client.send(call).await?;
    let id = made["id"]
        .as_str()
        .context("server returned a sweep without id")?
        .to_owned();
    if !wait {
        print_sweep(&made, args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        println!(
            "submitted sweep {id}: {} jobs of {} on {}",
            made["size"], request.agent, request.dataset
        );
    }
    follow(&client, &id, args.json).await
}

/// Poll the sweep until its last job ended, printing its counts when they
/// change; success only when every job COMPLETED.
async fn follow(client: &Client, id: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut last = String::new();
    loop {
        let sweep = client.get(&format!("/v1/sweeps/{id}")).await?;
        let line = counts_line(&sweep);
        if line != last && !as_json {
            println!("{line}");
            last = line;
        }
        if !sweep["completed_at"].is_null() {
            if as_json {
                println!("{}", serde_json::to_string_pretty(&sweep)?);
            }
            let ok = sweep["counts"]["COMPLETED"] == sweep["size"];
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn counts_line(sweep: &Value) -> String {
    let counts = sweep["counts"].as_object().cloned().unwrap_or_default();
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    format!(
        "{}: {}",
        sweep["id"].as_str().unwrap_or("?"),
        parts.join(", ")
    )
}

fn print_sweep(sweep: &Value, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(sweep)?);
    } else {
        println!("sweep {}", sweep["id"].as_str().unwrap_or("?"));
        println!("  agent: {}", sweep["agent"].as_str().unwrap_or("?"));
        println!("  size: {}", sweep["size"]);
        if let Some(limit) = sweep["concurrency_limit"].as_u64() {
            println!("  at most {limit} at once");
        }
        println!("  {}", counts_line(sweep));
        if let Some(done) = sweep["completed_at"].as_str() {
            println!("  completed at {done}");
        }
        println!(
            "  jobs: horizon list --sweep {}",
            sweep["id"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

/// `horizon sweep ID [--cancel]`.
pub async fn show_or_cancel(
    args: &ClientArgs,
    id: &str,
    cancel: bool,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let sweep = if cancel {
        let mut body = json!({});
        if let Some(reason) = reason {
            body["reason"] = json!(reason);
        }
        client
            .send(
                client
                    .request(Method::POST, &format!("/v1/sweeps/{id}/cancel"))
                    .json(&body),
            )
            .await?
            .1
    } else {
        client.get(&format!("/v1/sweeps/{id}")).await?
    };
    print_sweep(&sweep, args.json)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_lists_parse_as_json_or_strings() {
        let g = grid(&["a=1,2.5,x".to_owned(), "b=true".to_owned()]).expect("grid");
        assert_eq!(g["a"], json!([1, 2.5, "x"]));
        assert_eq!(g["b"], json!([true]));
        assert!(grid(&["nokey".to_owned()]).is_err());
    }
}
