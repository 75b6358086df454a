//! The configuration reference (`docs/configuration.md`), generated from
//! the settings types themselves: their fields and doc comments, through
//! their JSON Schema (`schemars`). A test compares the file with what the
//! code generates, so no key goes undocumented and no documented key is
//! gone; `HORIZON_WRITE_DOCS=1 cargo test -p horizon-server
//! config_reference` rewrites it (and `horizon config-reference` prints it).

use serde_json::{Map, Value};

use crate::config::Settings;

/// The reference, as Markdown.
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(Settings)).unwrap_or_default();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = String::from(
        "# Configuration reference\n\n\
         Every key `horizon serve` reads from its TOML file, generated from the code\n\
         (`crates/horizon-server/src/config.rs` and the types it names) by\n\
         `horizon config-reference`; a test fails when this file and the code differ.\n\
         Unknown keys are refused at start, naming the key. Environment variables\n\
         that override keys are named with them.\n",
    );
    let mut sections = Vec::new();
    section(&defs, "", &schema, &mut sections);
    for (title, rows) in sections.into_iter().filter(|(_, rows)| !rows.is_empty()) {
        out.push_str(&format!(
            "\n## {title}\n\n| key | type | default | meaning |\n|---|---|---|---|\n"
        ));
        for (key, kind, default, meaning) in rows {
            out.push_str(&format!("| `{key}` | {kind} | {default} | {meaning} |\n"));
        }
    }
    out
}

type Row = (String, String, String, String);

/// The rows of one table (`path` empty: the top level), and after it the
/// tables of its sub-tables.
fn section(
    defs: &Map<String, Value>,
    path: &str,
    schema: &Value,
    out: &mut Vec<(String, Vec<Row>)>,
) {
    let schema = resolve(defs, schema);
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let title = if path.is_empty() {
        "Top level".to_owned()
    } else {
        format!("`{path}`")
    };
    let index = out.len();
    out.push((title, Vec::new()));
    let mut rows = Vec::new();
    for (key, field) in properties {
        let meaning = describe(field);
        let target = non_null(defs, field);
        let nested = |p: &str| {
            if path.is_empty() {
                p.to_owned()
            } else {
                format!(
                    "{}.{p}",
                    path.trim_start_matches("[[")
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .trim_end_matches(']')
                )
            }
        };
        if is_table(defs, &target) {
            section(defs, &format!("[{}]", nested(key)), &target, out);
            if !meaning.is_empty() {
                rows.push((key.clone(), "table".to_owned(), String::new(), meaning));
            }
            continue;
        }
        if let Some(items) = target.get("items")
            && is_table(defs, items)
        {
            section(defs, &format!("[[{}]]", nested(key)), items, out);
            rows.push((
                key.clone(),
                "list of tables".to_owned(),
                String::new(),
                meaning,
            ));
            continue;
        }
        if let Some(values) = target.get("additionalProperties")
            && is_table(defs, values)
        {
            section(defs, &format!("[{}.<name>]", nested(key)), values, out);
            rows.push((
                key.clone(),
                "tables by name".to_owned(),
                String::new(),
                meaning,
            ));
            continue;
        }
        let default = if path.is_empty() && key == "data_dir" {
            "per user".to_owned() // (the machine's own path: see the meaning)
        } else {
            default_of(field)
        };
        rows.push((key.clone(), kind(defs, field), default, meaning));
    }
    out[index].1 = rows;
}

/// A `$ref` followed.
fn resolve<'a>(defs: &'a Map<String, Value>, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => defs
            .get(reference.trim_start_matches("#/$defs/"))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The schema without its "or null" (an optional key).
fn non_null(defs: &Map<String, Value>, schema: &Value) -> Value {
    if let Some(choices) = schema.get("anyOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = choices
            .iter()
            .filter(|c| c.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [one] = rest.as_slice() {
            return resolve(defs, one).clone();
        }
    }
    resolve(defs, schema).clone()
}

fn is_table(defs: &Map<String, Value>, schema: &Value) -> bool {
    resolve(defs, schema).get("properties").is_some()
}

fn kind(defs: &Map<String, Value>, field: &Value) -> String {
    let target = non_null(defs, field);
    if let Some(values) = target.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return values.join(" or ");
    }
    if let Some(choices) = target.get("oneOf").and_then(Value::as_array) {
        let values: Vec<String> = choices
            .iter()
            .filter_map(|c| {
                c.get("const")
                    .or_else(|| c.get("enum").and_then(|e| e.get(0)))
            })
            .map(|v| format!("`{v}`"))
            .collect();
        if !values.is_empty() {
            return values.join(" or ");
        }
    }
    let types: Vec<&str> = match target.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    match types.as_slice() {
        ["array"] => {
            let item = target
                .get("items")
                .map(|i| kind(defs, i))
                .unwrap_or_default();
            format!("list of {item}")
        }
        ["object"] => {
            let value = target
                .get("additionalProperties")
                .map(|v| kind(defs, v))
                .unwrap_or_default();
            format!("table of {value}")
        }
        [one] => (*one).to_owned(),
        _ => "value".to_owned(),
    }
}

/// The field's default, as TOML would write it (empty: none).
fn default_of(field: &Value) -> String {
    match field.get("default") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) if text.is_empty() => "`\"\"`".to_owned(),
        Some(Value::Array(items)) if items.is_empty() => "`[]`".to_owned(),
        Some(Value::Object(map)) if map.is_empty() => "`{}`".to_owned(),
        Some(value) => format!("`{value}`").replace('|', "\\|"),
    }
}

/// The field's doc comment, on one line, safe in a table cell.
fn describe(field: &Value) -> String {
    field
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    fn docs_file() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md")
    }

    /// `docs/configuration.md` is what the code generates: every key the
    /// settings types have is documented, and no other.
    #[test]
    fn config_reference_is_what_the_code_generates() {
        let generated = super::markdown();
        let path = docs_file();
        if std::env::var_os("HORIZON_WRITE_DOCS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            written == generated,
            "{} differs from the code's settings: run \
             `HORIZON_WRITE_DOCS=1 cargo test -p horizon-server config_reference` and commit it",
            path.display()
        );
    }

    /// Every key says what it means (a doc comment on its field).
    #[test]
    fn every_configuration_key_is_explained() {
        let text = super::markdown();
        let bare: Vec<&str> = text.lines().filter(|l| l.ends_with("|  |")).collect();
        assert!(bare.is_empty(), "keys without a doc comment: {bare:#?}");
    }

    /// Every key of every table is in the reference, nested tables included.
    #[test]
    fn config_reference_names_nested_keys() {
        let text = super::markdown();
        for needle in [
            "## `[slurm.ssh]`",
            "## `[agents.<name>]`",
            "## `[[identity]]`",
            "## `[auth.jwt]`",
            "## `[kafka]`",
            "| `slurm_account` |",
            "| `batch_size` |",
            "| `initial_backoff_ms` |",
            "| `known_hosts` |",
            "| `max_connections` |",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
    }
}
