//! JSON containment (`metadata @> needle`, PostgreSQL's jsonb semantics) translated to
//! SQLite's JSON1 functions with bound parameters only.
//!
//! Rules mirrored from jsonb: an object contains another if every key of the needle is
//! present and its value contains the needle's value; an array contains another if
//! every needle element is contained in some element; scalars must be equal (numbers by
//! numeric value).

use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite};

/// Pushes a boolean SQL expression: the JSON document in column/expression `base`
/// contains `needle`.
pub fn push_contains(qb: &mut QueryBuilder<Sqlite>, base: &str, needle: &Value) {
    let mut alias = 0usize;
    at_path(qb, base, "$", needle, &mut alias);
}

/// The key quoted for a JSON1 path, when the path can name it. JSON1 paths have no
/// escapes, and a label is matched against the key as the document spells it, so a key
/// with a quote, a backslash or a control character cannot be named by a path: those
/// are matched by comparing `json_each`'s decoded `key` instead.
fn quote_key(k: &str) -> Option<String> {
    if k.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        None
    } else {
        Some(format!("\"{k}\""))
    }
}

/// Whether `n` is an integer beyond i64: SQLite reads those as REAL (rounded), so
/// equality is decided on the number's JSON text instead.
fn big_integer(n: &serde_json::Number) -> Option<String> {
    (n.as_i64().is_none() && n.as_u64().is_some()).then(|| n.to_string())
}

/// `base` at JSON path `path` contains `needle`.
fn at_path(
    qb: &mut QueryBuilder<Sqlite>,
    base: &str,
    path: &str,
    needle: &Value,
    alias: &mut usize,
) {
    let typ = |qb: &mut QueryBuilder<Sqlite>| {
        qb.push(format!("json_type({base}, "));
        qb.push_bind(path.to_string());
        qb.push(")");
    };
    match needle {
        Value::Object(map) => {
            qb.push("(");
            typ(qb);
            qb.push(" = 'object'");
            for (k, v) in map {
                qb.push(" AND ");
                match quote_key(k) {
                    Some(q) => at_path(qb, base, &format!("{path}.{q}"), v, alias),
                    None => {
                        *alias += 1;
                        let a = format!("je{alias}");
                        qb.push(format!("EXISTS (SELECT 1 FROM json_each({base}, "));
                        qb.push_bind(path.to_string());
                        qb.push(format!(") AS {a} WHERE {a}.key = "));
                        qb.push_bind(k.clone());
                        qb.push(" AND ");
                        element(qb, &a, v, alias);
                        qb.push(")");
                    }
                }
            }
            qb.push(")");
        }
        Value::Array(items) => {
            qb.push("(");
            typ(qb);
            qb.push(" = 'array'");
            for item in items {
                *alias += 1;
                let a = format!("je{alias}");
                qb.push(format!(" AND EXISTS (SELECT 1 FROM json_each({base}, "));
                qb.push_bind(path.to_string());
                qb.push(format!(") AS {a} WHERE "));
                element(qb, &a, item, alias);
                qb.push(")");
            }
            qb.push(")");
        }
        scalar => {
            qb.push("(");
            typ(qb);
            match scalar {
                Value::String(s) => {
                    qb.push(format!(" = 'text' AND json_extract({base}, "));
                    qb.push_bind(path.to_string());
                    qb.push(") = ");
                    qb.push_bind(s.clone());
                }
                Value::Number(n) => match big_integer(n) {
                    Some(text) => {
                        qb.push(format!(" IN ('integer', 'real') AND ({base} -> "));
                        qb.push_bind(path.to_string());
                        qb.push(") = ");
                        qb.push_bind(text);
                    }
                    None => {
                        qb.push(format!(" IN ('integer', 'real') AND json_extract({base}, "));
                        qb.push_bind(path.to_string());
                        qb.push(") = ");
                        push_number(qb, n);
                    }
                },
                Value::Bool(true) => {
                    qb.push(" = 'true'");
                }
                Value::Bool(false) => {
                    qb.push(" = 'false'");
                }
                _ => {
                    qb.push(" = 'null'");
                }
            }
            qb.push(")");
        }
    }
}

