//! Real peers the rig starts: Mosquitto (from the Debian package) and the FoodFlow binaries.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound and released: good enough for tests on one machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Where the FoodFlow binaries are: `$FOODFLOW_BIN_DIR`, or beside this executable (cargo's
/// target directory).
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("FOODFLOW_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

pub fn bin(name: &str) -> Result<PathBuf, String> {
    let p = bin_dir().join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: build the binaries first (`cargo build --workspace --bins`) or set \
             FOODFLOW_BIN_DIR",
            p.display()
        ))
    }
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Mosquitto with an unlimited queue for offline persistent sessions: the scenarios rely on
/// the broker holding what a killed edge has not acknowledged.
pub struct Mosquitto {
    pub port: u16,
    _proc: Proc,
}

impl Mosquitto {
    pub fn start(dir: &Path) -> Result<Self, String> {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 0\nmax_inflight_messages 1000\nset_tcp_nodelay true\n\
                 log_dest stderr\nlog_type error\nlog_type warning\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("mosquitto is not installed: run `make deps` (scripts/install-deps.sh)")?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("start mosquitto: {e}"))?;
        if !wait_for_port(port, Duration::from_secs(10)) {
            return Err(format!("mosquitto did not listen on {port}"));
        }
        Ok(Self {
            port,
            _proc: Proc(child),
        })
    }
}
