//! Fleet files for `provision fleet`: parsing CSV, JSON and TOML into rows, and the
//! local validation every row passes before anything is sent (so `--atomic` can
//! refuse a file naming the bad row, having sent nothing).
//!
//! CSV: a header line, then one client per line. Columns (any order, only `name`
//! required): `name`, `metadata` (a JSON object), `tags` (`;`-separated), `channels`
//! (`;`-separated channel names to connect the client to), `types` (`publish`,
//! `subscribe` or `publish;subscribe`; default both when channels are given).
//!
//! JSON: an array of objects with the same keys, or `{"clients": [...]}`; list fields
//! may be arrays or `;`-separated strings, metadata an object or a JSON string.
//! TOML: `[[clients]]` tables with the same keys.

use std::path::Path;

use clap::ValueEnum;
use serde::Serialize;
use serde_json::Value;
use switchyard_api_types::Metadata;

use crate::error::{CliError, CliResult};

use switchyard_api_types::MAX_NAME_BYTES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Csv,
    Json,
    Toml,
}

impl FileFormat {
    pub fn from_path(p: &Path) -> Option<FileFormat> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(FileFormat::Csv),
            "json" => Some(FileFormat::Json),
            "toml" => Some(FileFormat::Toml),
            _ => None,
        }
    }
}

/// One validated row: a client to create and the channels to connect it to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// 1-based position among the file's data rows (the header is not a row).
    pub row: usize,
    pub name: String,
    pub metadata: Metadata,
    pub tags: Vec<String>,
    pub channels: Vec<String>,
    /// Lowercase, sorted, deduplicated: `publish`, `subscribe`.
    pub types: Vec<String>,
}

/// A row that failed local validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}", self.row, self.message)
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub errors: Vec<RowError>,
}

impl Parsed {
    /// Number of data rows in the file, valid or not.
    pub fn len(&self) -> usize {
        self.rows.len() + self.errors.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads and validates a fleet file. File-level problems (unreadable, not CSV/JSON/
/// TOML at all, unknown CSV column) are errors; row-level ones are collected.
pub fn load(path: &Path, format: Option<FileFormat>) -> CliResult<Parsed> {
    let format = format
        .or_else(|| FileFormat::from_path(path))
        .ok_or_else(|| {
            CliError::usage(format!(
                "{}: cannot tell the format from the extension; use .csv, .json or .toml, \
             or pass --format",
                path.display()
            ))
        })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::other(format!("{}: {e}", path.display())))?;
    parse(&text, format).map_err(|e| CliError::other(format!("{}: {e}", path.display())))
}

pub fn parse(text: &str, format: FileFormat) -> Result<Parsed, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        FileFormat::Csv => parse_csv(text),
        FileFormat::Json => {
            let v: Value =
                serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
            parse_values(v)
        }
        FileFormat::Toml => {
            let v: toml::Table =
                toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?;
            let v = serde_json::to_value(v).map_err(|e| e.to_string())?;
            parse_values(v)
        }
    }
}

const COLUMNS: [&str; 5] = ["name", "metadata", "tags", "channels", "types"];

fn parse_csv(text: &str) -> Result<Parsed, String> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let headers = r
        .headers()
        .map_err(|e| format!("bad CSV header: {e}"))?
        .clone();
    let mut idx: [Option<usize>; 5] = [None; 5];
    for (i, h) in headers.iter().enumerate() {
        let h = h.to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == h) {
            Some(c) if idx[c].is_some() => return Err(format!("column {h:?} appears twice")),
            Some(c) => idx[c] = Some(i),
            None => {
                return Err(format!(
                    "unknown column {h:?} (expected some of: {})",
                    COLUMNS.join(", ")
                ));
            }
        }
    }
    if idx[0].is_none() {
        return Err(format!(
            "the header has no \"name\" column (columns: {})",
            COLUMNS.join(", ")
        ));
    }
    let mut out = Parsed::default();
    for (i, rec) in r.records().enumerate() {
        let row = i + 1;
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => {
                out.errors.push(RowError {
                    row,
                    message: csv_error(&e),
                });
                continue;
            }
        };
        let get = |c: usize| idx[c].and_then(|i| rec.get(i)).unwrap_or("");
        let metadata = match get(1).trim() {
            "" => Ok(Metadata::new()),
            m => metadata_from_str(m),
        };
        let res = metadata.and_then(|m| {
            validate(
                row,
                get(0).trim().to_string(),
                m,
                split(get(2)),
                split(get(3)),
                split(get(4)),
            )
        });
        match res {
            Ok(r) => out.rows.push(r),
            Err(message) => out.errors.push(RowError { row, message }),
        }
    }
    Ok(out)
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "{len} fields where the header has {expected_len}{}",
            pos.as_ref()
                .map(|p| format!(" (line {})", p.line()))
                .unwrap_or_default()
        ),
        _ => e.to_string(),
    }
}