/// The array element row `a` (from `json_each`) contains `needle`.
fn element(qb: &mut QueryBuilder<Sqlite>, a: &str, needle: &Value, alias: &mut usize) {
    match needle {
        Value::Object(_) => {
            qb.push(format!("({a}.type = 'object' AND "));
            at_path(qb, &format!("{a}.value"), "$", needle, alias);
            qb.push(")");
        }
        Value::Array(_) => {
            qb.push(format!("({a}.type = 'array' AND "));
            at_path(qb, &format!("{a}.value"), "$", needle, alias);
            qb.push(")");
        }
        Value::String(s) => {
            qb.push(format!("({a}.type = 'text' AND {a}.value = "));
            qb.push_bind(s.clone());
            qb.push(")");
        }
        Value::Number(n) => match big_integer(n) {
            // The element's own JSON text, found again from json_each's input and path.
            Some(text) => {
                qb.push(format!(
                    "({a}.type IN ('integer', 'real') AND ({a}.json -> {a}.fullkey) = "
                ));
                qb.push_bind(text);
                qb.push(")");
            }
            None => {
                qb.push(format!("({a}.type IN ('integer', 'real') AND {a}.value = "));
                push_number(qb, n);
                qb.push(")");
            }
        },
        Value::Bool(true) => {
            qb.push(format!("{a}.type = 'true'"));
        }
        Value::Bool(false) => {
            qb.push(format!("{a}.type = 'false'"));
        }
        Value::Null => {
            qb.push(format!("{a}.type = 'null'"));
        }
    }
}

fn push_number(qb: &mut QueryBuilder<Sqlite>, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        qb.push_bind(i);
    } else {
        qb.push_bind(n.as_f64().unwrap_or(f64::NAN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sqlx::{Row, sqlite::SqlitePoolOptions};

    async fn contains(doc: &Value, needle: &Value) -> bool {
        let pool = SqlitePoolOptions::new()
            .connect("sqlite::memory:")
            .await
            .expect("memory db");
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
        let base = format!("'{}'", doc.to_string().replace('\'', "''"));
        push_contains(&mut qb, &base, needle);
        qb.push(" AS r");
        let row = qb.build().fetch_one(&pool).await.expect("query");
        row.get::<bool, _>("r")
    }

    #[tokio::test]
    async fn containment_cases() {
        let doc = json!({"a": 1, "b": {"c": "x", "d": [1, 2, {"e": true}]}, "n": null, "f": 1.5});
        let yes = [
            json!({}),
            json!({"a": 1}),
            json!({"a": 1.0}),
            json!({"b": {"c": "x"}}),
            json!({"b": {"d": [2]}}),
            json!({"b": {"d": [{"e": true}]}}),
            json!({"b": {"d": [{}]}}),
            json!({"b": {"d": []}}),
            json!({"n": null}),
            json!({"f": 1.5}),
        ];
        let no = [
            json!({"a": 2}),
            json!({"a": "1"}),
            json!({"z": 1}),
            json!({"b": {"c": "y"}}),
            json!({"b": {"d": [3]}}),
            json!({"b": {"d": 1}}),
            json!({"b": {"d": [{"e": false}]}}),
            json!({"b": [1]}),
            json!({"n": 0}),
            json!({"a": null}),
        ];
        for n in &yes {
            assert!(contains(&doc, n).await, "should contain {n}");
        }
        for n in &no {
            assert!(!contains(&doc, n).await, "should not contain {n}");
        }
    }

    #[tokio::test]
    async fn keys_needing_escapes_and_integers_beyond_i64() {
        let doc = json!({
            "k\"q": 1, "k\\q": 2, "t\tb": {"in": [3]},
            "big": 18_446_744_073_709_551_615_u64,
            "bigs": [18_446_744_073_709_551_615_u64],
            "w\"x": [{"big": 18_446_744_073_709_551_615_u64}]
        });
        let yes = [
            json!({"k\"q": 1}),
            json!({"k\\q": 2}),
            json!({"t\tb": {"in": [3]}}),
            json!({"big": 18_446_744_073_709_551_615_u64}),
            json!({"bigs": [18_446_744_073_709_551_615_u64]}),
            json!({"w\"x": [{"big": 18_446_744_073_709_551_615_u64}]}),
        ];
        let no = [
            json!({"k\"q": 2}),
            json!({"kq": 1}),
            json!({"k\\q": 1}),
            json!({"t\tb": {"in": [4]}}),
            json!({"big": 18_446_744_073_709_551_614_u64}),
            json!({"bigs": [18_446_744_073_709_551_614_u64]}),
            json!({"w\"x": [{"big": 18_446_744_073_709_551_614_u64}]}),
        ];
        for n in &yes {
            assert!(contains(&doc, n).await, "should contain {n}");
        }
        for n in &no {
            assert!(!contains(&doc, n).await, "should not contain {n}");
        }
    }
}
