//! JSON containment (`metadata @> needle`): native jsonb containment, served by the GIN
//! (`jsonb_path_ops`) index on `clients.metadata` and `channels.metadata`. The SQLite
//! backend translates the same semantics to JSON1; the store contract suite checks the
//! two agree.

use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};

/// Pushes a boolean SQL expression: the jsonb document in column/expression `base`
/// contains `needle`.
pub fn push_contains(qb: &mut QueryBuilder<Postgres>, base: &str, needle: &Value) {
    qb.push(format!("({base} @> "));
    qb.push_bind(sqlx::types::Json(needle.clone()));
    qb.push("::jsonb)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_the_needle() {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
        push_contains(&mut qb, "t.metadata", &serde_json::json!({"a": 1}));
        assert_eq!(qb.sql().as_str(), "SELECT (t.metadata @> $1::jsonb)");
    }
}