fn split(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

fn metadata_from_str(s: &str) -> Result<Metadata, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("metadata must be a JSON object".into()),
        Err(e) => Err(format!("metadata is not valid JSON: {e}")),
    }
}

fn parse_values(v: Value) -> Result<Parsed, String> {
    let items = match v {
        Value::Array(a) => a,
        Value::Object(mut m) => match m.remove("clients") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(
                    "expected an array of clients, or an object with a \"clients\" array".into(),
                );
            }
        },
        _ => return Err("expected an array of clients".into()),
    };
    let mut out = Parsed::default();
    for (i, item) in items.into_iter().enumerate() {
        let row = i + 1;
        match row_from_value(row, item) {
            Ok(r) => out.rows.push(r),
            Err(message) => out.errors.push(RowError { row, message }),
        }
    }
    Ok(out)
}

fn list_field(key: &str, v: Option<Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) => Ok(split(&s)),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(format!("{key}: expected strings, found {other}")),
            })
            .filter(|r| !matches!(r, Ok(s) if s.is_empty()))
            .collect(),
        Some(other) => Err(format!(
            "{key}: expected a list or a ';'-separated string, found {other}"
        )),
    }
}

fn row_from_value(row: usize, v: Value) -> Result<Row, String> {
    let Value::Object(mut m) = v else {
        return Err("expected an object".into());
    };
    let name = match m.remove("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => return Err(format!("name: expected a string, found {other}")),
    };
    let metadata = match m.remove("metadata") {
        None | Some(Value::Null) => Metadata::new(),
        Some(Value::Object(o)) => o,
        Some(Value::String(s)) if s.trim().is_empty() => Metadata::new(),
        Some(Value::String(s)) => metadata_from_str(&s)?,
        Some(_) => return Err("metadata must be a JSON object".into()),
    };
    let tags = list_field("tags", m.remove("tags"))?;
    let channels = list_field("channels", m.remove("channels"))?;
    let types = list_field("types", m.remove("types"))?;
    if let Some(k) = m.keys().next() {
        return Err(format!(
            "unknown field {k:?} (expected some of: {})",
            COLUMNS.join(", ")
        ));
    }
    validate(row, name, metadata, tags, channels, types)
}

