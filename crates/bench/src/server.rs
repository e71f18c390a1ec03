//! The `switchyard serve` child process: spawned on a free loopback port with a fresh
//! data directory, killed and its directory removed on every exit path (Drop).

use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// A running server. Dropping it kills the process and removes its data directory.
pub struct ServerProc {
    child: Option<Child>,
    pub pid: u32,
    pub base: String,
    pub spawned_at: Instant,
    log: PathBuf,
    /// Highest RssAnon sampled so far (kB), and the sampler's stop flag.
    peak_anon_kb: Arc<AtomicU64>,
    sampling: Arc<AtomicBool>,
    // Dropped after `Drop::drop` has killed the process.
    dir: TempDir,
}

/// A free port on 127.0.0.1 (bound and released; the child binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl ServerProc {
    /// Starts `bin serve` with the given settings (environment variables) on top of
    /// `SWITCHYARD_HTTP_ADDR` and `SWITCHYARD_DATA_DIR`, which are always set here.
    /// Any `SWITCHYARD_*` / `MG_*` variables of this process are not passed on.
    pub fn spawn(bin: &Path, env: &[(&str, String)]) -> Result<ServerProc, String> {
        let dir = tempfile::Builder::new()
            .prefix("switchyard-bench-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("SWITCHYARD_") || k.starts_with("MG_") {
                cmd.env_remove(&*k);
            }
        }
        cmd.env("SWITCHYARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("SWITCHYARD_DATA_DIR", &data)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let spawned_at = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let (peak_anon_kb, sampling) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(true)));
        let pid = child.id();
        {
            let (peak, on) = (peak_anon_kb.clone(), sampling.clone());
            std::thread::spawn(move || {
                while on.load(Ordering::Relaxed) {
                    if let Some(kb) = proc_status_kb(pid, "RssAnon:") {
                        peak.fetch_max(kb, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            });
        }
        Ok(ServerProc {
            peak_anon_kb,
            sampling,
            pid,
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            spawned_at,
            log,
            dir,
        })
    }

    /// Polls `GET /health` until it answers 200; returns the time since spawn.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Duration, String> {
        let url = format!("{}/health", self.base);
        loop {
            if let Ok(r) = http.get(&url).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                return Ok(self.spawned_at.elapsed());
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(format!(
                    "server exited with {status} before it was ready:\n{}",
                    self.log_tail()
                ));
            }
            if self.spawned_at.elapsed() > timeout {
                return Err(format!(
                    "server not ready after {timeout:?}:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The server's SWITCHYARD_DATA_DIR (the SQLite database lives there).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Resident set size from /proc/<pid>/status (VmRSS), in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmRSS:").map(|kb| kb * 1024)
    }

    /// The highest anonymous (private) resident memory sampled every 250 ms since
    /// spawn, in bytes: RSS without the file pages the process maps (its binary, and
    /// SQLite's memory-mapped database, which RSS counts once per connection although
    /// they are one copy in the OS page cache).
    pub fn peak_anon_bytes(&self) -> Option<u64> {
        match self.peak_anon_kb.load(Ordering::Relaxed) {
            0 => None,
            kb => Some(kb * 1024),
        }
    }

    /// Peak resident set size (VmHWM), in bytes.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        proc_status_kb(self.pid, "VmHWM:").map(|kb| kb * 1024)
    }

    /// The last lines of the server's output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Lines of the server's output at WARN or ERROR level.
    pub fn log_problems(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
            .map(str::to_string)
            .collect()
    }

    /// Kills the process and waits for it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        self.sampling.store(false, Ordering::Relaxed);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `kB` field of /proc/<pid>/status (VmRSS:, VmHWM:, ...), in KiB.
pub fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
