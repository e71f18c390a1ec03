//! Printing results: `--output table|json|yaml|csv`. JSON and YAML print the server's
//! answer as received (nothing dropped); table and CSV print chosen columns.

use std::io::Write;

use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

use crate::error::{CliError, CliResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
    Csv,
}

/// A column: header and JSON pointer into an item (e.g. `/credentials/secret`).
pub type Col = (&'static str, &'static str);

/// Renders one cell: strings as-is, lists joined with `,`, objects as compact JSON.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.iter().all(|x| !x.is_object() && !x.is_array()) => a
            .iter()
            .map(|x| cell(Some(x)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(m)) if m.is_empty() => String::new(),
        Some(other) => other.to_string(),
    }
}

fn out(s: &str) -> CliResult<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())
        .and_then(|_| o.flush())
        .map_err(|e| CliError::other(format!("stdout: {e}")))
}

fn serialized(fmt: Format, v: &Value) -> CliResult<String> {
    match fmt {
        Format::Yaml => serde_norway::to_string(v).map_err(|e| CliError::other(e.to_string())),
        _ => serde_json::to_string_pretty(v)
            .map(|s| s + "\n")
            .map_err(|e| CliError::other(e.to_string())),
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// Renders rows as a table or as CSV.
pub fn rows(fmt: Format, headers: &[&str], rows: &[Vec<String>]) -> CliResult<String> {
    match fmt {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(headers.iter().map(|h| h.to_lowercase()))
                .map_err(|e| CliError::other(e.to_string()))?;
            for r in rows {
                w.write_record(r)
                    .map_err(|e| CliError::other(e.to_string()))?;
            }
            let bytes = w.into_inner().map_err(|e| CliError::other(e.to_string()))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => {
            let mut t = table();
            t.set_header(headers.iter().copied());
            for r in rows {
                t.add_row(r.iter().cloned());
            }
            Ok(format!("{t}\n"))
        }
    }
}

/// Prints a list page: the whole answer in JSON/YAML, the items' columns otherwise.
pub fn print_page(fmt: Format, page: &Value, items_key: &str, cols: &[Col]) -> CliResult<()> {
    if matches!(fmt, Format::Json | Format::Yaml) {
        return out(&serialized(fmt, page)?);
    }
    let empty = Vec::new();
    let items = page
        .get(items_key)
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let headers: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let data: Vec<Vec<String>> = items
        .iter()
        .map(|it| cols.iter().map(|c| cell(it.pointer(c.1))).collect())
        .collect();
    let mut s = rows(fmt, &headers, &data)?;
    if fmt == Format::Table {
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
        let offset = page.get("offset").and_then(Value::as_u64).unwrap_or(0);
        s.push_str(&format!("{} of {total} (offset {offset})\n", items.len()));
    }
    out(&s)
}

/// Prints one entity: the answer in JSON/YAML, field/value pairs otherwise.
pub fn print_one(fmt: Format, v: &Value) -> CliResult<()> {
    match fmt {
        Format::Json | Format::Yaml => out(&serialized(fmt, v)?),
        Format::Csv => {
            let (headers, vals) = fields(v);
            let h: Vec<&str> = headers.iter().map(String::as_str).collect();
            out(&rows(fmt, &h, &[vals])?)
        }
        Format::Table => {
            let (headers, vals) = fields(v);
            let mut t = table();
            t.set_header(["FIELD", "VALUE"]);
            for (h, v) in headers.into_iter().zip(vals) {
                t.add_row([h, v]);
            }
            out(&format!("{t}\n"))
        }
    }
}

/// Top-level fields of an object, one level of nested objects flattened with `.`
/// (so `credentials.secret` gets its own row).
fn fields(v: &Value) -> (Vec<String>, Vec<String>) {
    let mut h = Vec::new();
    let mut vals = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::Object(inner)
                        if !inner.is_empty() && k != "metadata" && k != "private_metadata" =>
                    {
                        for (ik, iv) in inner {
                            h.push(format!("{k}.{ik}"));
                            vals.push(cell(Some(iv)));
                        }
                    }
                    _ => {
                        h.push(k.clone());
                        vals.push(cell(Some(x)));
                    }
                }
            }
        }
        other => {
            h.push("value".into());
            vals.push(cell(Some(other)));
        }
    }
    (h, vals)
}

/// Prints a value as JSON/YAML, or through `table` for table/CSV.
pub fn print_with(
    fmt: Format,
    v: &Value,
    table: impl FnOnce(Format) -> CliResult<String>,
) -> CliResult<()> {
    match fmt {
        Format::Json | Format::Yaml => out(&serialized(fmt, v)?),
        _ => out(&table(fmt)?),
    }
}

/// A plain line on stdout (confirmations such as "client X deleted").
pub fn line(s: &str) -> CliResult<()> {
    out(&format!("{s}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells() {
        assert_eq!(cell(Some(&json!("a"))), "a");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a,b");
        assert_eq!(cell(Some(&json!({}))), "");
        assert_eq!(cell(Some(&json!({"k": 1}))), r#"{"k":1}"#);
        assert_eq!(cell(None), "");
        assert_eq!(cell(Some(&json!(3))), "3");
    }

    #[test]
    fn csv_and_table() {
        let s = rows(
            Format::Csv,
            &["ID", "NAME"],
            &[vec!["1".into(), "a,b".into()]],
        )
        .unwrap_or_default();
        assert_eq!(s, "id,name\n1,\"a,b\"\n");
        let t = rows(Format::Table, &["ID"], &[vec!["x".into()]]).unwrap_or_default();
        assert!(t.contains("ID") && t.contains('x'));
    }

    #[test]
    fn flattening() {
        let (h, v) =
            fields(&json!({"id": "1", "credentials": {"secret": "s"}, "metadata": {"a": 1}}));
        let mut pairs: Vec<(String, String)> = h.into_iter().zip(v).collect();
        pairs.sort();
        let want = [
            ("credentials.secret", "s"),
            ("id", "1"),
            ("metadata", r#"{"a":1}"#),
        ];
        assert_eq!(pairs.len(), want.len());
        for ((k, v), (wk, wv)) in pairs.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
    }
}
