use std::sync::Arc;

use switchyard::config::{self, Command};
use tracing_subscriber::{EnvFilter, fmt};

fn init_logs(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    if format == "json" {
        fmt().json().with_env_filter(filter).init();
    } else {
        fmt().with_env_filter(filter).init();
    }
}

#[tokio::main]
async fn main() {
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
            match switchyard::open_store(&s).await {
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

async fn serve(s: switchyard::Settings) {
    init_logs(&s.log, &s.log_format);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let data_dir = s.data_dir.clone();
    let running = match switchyard::start(s, Arc::new(switchyard_auth::SystemClock), metrics).await
    {
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
    println!("  data dir     {}", data_dir.display());
    if let Some(p) = &running.admin_password_file {
        println!(
            "  super-admin  password generated into {} (mode 0600)",
            p.display()
        );
    }
    let _ = tokio::signal::ctrl_c().await;
    println!("shutting down");
    running.shutdown().await;
}
