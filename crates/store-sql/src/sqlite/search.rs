//! Pre-filters over the list indexes of migration 0009 (`<table>_name`, an FTS5
//! trigram index of names, and `<table>_facts`, one row per tag and per top-level
//! scalar metadata value). Each narrows the rows a list reads to a superset of the
//! answer; the exact filters pushed beside them (LIKE with escapes, the JSON
//! containment) still decide, so the pre-filters change the speed, never the result.

use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite};
use switchyard_domain::{PageQuery, TagFilter};

/// Pushes ` AND t.rowid IN (…)` for each filter of `p` an index of `table` can narrow.
pub fn push_prefilters(qb: &mut QueryBuilder<Sqlite>, table: &str, p: &PageQuery) {
    if let Some(n) = &p.name
        && has_trigram(n)
    {
        // Without ESCAPE (FTS5 would not use its index): `%` and `_` in the needle act
        // as wildcards here, which only widens the candidates.
        qb.push(format!(
            " AND t.rowid IN (SELECT rowid FROM {table}_name WHERE name LIKE "
        ));
        qb.push_bind(format!("%{n}%"));
        qb.push(")");
    }
    if let Some(facts) = p.tags.as_ref().and_then(tag_facts) {
        push_facts(qb, table, facts);
    }
    if let Some(fact) = p.metadata.as_ref().and_then(metadata_fact) {
        push_facts(qb, table, vec![fact]);
    }
}

fn push_facts(qb: &mut QueryBuilder<Sqlite>, table: &str, facts: Vec<String>) {
    qb.push(format!(
        " AND t.rowid IN (SELECT rid FROM {table}_facts WHERE fact IN ("
    ));
    let mut sep = qb.separated(", ");
    for f in facts {
        sep.push_bind(f);
    }
    qb.push("))");
}

/// FTS5 answers a LIKE from its trigram index only when the pattern has three
/// characters in a row that are not wildcards.
fn has_trigram(needle: &str) -> bool {
    needle.split(['%', '_']).any(|run| run.chars().count() >= 3)
}

/// The facts a row must have one of: any wanted tag, or for "all of", the first.
fn tag_facts(tags: &TagFilter) -> Option<Vec<String>> {
    let want: Vec<&String> = match tags {
        TagFilter::Any(w) => w.iter().collect(),
        TagFilter::All(w) => w.iter().take(1).collect(),
    };
    if want.is_empty() || want.iter().any(|t| t.contains('\0')) {
        return None;
    }
    Some(want.into_iter().map(|t| format!("t:{t}")).collect())
}

/// A fact every document containing `needle` has: the first top-level key of the
/// needle with a string, boolean or null value (jsonb containment compares scalars
/// under an object key by equality, and the migration's triggers index exactly those).
/// Numbers are not indexed: SQLite and Rust spell them differently.
fn metadata_fact(needle: &serde_json::Map<String, Value>) -> Option<String> {
    needle.iter().find_map(|(k, v)| {
        let val = match v {
            Value::String(s) if !s.contains('\0') => format!("s:{s}"),
            Value::Bool(true) => "t".into(),
            Value::Bool(false) => "f".into(),
            Value::Null => "z".into(),
            _ => return None,
        };
        (!k.contains('\0')).then(|| format!("m:{k}={val}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_needles_with_three_plain_characters_use_the_name_index() {
        assert!(has_trigram("dev"));
        assert!(has_trigram("a%bcd"));
        assert!(!has_trigram("ab"));
        assert!(!has_trigram("a_b%c"));
        assert!(has_trigram("äöü"));
    }

    #[test]
    fn metadata_facts_are_the_first_indexed_scalar() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            metadata_fact(&m(json!({"n": 1, "site": "x"}))).as_deref(),
            Some("m:site=s:x")
        );
        assert_eq!(
            metadata_fact(&m(json!({"on": true}))).as_deref(),
            Some("m:on=t")
        );
        assert_eq!(
            metadata_fact(&m(json!({"z": null}))).as_deref(),
            Some("m:z=z")
        );
        assert_eq!(
            metadata_fact(&m(json!({"o": {"a": "b"}, "l": ["x"]}))),
            None
        );
        assert_eq!(metadata_fact(&m(json!({"s": "a\u{0}b"}))), None);
    }

    #[test]
    fn all_of_narrows_by_its_first_tag() {
        let all = TagFilter::All(vec!["a".into(), "b".into()]);
        assert_eq!(tag_facts(&all), Some(vec!["t:a".to_string()]));
        let any = TagFilter::Any(vec!["a".into(), "b".into()]);
        assert_eq!(
            tag_facts(&any),
            Some(vec!["t:a".to_string(), "t:b".to_string()])
        );
    }
}
