//! `switchyard-bench`: see the crate documentation (`src/lib.rs`) and README.md.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use switchyard_bench::{
    machine,
    report::{self, Report, SCENARIOS},
    scale,
    scenarios::{self, Backend, Config, Outcome, Sizes},
};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-bench",
    about = "Benchmarks a release switchyard server on loopback"
)]
struct Cli {
    /// Smaller and shorter: 10k clients in 2k batches, 3 s load phases; the scale
    /// scenario with 200k clients instead of 1M.
    #[arg(long)]
    quick: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// PostgreSQL admin connection used to create and drop the bench's databases.
    #[arg(
        long,
        env = "SWITCHYARD_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Run SQLite only.
    #[arg(long)]
    no_postgres: bool,
    /// Concurrent workers of the load generator.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// The server binary to measure. Default: release/switchyard in this target
    /// directory, brought up to date with `cargo build --release -p switchyard` first.
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Do not run cargo: measure the release binary as it is.
    #[arg(long)]
    no_build: bool,
    /// Run only the MQTT scenarios (mqtt_qos0, mqtt_qos1, mqtt_idle_connection_memory).
    #[arg(long)]
    only_mqtt: bool,
    /// Run only these scenarios (comma-separated names as in the report's first column,
    /// e.g. `mapping,bootstrap_fetch`); what they need (the bulk load before api_read,
    /// the gateways before bootstrap_fetch) runs too.
    #[arg(long, value_delimiter = ',', value_name = "SCENARIO")]
    only: Vec<String>,
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

async fn run(cli: Cli) -> Result<(Report, bool), String> {
    let root = machine::workspace_root();
    let mut notes = Vec::new();
    let mut only = cli.only.clone();
    if let Some(bad) = only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        return Err(format!(
            "--only: no scenario {bad:?}; the scenarios are {}",
            SCENARIOS.join(", ")
        ));
    }
    if cli.only_mqtt {
        only.extend(scenarios::MQTT_SCENARIOS.iter().map(|s| s.to_string()));
    }
    if !only.is_empty() {
        notes.push(format!(
            "only these scenarios were run: {}",
            only.join(", ")
        ));
    }
    let server_bin = match cli.server_bin {
        Some(p) => p,
        None => {
            let bin = machine::default_server_bin(&root);
            // A no-op when the binary is up to date.
            let built = if cli.no_build {
                false
            } else {
                match machine::build_server(&root) {
                    Ok(()) => true,
                    Err(e) if bin.exists() => {
                        let w = format!("{e}; measuring the existing {}", bin.display());
                        eprintln!("warning: {w}");
                        notes.push(w);
                        false
                    }
                    Err(e) => return Err(e),
                }
            };
            if !built && machine::binary_stale(&root, &bin) {
                let w = format!(
                    "{} is older than the sources: the figures are for older code",
                    bin.display()
                );
                eprintln!("warning: {w}");
                notes.push(w);
            }
            bin
        }
    };
    if !server_bin.exists() {
        return Err(format!("no server binary at {}", server_bin.display()));
    }
    let commit = machine::commit(&root);
    if machine::dirty(&root) {
        notes.push("the work tree has uncommitted changes: the commit does not fully name what was measured".into());
    }
    let http = scenarios::http_client()?;
    // Before any server starts: they inherit it.
    if let Err(e) = switchyard_bench::mqtt::raise_nofile() {
        notes.push(format!("cannot raise the open-file limit: {e}"));
    }

    let mut postgres_url = None;
    if !scenarios::wanted(&only, scenarios::STORAGE_SCENARIOS)
        && !scenarios::wanted(&only, &["scale"])
    {
        // The MQTT scenarios and the footprint use SQLite only.
    } else if cli.no_postgres {
        notes.push("PostgreSQL skipped (--no-postgres)".into());
    } else {
        match switchyard_bench::pg::probe(&cli.postgres_url).await {
            Ok(v) => {
                eprintln!("PostgreSQL {v} at {}", redact(&cli.postgres_url));
                postgres_url = Some(cli.postgres_url.clone());
            }
            Err(e) => {
                let n = format!(
                    "PostgreSQL unreachable at {} ({e}); postgres rows skipped (set SWITCHYARD_BENCH_POSTGRES_URL)",
                    redact(&cli.postgres_url)
                );
                eprintln!("note: {n}");
                notes.push(n);
            }
        }
    }
    let cfg = Config {
        quick: cli.quick,
        workers: cli.workers.max(1),
        postgres_url,
        server_bin,
        only,
    };
    let sizes = Sizes::for_mode(cfg.quick);
    let started = std::time::Instant::now();
    let mut out = Outcome::default();
    if cfg.wants(&["footprint"]) {
        eprintln!("footprint: {}", cfg.server_bin.display());
        scenarios::footprint(&cfg, &http, &mut out).await;
    }
    scenarios::storage(Backend::Sqlite, &cfg, sizes, &http, &mut out).await;
    if cfg.postgres_url.is_some() {
        scenarios::storage(Backend::Postgres, &cfg, sizes, &http, &mut out).await;
        if cfg.wants(&["mapping"]) {
            switchyard_bench::sqlcount::postgres_statements(&cfg, &http, &mut out).await;
        }
    }
    if cfg.wants(&["scale"]) {
        scale::run(Backend::Sqlite, &cfg, &http, &mut out).await;
        if cfg.postgres_url.is_some() {
            scale::run(Backend::Postgres, &cfg, &http, &mut out).await;
        }
    }
    if cfg.wants(scenarios::MQTT_SCENARIOS) {
        switchyard_bench::mqtt::run(&cfg, sizes, &http, &mut out).await;
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());

    out.rows.sort_by_key(|r| {
        SCENARIOS
            .iter()
            .position(|s| *s == r.scenario)
            .unwrap_or(usize::MAX)
    });
    notes.extend(out.notes);
    let report = Report {
        machine: machine::machine(),
        commit,
        rows: out.rows,
        profile: "release".into(),
        mode: if cfg.quick { "quick" } else { "full" }.into(),
        notes,
    };
    Ok((report, out.failed))
}

/// SIGTERM (as `kill` and service managers send); never on other platforms.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_path = cli.json.clone();
    // Ctrl-C or SIGTERM drops the run: its guards kill the servers, remove the temp
    // dirs and drop the databases.
    let result = tokio::select! {
        r = run(cli) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted; everything started was stopped");
            return ExitCode::from(130);
        }
        _ = terminated() => {
            eprintln!("terminated; everything started was stopped");
            return ExitCode::from(143);
        }
    };
    let (report, failed) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report::render_table(&report));
    let doc = report.to_json();
    if let Err(problems) = report::validate(&doc) {
        for p in problems {
            eprintln!("report shape: {p}");
        }
        return ExitCode::FAILURE;
    }
    if let Some(p) = json_path {
        // From the struct, so the keys keep the documented order.
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(&p, text + "\n") {
            eprintln!("error: {}: {e}", p.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", p.display());
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