/// The checks the server would make, done before sending anything.
fn validate(
    row: usize,
    name: String,
    metadata: Metadata,
    tags: Vec<String>,
    channels: Vec<String>,
    types: Vec<String>,
) -> Result<Row, String> {
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "invalid name size: {} bytes (at most {MAX_NAME_BYTES})",
            name.len()
        ));
    }
    let mut chans: Vec<String> = Vec::with_capacity(channels.len());
    for c in channels {
        if c.len() > MAX_NAME_BYTES {
            return Err(format!(
                "invalid channel name size: {} bytes (at most {MAX_NAME_BYTES})",
                c.len()
            ));
        }
        if !chans.contains(&c) {
            chans.push(c);
        }
    }
    let mut ts: Vec<String> = Vec::new();
    for t in types {
        let t = t.to_ascii_lowercase();
        if t != "publish" && t != "subscribe" {
            return Err(format!(
                "invalid connection type {t:?} (publish or subscribe)"
            ));
        }
        if !ts.contains(&t) {
            ts.push(t);
        }
    }
    if ts.is_empty() && !chans.is_empty() {
        ts = vec!["publish".into(), "subscribe".into()];
    }
    ts.sort();
    Ok(Row {
        row,
        name,
        metadata,
        tags,
        channels: chans,
        types: ts,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_and_errors() {
        let text = "name,metadata,tags,channels,types\n\
                    a,\"{\"\"k\"\":1}\",x;y,c1;c2,publish\n\
                    b,,,,\n\
                    c,{bad,,,\n\
                    d,[1],,,\n\
                    e,,,c1,PUBLISH;Subscribe;publish\n\
                    f,,,c1,read\n\
                    g,,\n";
        let p = parse(text, FileFormat::Csv).unwrap();
        assert_eq!(p.len(), 7);
        let names: Vec<&str> = p.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "e"]);
        assert_eq!(p.rows[0].metadata["k"], 1);
        assert_eq!(p.rows[0].tags, ["x", "y"]);
        assert_eq!(p.rows[0].channels, ["c1", "c2"]);
        assert_eq!(p.rows[0].types, ["publish"]);
        assert!(p.rows[1].types.is_empty());
        assert_eq!(p.rows[2].types, ["publish", "subscribe"]);
        let bad: Vec<usize> = p.errors.iter().map(|e| e.row).collect();
        assert_eq!(bad, [3, 4, 6, 7]);
        assert!(p.errors[0].message.contains("not valid JSON"));
        assert!(p.errors[1].message.contains("JSON object"));
        assert!(p.errors[2].message.contains("connection type"));
        assert!(p.errors[3].message.contains("fields"));
    }

    #[test]
    fn default_types_and_long_names() {
        let long = "x".repeat(1025);
        let text = format!("channels,name\nc1,ok\n,{long}\n");
        let p = parse(&text, FileFormat::Csv).unwrap();
        assert_eq!(p.rows[0].types, ["publish", "subscribe"]);
        assert_eq!(p.errors[0].row, 2);
        assert!(p.errors[0].message.contains("invalid name size"));
        // Exactly 1024 bytes is fine.
        let ok = "é".repeat(512);
        let p = parse(&format!("name\n{ok}\n"), FileFormat::Csv).unwrap();
        assert_eq!(p.rows.len(), 1);
    }

    #[test]
    fn csv_header_problems() {
        assert!(
            parse("nme\nx\n", FileFormat::Csv)
                .unwrap_err()
                .contains("unknown column")
        );
        assert!(
            parse("tags\nx\n", FileFormat::Csv)
                .unwrap_err()
                .contains("no \"name\"")
        );
        assert!(
            parse("name,Name\nx,y\n", FileFormat::Csv)
                .unwrap_err()
                .contains("twice")
        );
        // Excel's BOM and spaces around headers.
        let p = parse("\u{feff}name , tags\nx,a\n", FileFormat::Csv).unwrap();
        assert_eq!(p.rows[0].tags, ["a"]);
    }

    #[test]
    fn json_and_toml() {
        let j = r#"[{"name":"a","metadata":{"k":1},"tags":["t"],"channels":"c1;c2","types":["publish"]},
                   {"name":"b","metadata":"{\"k\":2}"},
                   {"name":3},
                   {"name":"d","colour":"red"}]"#;
        let p = parse(j, FileFormat::Json).unwrap();
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].channels, ["c1", "c2"]);
        assert_eq!(p.rows[1].metadata["k"], 2);
        assert_eq!(p.errors.iter().map(|e| e.row).collect::<Vec<_>>(), [3, 4]);
        let p = parse(r#"{"clients":[{"name":"x"}]}"#, FileFormat::Json).unwrap();
        assert_eq!(p.rows[0].name, "x");
        assert!(parse("{}", FileFormat::Json).is_err());

        let t = "[[clients]]\nname = \"a\"\ntags = [\"t\"]\nchannels = [\"c1\"]\n\
                 [clients.metadata]\nk = 1\n\n[[clients]]\nname = \"b\"\ntypes = \"subscribe\"\n";
        let p = parse(t, FileFormat::Toml).unwrap();
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].metadata["k"], 1);
        assert_eq!(p.rows[0].types, ["publish", "subscribe"]);
        assert_eq!(p.rows[1].types, ["subscribe"]);
    }

    #[test]
    fn format_from_extension() {
        assert_eq!(
            FileFormat::from_path(Path::new("a.CSV")),
            Some(FileFormat::Csv)
        );
        assert_eq!(
            FileFormat::from_path(Path::new("a.json")),
            Some(FileFormat::Json)
        );
        assert_eq!(
            FileFormat::from_path(Path::new("a.toml")),
            Some(FileFormat::Toml)
        );
        assert_eq!(FileFormat::from_path(Path::new("a.txt")), None);
    }
}
