//! What the run was made on and of: machine, commit, the server binary.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

use crate::report::Machine;

pub fn machine() -> Machine {
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Machine {
        cores,
        memory_mb: memory_kb / 1024,
        cpu,
        os: format!(
            "{} {} {}",
            std::env::consts::OS,
            std::env::consts::ARCH,
            kernel.trim()
        )
        .trim()
        .to_string(),
    }
}

/// The workspace this crate was built from.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    here.canonicalize().unwrap_or(here)
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `git rev-parse HEAD`, or `unknown`.
pub fn commit(root: &Path) -> String {
    git(root, &["rev-parse", "HEAD"])
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether the work tree differs from HEAD (then the commit does not name what ran).
pub fn dirty(root: &Path) -> bool {
    git(root, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty())
}

/// Where the release `switchyard` binary is: `release/` of the target directory this
/// bench was built into.
pub fn default_server_bin(root: &Path) -> PathBuf {
    let exe = std::env::current_exe().ok();
    let target = exe
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"));
    target.join("release").join("switchyard")
}

/// Builds the release server binary with cargo.
pub fn build_server(root: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("cargo build --release -p switchyard (a no-op when the binary is up to date)");
    let st = Command::new(cargo)
        .args(["build", "--release", "-p", "switchyard", "--quiet"])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("cargo build failed ({st})"))
    }
}

fn newest_mtime(dir: &Path, newest: &mut Option<SystemTime>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_mtime(&p, newest);
        } else if let Ok(m) = e.metadata().and_then(|m| m.modified())
            && newest.is_none_or(|n| m > n)
        {
            *newest = Some(m);
        }
    }
}

/// Whether some server source (any crate but this one, or a manifest) is newer than the
/// binary.
pub fn binary_stale(root: &Path, bin: &Path) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return true;
    };
    let mut newest = None;
    if let Ok(m) = std::fs::metadata(root.join("Cargo.toml")).and_then(|m| m.modified()) {
        newest = newest.max(Some(m));
    }
    if let Ok(rd) = std::fs::read_dir(root.join("crates")) {
        for e in rd.flatten() {
            if e.file_name() == "bench" {
                continue;
            }
            newest_mtime(&e.path().join("src"), &mut newest);
            newest_mtime(&e.path().join("migrations"), &mut newest);
            if let Ok(m) = std::fs::metadata(e.path().join("Cargo.toml")).and_then(|m| m.modified())
            {
                newest = newest.max(Some(m));
            }
        }
    }
    newest.is_some_and(|n| n > built)
}
