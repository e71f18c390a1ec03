//! `mqtt_burst`: Debian's `mosquitto_pub -l` publishes N lines as fast as its socket
//! takes them, QoS 0, to one `mosquitto_sub`, against Switchyard and against Mosquitto
//! in the same run: the fraction delivered, the time from the first message received
//! to the last (and from the first line written), and the server's memory growth. Generators the project did not
//! write, so a publisher faster than its subscriber is not paced by the bench.

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// The bursts measured: a gateway flushing its buffer, and a large backlog.
pub const BURSTS: [usize; 2] = [5_000, 200_000];

/// Runs of each burst; the report takes the fastest times and the fewest delivered.
pub const RUNS: usize = 5;

/// What one burst did.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    pub sent: usize,
    pub delivered: usize,
    /// First message received to the last: the broker moving the burst.
    /// `mosquitto_pub -l` checks for its CONNACK right after starting its network
    /// thread and, unless that thread already handled it, sleeps 100 ms before its
    /// first publish (`pub_stdin_line_loop` in mosquitto's `client/pub_client.c`): a
    /// race inside the client that either broker loses in most runs, so the time from
    /// the first line written is mostly that sleep.
    pub elapsed: Duration,
    /// First line written to the last message received.
    pub total: Duration,
}

impl Burst {
    pub fn delivered_pct(&self) -> f64 {
        100.0 * self.delivered as f64 / self.sent.max(1) as f64
    }
}

/// A client's credentials for mosquitto's `-u`/`-P` (none for an anonymous broker).
pub type Creds = Option<(String, String)>;

/// Installs Debian's mosquitto-clients when they are missing and this runs as root.
pub fn ensure_clients() -> Result<(), String> {
    let have = |b: &str| Command::new(b).arg("--help").output().is_ok();
    if have("mosquitto_pub") && have("mosquitto_sub") {
        return Ok(());
    }
    eprintln!("[mqtt] mosquitto_pub/mosquitto_sub missing: apt-get install mosquitto-clients");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq", "mosquitto-clients"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    if ok && have("mosquitto_pub") {
        Ok(())
    } else {
        Err(
            "mosquitto_pub/mosquitto_sub are not installed and could not be \
             (apt-get install mosquitto-clients)"
                .into(),
        )
    }
}

fn args(addr: SocketAddr, topic: &str, creds: &Creds) -> Vec<String> {
    let mut a = vec![
        "-h".to_string(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
        "-t".into(),
        topic.into(),
    ];
    if let Some((u, p)) = creds {
        a.extend(["-u".into(), u.clone(), "-P".into(), p.clone()]);
    }
    a
}

/// Kills the child when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// [`RUNS`] bursts of `n`: the fastest time and the fewest delivered.
pub fn repeated(
    addr: SocketAddr,
    topic: &str,
    publisher: &Creds,
    subscriber: &Creds,
    n: usize,
) -> Result<Burst, String> {
    let runs = (0..RUNS)
        .map(|_| run(addr, topic, publisher, subscriber, n))
        .collect::<Result<Vec<_>, _>>()?;
    let delivered = runs.iter().map(|b| b.delivered).min().unwrap_or(0);
    let elapsed = runs.iter().map(|b| b.elapsed).min().unwrap_or_default();
    let total = runs.iter().map(|b| b.total).min().unwrap_or_default();
    Ok(Burst {
        sent: n,
        delivered,
        elapsed,
        total,
    })
}

/// One burst of `n` messages (blocking: run it on a blocking thread). The subscriber
/// is in place before the burst: single probe messages are sent until one arrives.
pub fn run(
    addr: SocketAddr,
    topic: &str,
    publisher: &Creds,
    subscriber: &Creds,
    n: usize,
) -> Result<Burst, String> {
    let mut sub = Reaped(
        Command::new("mosquitto_sub")
            .args(args(addr, topic, subscriber))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mosquitto_sub: {e}"))?,
    );
    let stdout = sub.0.stdout.take().ok_or("mosquitto_sub: no stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut subscribed = false;
    for _ in 0..50 {
        let st = Command::new("mosquitto_pub")
            .args(args(addr, topic, publisher))
            .args(["-m", "probe"])
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("mosquitto_pub: {e}"))?;
        if !st.success() {
            return Err("mosquitto_pub refused (probe)".into());
        }
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            subscribed = true;
            break;
        }
    }
    if !subscribed {
        return Err("the subscriber never received a probe".into());
    }
    let input: String = (0..n).map(|i| format!("m{i}\n")).collect();
    let started = Instant::now();
    let mut publisher = Reaped(
        Command::new("mosquitto_pub")
            .args(args(addr, topic, publisher))
            .arg("-l")
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mosquitto_pub -l: {e}"))?,
    );
    let mut stdin = publisher.0.stdin.take().ok_or("mosquitto_pub: no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut delivered = 0;
    let mut first = None;
    let mut last = started;
    // Done when every message arrived, or nothing more came for 5 s.
    while delivered < n {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(l) if l == "probe" => {}
            Ok(_) => {
                delivered += 1;
                last = Instant::now();
                first.get_or_insert(last);
            }
            Err(_) => break,
        }
    }
    let _ = writer.join();
    Ok(Burst {
        sent: n,
        delivered,
        elapsed: last - first.unwrap_or(last),
        total: last - started,
    })
}
