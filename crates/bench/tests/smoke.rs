//! Cheap checks of the report: a synthetic report serialises to the documented shape
//! and the validator catches broken ones. No benchmark runs here.

use serde_json::{Value, json};
use switchyard_bench::{
    load::percentile,
    report::{Machine, Report, Row, Target, render_table, validate},
};

fn synthetic() -> Report {
    Report {
        machine: Machine {
            cores: 2,
            memory_mb: 24105,
            cpu: "Test CPU".into(),
            os: "linux x86_64 6.1".into(),
        },
        commit: "eec181b0123456789abcdef0123456789abcdef0".into(),
        rows: vec![
            Row::new(
                "bulk_provisioning",
                "sqlite",
                40_000.0,
                "clients/s",
                Some(50_000.0),
                Some(Target::ratio_at_least(0.5)),
            ),
            Row::new(
                "bulk_provisioning",
                "postgres",
                10_000.0,
                "clients/s",
                Some(40_000.0),
                Some(Target::ratio_at_least(0.5)),
            ),
            Row::new(
                "api_read",
                "sqlite",
                9_000.0,
                "req/s",
                Some(15_000.0),
                Some(Target::ratio_at_least(0.5)),
            ),
            Row::new("api_read", "sqlite", 4.2, "ms p99", Some(2.1), None),
            Row::new("api_list", "sqlite", 800.0, "req/s", Some(15_000.0), None),
            Row::new(
                "footprint",
                "sqlite",
                12.5,
                "MB idle RSS",
                None,
                Some(Target::value_at_most(30.0)),
            ),
            Row::new(
                "footprint",
                "sqlite",
                0.7,
                "s cold start",
                None,
                Some(Target::value_at_most(0.5)),
            ),
            Row::new("footprint", "-", 21.0, "MB binary", None, None),
            Row::new(
                "mapping",
                "sqlite",
                945.0,
                "mappings/s",
                None,
                Some(Target::value_at_least(1000.0)),
            ),
            Row::new(
                "http_publish",
                "postgres",
                20_000.0,
                "msgs/s",
                Some(8_000.0),
                Some(Target::ratio_at_least(0.5)),
            ),
        ],
        profile: "release".into(),
        mode: "quick".into(),
        notes: vec!["PostgreSQL skipped".into()],
    }
}

#[test]
fn synthetic_report_has_the_documented_shape() {
    let r = synthetic();
    let doc = r.to_json();
    assert_eq!(validate(&doc), Ok(()));

    assert_eq!(doc["machine"]["cores"], json!(2));
    assert_eq!(doc["machine"]["memory_mb"], json!(24105));
    assert!(doc["commit"].is_string());
    let rows = doc["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 10);
    for row in rows {
        let keys: Vec<&String> = row.as_object().expect("row object").keys().collect();
        for k in [
            "scenario", "backend", "value", "unit", "baseline", "ratio", "target", "met",
        ] {
            assert!(keys.iter().any(|x| *x == k), "row lacks {k}: {row}");
        }
    }

    // Ratio and met derived from baseline and target.
    assert_eq!(rows[0]["ratio"], json!(0.8));
    assert_eq!(rows[0]["target"], json!("ratio >= 0.5"));
    assert_eq!(rows[0]["met"], json!(true));
    assert_eq!(rows[1]["ratio"], json!(0.25));
    assert_eq!(rows[1]["met"], json!(false));
    // No target: met is null; a baseline still gives a ratio.
    assert_eq!(rows[4]["target"], Value::Null);
    assert_eq!(rows[4]["met"], Value::Null);
    assert!(rows[4]["ratio"].is_number());
    // No baseline: baseline and ratio are null.
    assert_eq!(rows[5]["baseline"], Value::Null);
    assert_eq!(rows[5]["ratio"], Value::Null);
    assert_eq!(rows[5]["target"], json!("value <= 30"));
    assert_eq!(rows[5]["met"], json!(true));
    assert_eq!(rows[6]["met"], json!(false));
    assert_eq!(rows[8]["target"], json!("value >= 1000"));
    assert_eq!(rows[8]["met"], json!(false));
    assert_eq!(rows[9]["ratio"], json!(2.5));
    assert_eq!(rows[9]["met"], json!(true));

    // Round trip.
    let back: Report = serde_json::from_value(doc).expect("deserialises");
    assert_eq!(back, r);
}

#[test]
fn validator_rejects_broken_reports() {
    let good = synthetic().to_json();
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut d = good.clone();
        f(&mut d);
        validate(&d).expect_err("should be rejected")
    };
    broken(&|d| {
        d.as_object_mut().expect("obj").remove("machine");
    });
    broken(&|d| d["commit"] = json!(""));
    broken(&|d| d["rows"][0]["scenario"] = json!("mqtt_publish"));
    broken(&|d| d["rows"][0]["backend"] = json!("mysql"));
    broken(&|d| d["rows"][0]["met"] = Value::Null);
    broken(&|d| d["rows"][0]["met"] = json!(false));
    broken(&|d| d["rows"][4]["met"] = json!(true));
    broken(&|d| d["rows"][5]["ratio"] = json!(1.0));
    broken(&|d| d["rows"][0]["ratio"] = json!(0.3));
    broken(&|d| d["rows"][0]["target"] = json!("ratio > 0.5"));
    broken(&|d| {
        d["rows"][2]
            .as_object_mut()
            .expect("obj")
            .remove("baseline");
    });
    let mut unknown = good.clone();
    unknown["commit"] = json!("unknown");
    assert_eq!(validate(&unknown), Ok(()));
}

#[test]
fn targets_parse_and_check() {
    let t: Target = "ratio >= 0.5".parse().expect("parses");
    assert_eq!(t, Target::ratio_at_least(0.5));
    assert!(t.met(1.0, Some(0.5)));
    assert!(!t.met(1.0, Some(0.49)));
    assert!(!t.met(1.0, None));
    let l: Target = "value >= 1000".parse().expect("parses");
    assert_eq!(l, Target::value_at_least(1000.0));
    assert!(l.met(1000.0, None));
    assert!(!l.met(999.9, Some(10.0)));
    let v: Target = "value <= 30".parse().expect("parses");
    assert!(v.met(29.9, None));
    assert!(!v.met(30.1, None));
    assert!("speed >= 1".parse::<Target>().is_err());
    assert!("value = 1".parse::<Target>().is_err());
}

#[test]
fn table_shows_every_row_and_the_header() {
    let t = render_table(&synthetic());
    assert!(t.contains("release"));
    assert!(t.contains("eec181b"));
    assert!(t.contains("2 cores"));
    for s in [
        "bulk_provisioning",
        "api_read",
        "api_list",
        "footprint",
        "MB idle RSS",
        "ratio >= 0.5",
        "mapping",
        "value >= 1000",
        "http_publish",
    ] {
        assert!(t.contains(s), "table lacks {s}:\n{t}");
    }
    assert!(t.contains("note: PostgreSQL skipped"));
}

#[test]
fn nearest_rank_percentile() {
    let v: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&v, 99.0), 99);
    assert_eq!(percentile(&v, 100.0), 100);
    assert_eq!(percentile(&v, 50.0), 50);
    assert_eq!(percentile(&[7], 99.0), 7);
    assert_eq!(percentile(&[], 99.0), 0);
}
