//! Planner statistics kept fresh after bulk writes. A table loaded in one go (a fleet
//! bulk-created, thousands of connections) would otherwise be planned from stale
//! statistics until autovacuum (PostgreSQL) or nobody (SQLite) refreshes them, and a
//! 1-row estimate turns an indexed join into a scan of millions of rows. After a
//! table has taken at least [`MIN_ROWS`] new rows and a tenth of what it had, it is
//! analysed in the background (at most once at a time per table); the write that tipped
//! it is not delayed.

use std::{collections::HashMap, sync::Mutex};

use sqlx::QueryBuilder;

use crate::{
    SqlStore,
    dialect::{Dialect, Sql, sql},
};

/// Fewest new rows that make a table worth analysing again.
pub(crate) const MIN_ROWS: u64 = 1000;

#[derive(Default)]
struct Table {
    /// Rows written since the last analysis.
    since: u64,
    /// Rows written up to the last analysis (a lower bound of the table's size).
    known: u64,
    running: bool,
}

#[derive(Default)]
pub(crate) struct Freshness(Mutex<HashMap<&'static str, Table>>);

impl Freshness {
    /// Counts `rows` new rows of `table`; `true` when it is time to analyse it (the
    /// caller then runs the analysis and calls [`Freshness::done`]).
    fn due(&self, table: &'static str, rows: u64) -> bool {
        let Ok(mut m) = self.0.lock() else {
            return false;
        };
        let t = m.entry(table).or_default();
        t.since += rows;
        if t.running || t.since < MIN_ROWS.max(t.known / 10) {
            return false;
        }
        t.running = true;
        t.known += t.since;
        t.since = 0;
        true
    }

    fn done(&self, table: &'static str) {
        if let Ok(mut m) = self.0.lock()
            && let Some(t) = m.get_mut(table)
        {
            t.running = false;
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    async fn analyze(&self, table: &'static str) -> switchyard_store::Result<()> {
        if let Some(prep) = D::ANALYZE_PREP {
            sql::<D>(prep).execute(&self.writer).await?;
        }
        let mut qb = QueryBuilder::<D>::new(format!("ANALYZE {table}"));
        Sql::from(qb.build()).execute(&self.writer).await?;
        if let Some(after) = D::ANALYZE_AFTER {
            sql::<D>(after).text(table).fetch_all(&self.writer).await?;
        }
        Ok(())
    }

    /// Records a committed `/mapping` plan.
    pub(crate) fn wrote_plan(&self, p: &switchyard_store::ProvisionPlan) {
        self.wrote("clients", p.clients.len());
        self.wrote("channels", p.channels.len());
        self.wrote("connections", p.connections.len());
        self.wrote("bootstrap_configs", 1);
    }

    /// Records a committed bulk write of `rows` rows into `table`.
    pub(crate) fn wrote(&self, table: &'static str, rows: usize) {
        if !self.fresh.due(table, rows as u64) {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match store.analyze(table).await {
                Ok(()) => tracing::debug!(table, took = ?started.elapsed(), "statistics refreshed"),
                Err(e) => tracing::warn!(table, error = %e, "statistics not refreshed"),
            }
            store.fresh.done(table);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyses_after_enough_new_rows_once_at_a_time() {
        let f = Freshness::default();
        assert!(!f.due("clients", 10));
        assert!(!f.due("clients", 900));
        assert!(f.due("clients", 100)); // 1,010 new rows
        assert!(!f.due("clients", 5000)); // one at a time
        f.done("clients");
        // 1,010 known; 5,000 waiting: due at the next write.
        assert!(f.due("clients", 1));
        f.done("clients");
        // 6,011 known: the next analysis after max(1,000, 601) more rows.
        assert!(!f.due("clients", 999));
        assert!(f.due("clients", 1));
        f.done("clients");
        // A bigger table waits for a tenth of its size.
        let big = Freshness::default();
        assert!(big.due("connections", 100_000));
        big.done("connections");
        assert!(!big.due("connections", 9_000));
        assert!(big.due("connections", 1_000));
        // Tables count apart.
        assert!(!f.due("channels", 999));
    }
}
