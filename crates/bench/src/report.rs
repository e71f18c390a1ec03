//! The report: machine, commit and one row per figure, as printed and as written to
//! JSON. [`validate`] checks a JSON document against the documented shape.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Scenario names that may appear in a report, in report order: the storage scenarios
/// first, then `scale`, the MQTT scenarios and `footprint`.
pub const SCENARIOS: &[&str] = &[
    "bulk_provisioning",
    "api_list_channel",
    "api_read",
    "api_list",
    "api_list_shared",
    "api_read_shared",
    "mapping",
    "bootstrap_fetch",
    "http_publish",
    "scale",
    "mqtt_qos0",
    "mqtt_qos1",
    "mqtt_burst",
    "mqtt_idle_connection_memory",
    "footprint",
];

/// The scenarios that run on the storage scenarios' server, on each backend.
pub const STORAGE_SCENARIOS: &[&str] = SCENARIOS.split_at(9).0;

/// The storage scenarios that read the clients `bulk_provisioning` creates.
pub const BULK_SCENARIOS: &[&str] = STORAGE_SCENARIOS.split_at(6).0;

/// The scenarios that run against MQTT brokers (SQLite only).
pub const MQTT_SCENARIOS: &[&str] = SCENARIOS.split_at(10).1.split_at(4).0;

/// Backend column values: the two stores, and `-` for figures that have no store
/// (the binary's size).
pub const BACKENDS: &[&str] = &["sqlite", "postgres", "-"];

/// The machine the figures were taken on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// Total memory (MemTotal from /proc/meminfo), in MiB.
    pub memory_mb: u64,
    /// CPU model name, or empty when unknown.
    pub cpu: String,
    /// OS, architecture and kernel release.
    pub os: String,
}

/// What a target is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The measured value itself.
    Value,
    /// value / baseline.
    Ratio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    AtLeast,
    AtMost,
}

/// A target such as `ratio >= 0.5` or `value <= 30`. Serialised as that string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub subject: Subject,
    pub op: Op,
    pub bound: f64,
}

