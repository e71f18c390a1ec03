//! The contract suite keeps up with the contract: every repository method declared in
//! `switchyard-store` is called by some suite function (the suites are what runs on
//! both databases).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{fs, path::Path};

/// The text of every `.rs` file directly in `dir`.
fn sources(dir: &Path) -> String {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn every_repository_method_is_called_by_a_suite() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let contract = sources(&here.join("../store/src"));
    // Calls, not comments that mention them.
    let suites: String = sources(&here.join("src"))
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let methods: Vec<&str> = contract
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("async fn "))
        .map(|rest| rest.split(['(', '<']).next().unwrap())
        .collect();
    assert!(methods.len() > 100, "found only {methods:?}");
    let missing: Vec<&str> = methods
        .iter()
        .copied()
        .filter(|m| !suites.contains(&format!(".{m}(")) && !suites.contains(&format!("::{m}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "repository methods no contract suite calls: {missing:?}"
    );
}
