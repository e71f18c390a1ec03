//! The `switchyard` command: serve, migrate, print-config and the client commands.

use std::sync::Arc;

use crate::config::{self, Command};
use tracing_subscriber::{EnvFilter, fmt};

fn init_logs(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    if format == "json" {
        fmt().json().with_env_filter(filter).init();
    } else {
        fmt().with_env_filter(filter).init();
    }
}

/// The `switchyard` binary's entry point (also built as the tests' server under test).
#[tokio::main]
pub async fn main() {
    let cli = match config::parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match cli.command {
        Some(Command::PrintConfig) => print!("{}", config::template()),
        Some(Command::Migrate(s)) => {
            init_logs(&s.log, &s.log_format);
            match crate::open_store(&s).await {
                Ok((_, d)) => println!("migrations applied: {d}"),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some(Command::Serve(s)) => serve(*s).await,
        Some(Command::Client(c)) => {
            std::process::exit(switchyard_cli::run_command(&cli.client, c).await)
        }
        None => {
            eprintln!("usage: switchyard <serve|migrate|print-config> [--help]");
            std::process::exit(2);
        }
    }
}

/// Raises the soft open-file limit to the hard one (each MQTT or HTTP connection holds
/// a descriptor; shells and service managers often start with 1,024). Returns the
/// limit now in force and the hard limit.
fn raise_open_files() -> Option<(u64, u64)> {
    let soft = rlimit::increase_nofile_limit(u64::MAX).ok()?;
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    Some((soft, hard))
}

async fn serve(s: crate::Settings) {
    init_logs(&s.log, &s.log_format);
    let open_files = raise_open_files();
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    // Histogram samples pile up in the recorder until upkeep drains them into their
    // summaries; without a scraper nothing else would (per message and per request:
    // memory without bound). `install_recorder` leaves the upkeep to its caller.
    if let Some(h) = metrics.clone() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                h.run_upkeep();
            }
        });
    }
    let data_dir = s.data_dir.clone();
    let running_settings = s.clone();
    let running = match crate::start(s, Arc::new(switchyard_auth::SystemClock), metrics).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("switchyard {} ready", env!("CARGO_PKG_VERSION"));
    for a in &running.http_addrs {
        println!("  HTTP API     http://{a}");
    }
    match (&running.mqtt_addr, &running.mqtt_note) {
        (Some(a), _) => println!("  MQTT         mqtt://{a}  (WebSocket: ws://<http>/mqtt)"),
        (None, Some(n)) => println!("  MQTT         {n}"),
        (None, None) => println!("  MQTT         off"),
    }
    if let Some(a) = &running.mqtts_addr {
        println!("  MQTTS        mqtts://{a}");
    }
    println!("  store        {}", running.store_description);
    match open_files {
        Some((soft, hard)) if soft >= hard => println!(
            "  open files   {soft} (the hard limit; raise it for more connections: LimitNOFILE=, ulimit -Hn, --ulimit nofile=)"
        ),
        Some((soft, hard)) => println!("  open files   {soft} (hard limit {hard})"),
        None => println!("  open files   limit unknown"),
    }
    println!("  data dir     {}", data_dir.display());
    if let Some(p) = &running.admin_password_file {
        println!(
            "  super-admin  password generated into {} (mode 0600)",
            p.display()
        );
    }
    let deadline = crate::shutdown_timeout(&running_settings).unwrap_or_default();
    stop_signal().await;
    println!("shutting down (a second signal exits at once)");
    // The listeners drain within the timeout each; one second more for the store.
    tokio::select! {
        _ = running.shutdown() => println!("stopped"),
        _ = stop_signal() => {
            eprintln!("second signal: exiting now");
            std::process::exit(130);
        }
        _ = tokio::time::sleep(deadline + std::time::Duration::from_secs(1)) => {
            eprintln!("shutdown took longer than SWITCHYARD_SHUTDOWN_TIMEOUT; exiting");
            std::process::exit(1);
        }
    }
}

/// SIGTERM (docker stop, systemd, Kubernetes) or SIGINT (Ctrl-C).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