impl Target {
    pub fn ratio_at_least(bound: f64) -> Target {
        Target {
            subject: Subject::Ratio,
            op: Op::AtLeast,
            bound,
        }
    }
    pub fn ratio_at_most(bound: f64) -> Target {
        Target {
            subject: Subject::Ratio,
            op: Op::AtMost,
            bound,
        }
    }
    pub fn value_at_least(bound: f64) -> Target {
        Target {
            subject: Subject::Value,
            op: Op::AtLeast,
            bound,
        }
    }
    pub fn value_at_most(bound: f64) -> Target {
        Target {
            subject: Subject::Value,
            op: Op::AtMost,
            bound,
        }
    }
    /// Whether the figure meets the target; a ratio target without a ratio is not met.
    pub fn met(&self, value: f64, ratio: Option<f64>) -> bool {
        let x = match self.subject {
            Subject::Value => Some(value),
            Subject::Ratio => ratio,
        };
        match (x, self.op) {
            (Some(x), Op::AtLeast) => x >= self.bound,
            (Some(x), Op::AtMost) => x <= self.bound,
            (None, _) => false,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self.subject {
            Subject::Value => "value",
            Subject::Ratio => "ratio",
        };
        let o = match self.op {
            Op::AtLeast => ">=",
            Op::AtMost => "<=",
        };
        write!(f, "{s} {o} {}", self.bound)
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [subject, op, bound] = parts.as_slice() else {
            return Err(format!(
                "target {s:?} is not `<value|ratio> <>=|<=> <number>`"
            ));
        };
        let subject = match *subject {
            "value" => Subject::Value,
            "ratio" => Subject::Ratio,
            _ => return Err(format!("target {s:?}: subject must be value or ratio")),
        };
        let op = match *op {
            ">=" => Op::AtLeast,
            "<=" => Op::AtMost,
            _ => return Err(format!("target {s:?}: operator must be >= or <=")),
        };
        let bound: f64 = bound
            .parse()
            .map_err(|_| format!("target {s:?}: bound is not a number"))?;
        if !bound.is_finite() {
            return Err(format!("target {s:?}: bound is not finite"));
        }
        Ok(Target { subject, op, bound })
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub scenario: String,
    pub backend: String,
    pub value: f64,
    pub unit: String,
    /// The same measurement of the reference in the same run, in the same unit.
    pub baseline: Option<f64>,
    /// value / baseline; null when there is no baseline.
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    /// Whether the target is met; null when there is no target.
    pub met: Option<bool>,
}

impl Row {
    /// A row with ratio and `met` derived from the value, baseline and target.
    pub fn new(
        scenario: &str,
        backend: &str,
        value: f64,
        unit: &str,
        baseline: Option<f64>,
        target: Option<Target>,
    ) -> Row {
        let ratio = baseline.filter(|b| *b > 0.0).map(|b| value / b);
        let met = target.map(|t| t.met(value, ratio));
        Row {
            scenario: scenario.into(),
            backend: backend.into(),
            value,
            unit: unit.into(),
            baseline,
            ratio,
            target,
            met,
        }
    }
}

/// The whole report. `machine`, `commit` and `rows` are the documented keys; the rest
/// say how the run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    /// `git rev-parse HEAD`, or `unknown`.
    pub commit: String,
    pub rows: Vec<Row>,
    /// Build profile of the measured server (always `release`).
    pub profile: String,
    /// `quick` or `full`.
    pub mode: String,
    /// Skipped scenarios, failures, warnings.
    pub notes: Vec<String>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn is_num(v: &Value) -> bool {
    v.as_f64().is_some_and(f64::is_finite)
}

/// Checks a JSON document against the documented report shape; returns every problem.
pub fn validate(doc: &Value) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    let Some(top) = doc.as_object() else {
        return Err(vec!["the report is not a JSON object".into()]);
    };
    match top.get("machine").and_then(Value::as_object) {
        None => errs.push("machine: missing or not an object".into()),
        Some(m) => {
            if m.get("cores")
                .and_then(Value::as_u64)
                .is_none_or(|c| c == 0)
            {
                errs.push("machine.cores: missing or not a positive integer".into());
            }
            if m.get("memory_mb").and_then(Value::as_u64).is_none() {
                errs.push("machine.memory_mb: missing or not an integer".into());
            }
        }
    }
    match top.get("commit").and_then(Value::as_str) {
        Some(c) if c == "unknown" || (c.len() >= 7 && c.chars().all(|x| x.is_ascii_hexdigit())) => {
        }
        other => errs.push(format!(
            "commit: {other:?} is neither a hex revision nor \"unknown\""
        )),
    }
    let Some(rows) = top.get("rows").and_then(Value::as_array) else {
        errs.push("rows: missing or not an array".into());
        return Err(errs);
    };
    for (i, r) in rows.iter().enumerate() {
        let Some(r) = r.as_object() else {
            errs.push(format!("rows[{i}]: not an object"));
            continue;
        };
        for k in [
            "scenario", "backend", "value", "unit", "baseline", "ratio", "target", "met",
        ] {
            if !r.contains_key(k) {
                errs.push(format!("rows[{i}].{k}: missing"));
            }
        }
        let scenario = r.get("scenario").and_then(Value::as_str).unwrap_or("");
        if !SCENARIOS.contains(&scenario) {
            errs.push(format!(
                "rows[{i}].scenario: {scenario:?} is not one of {SCENARIOS:?}"
            ));
        }
        let backend = r.get("backend").and_then(Value::as_str).unwrap_or("");
        if !BACKENDS.contains(&backend) {
            errs.push(format!(
                "rows[{i}].backend: {backend:?} is not one of {BACKENDS:?}"
            ));
        }
        if r.get("unit")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(format!("rows[{i}].unit: missing or empty"));
        }
        let value = r.get("value").and_then(Value::as_f64);
        if !r.get("value").is_some_and(is_num) {
            errs.push(format!("rows[{i}].value: not a finite number"));
        }
        let baseline = r.get("baseline").unwrap_or(&Value::Null);
        let ratio = r.get("ratio").unwrap_or(&Value::Null);
        if !(baseline.is_null() || is_num(baseline)) {
            errs.push(format!("rows[{i}].baseline: neither null nor a number"));
        }
        if !(ratio.is_null() || is_num(ratio)) {
            errs.push(format!("rows[{i}].ratio: neither null nor a number"));
        }
        if baseline.is_null() && !ratio.is_null() {
            errs.push(format!("rows[{i}].ratio: set without a baseline"));
        }
        if let (Some(v), Some(b), Some(q)) = (value, baseline.as_f64(), ratio.as_f64())
            && b > 0.0
            && ((v / b) - q).abs() > 1e-9 * q.abs().max(1.0)
        {
            errs.push(format!(
                "rows[{i}].ratio: {q} is not value/baseline = {}",
                v / b
            ));
        }
        let target = match r.get("target").unwrap_or(&Value::Null) {
            Value::Null => None,
            Value::String(s) => match s.parse::<Target>() {
                Ok(t) => Some(t),
                Err(e) => {
                    errs.push(format!("rows[{i}].target: {e}"));
                    None
                }
            },
            _ => {
                errs.push(format!("rows[{i}].target: neither null nor a string"));
                None
            }
        };
        let met = r.get("met").unwrap_or(&Value::Null);
        match (r.get("target").unwrap_or(&Value::Null).is_null(), met) {
            (true, Value::Null) => {}
            (true, _) => errs.push(format!(
                "rows[{i}].met: must be null when there is no target"
            )),
            (false, Value::Bool(m)) => {
                if let (Some(t), Some(v)) = (target, value)
                    && t.met(v, ratio.as_f64()) != *m
                {
                    errs.push(format!("rows[{i}].met: {m} contradicts target {t}"));
                }
            }
            (false, _) => errs.push(format!(
                "rows[{i}].met: must be true or false when there is a target"
            )),
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// A number with as many decimals as its size deserves.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_ratio(q: f64) -> String {
    if q.abs() >= 10.0 {
        format!("{q:.1}")
    } else if q.abs() >= 0.1 {
        format!("{q:.2}")
    } else {
        format!("{q:.4}")
    }
}

/// The report as a plain-text table with a header naming the machine, profile and commit.
pub fn render_table(r: &Report) -> String {
    let head = [
        "scenario", "backend", "value", "unit", "baseline", "ratio", "target", "met",
    ];
    let opt = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "-".into());
    let cells: Vec<[String; 8]> = r
        .rows
        .iter()
        .map(|row| {
            [
                row.scenario.clone(),
                row.backend.clone(),
                fmt_num(row.value),
                row.unit.clone(),
                opt(row.baseline),
                row.ratio.map(fmt_ratio).unwrap_or_else(|| "-".into()),
                row.target
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "-".into()),
                match row.met {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c.iter()) {
            *w = (*w).max(s.len());
        }
    }
    // Numbers right-aligned, text left-aligned.
    let right = [false, false, true, false, true, true, false, false];
    let line = |c: &[String]| {
        let parts: Vec<String> = c
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if right[i] {
                    format!("{s:>w$}", w = width[i])
                } else {
                    format!("{s:<w$}", w = width[i])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = String::new();
    let m = &r.machine;
    out.push_str(&format!(
        "switchyard-bench ({} mode), server profile {}, commit {}\n",
        r.mode, r.profile, r.commit
    ));
    out.push_str(&format!(
        "machine: {} cores, {} MiB memory, {}, {}\n\n",
        m.cores,
        m.memory_mb,
        if m.cpu.is_empty() {
            "unknown CPU"
        } else {
            &m.cpu
        },
        m.os
    ));
    out.push_str(&line(&head.map(String::from)));
    out.push('\n');
    out.push_str(&line(&width.map(|w| "-".repeat(w))));
    out.push('\n');
    for c in &cells {
        out.push_str(&line(c));
        out.push('\n');
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_groups_are_cut_where_they_end() {
        assert_eq!(STORAGE_SCENARIOS.first(), Some(&"bulk_provisioning"));
        assert_eq!(STORAGE_SCENARIOS.last(), Some(&"http_publish"));
        assert_eq!(BULK_SCENARIOS.last(), Some(&"api_read_shared"));
        assert_eq!(
            MQTT_SCENARIOS,
            [
                "mqtt_qos0",
                "mqtt_qos1",
                "mqtt_burst",
                "mqtt_idle_connection_memory"
            ]
        );
    }
}
