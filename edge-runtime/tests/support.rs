//! Shared by the integration tests: real peers (Mosquitto, the Python asyncua server) and the
//! real `foodflow-edge` binary, all on loopback ports chosen at run time.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn wait_for_port(port: u16, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Mosquitto broker of its own on a free port.
pub struct Mosquitto {
    pub port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        // Unlimited queue for offline persistent sessions: the crash test relies on the broker
        // holding what the killed edge has not acknowledged.
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 0\nmax_inflight_messages 1000\nset_tcp_nodelay true\n\
                 log_dest stderr\nlog_type error\nlog_type warning\n"
            ),
        )
        .expect("write mosquitto.conf");
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("mosquitto is not installed: run `make deps` (scripts/install-deps.sh)");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "mosquitto did not listen on {port}"
        );
        Self {
            port,
            _proc: Proc(child),
            _dir: dir,
        }
    }
}

/// `foodflow-edge operator add` on `data_dir`: `name` may acknowledge alarms with `pin`.
pub fn add_operator(data_dir: &Path, name: &str, pin: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_foodflow-edge"))
        .args(["operator", "add", "--data-dir"])
        .arg(data_dir)
        .args(["--name", name])
        .env("FOODFLOW_OPERATOR_PIN", pin)
        .output()
        .expect("foodflow-edge operator add");
    assert!(
        o.status.success(),
        "operator add: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The real edge binary with a profile, a data dir and an HTTP port of its own.
pub struct Edge {
    pub proc: Option<Proc>,
    pub http_port: u16,
    pub data_dir: PathBuf,
    pub profile: PathBuf,
}

impl Edge {
    pub fn start(profile_text: &str, data_dir: &Path) -> Self {
        let profile = data_dir.with_extension("profile.yaml");
        std::fs::write(&profile, profile_text).expect("write profile");
        let mut e = Self {
            proc: None,
            http_port: 0,
            data_dir: data_dir.to_owned(),
            profile,
        };
        e.spawn();
        e
    }

    pub fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_foodflow-edge"))
            .arg("run")
            .arg("--profile")
            .arg(&self.profile)
            .arg("--data-dir")
            .arg(&self.data_dir)
            // The kernel picks the port (a probed one could be taken by any outgoing
            // connection before the edge binds it); the ready line says which.
            .args(["--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .env(
                "RUST_LOG",
                std::env::var("EDGE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // Cameras load ONNX Runtime: the Makefile's library, or the one `make deps` extracted.
            .env(
                "ORT_DYLIB_PATH",
                std::env::var_os("ORT_DYLIB_PATH").unwrap_or_else(|| {
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../.cache/onnxruntime/libonnxruntime.so.1.31.1")
                        .into_os_string()
                }),
            )
            .spawn()
            .expect("start foodflow-edge");
        let out = child.stdout.take().expect("the edge's stdout");
        self.proc = Some(Proc(child));
        let (tx, rx) = std::sync::mpsc::channel();
        // Drained for the edge's whole life: a full pipe would block it.
        std::thread::spawn(move || {
            let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            lines.for_each(drop);
        });
        let ready: serde_json::Value = rx
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .and_then(|l| serde_json::from_str(&l).ok())
            .filter(|v: &serde_json::Value| v["ready"] == "foodflow-edge")
            .expect("foodflow-edge did not say it is ready (its log is above)");
        self.http_port = ready["http"]
            .as_str()
            .and_then(|u| u.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("a port in the ready line");
    }

    pub fn get(&self, path: &str) -> String {
        http_get(self.http_port, path)
    }

    /// Waits until every source is connected and holds its subscriptions (granted by the
    /// broker or server): only then does a message published by the plant reach the edge.
    pub fn wait_connected(&self, within: Duration) {
        let end = Instant::now() + within;
        while Instant::now() < end {
            let h: serde_json::Value =
                serde_json::from_str(&self.get("/healthz")).unwrap_or_default();
            let ready = h["sources"].as_array().is_some_and(|s| {
                !s.is_empty()
                    && s.iter().all(|s| {
                        s["connected"] == true && s["items"].as_u64().is_some_and(|n| n > 0)
                    })
            });
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("sources did not connect: {}", self.get("/healthz"));
    }

    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.0.kill();
            let _ = p.0.wait();
        }
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            unsafe {
                libc::kill(p.0.id() as i32, libc::SIGTERM);
            }
            let _ = p.0.wait();
        }
    }

    pub fn dump(&self) -> Vec<serde_json::Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_foodflow-edge"))
            .args(["journal", "dump", "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .expect("journal dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("dump prints JSON lines"))
            .collect()
    }
}

pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default()
}

/// A metric's value from the Prometheus text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Every seq of every stream is 1..=n with no hole.
pub fn assert_gap_free(records: &[serde_json::Value]) {
    let mut by_stream: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for r in records {
        by_stream
            .entry(r["stream"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(r["seq"].as_u64().unwrap_or(0));
    }
    for (s, seqs) in by_stream {
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "stream {s}: seq {seq} at position {i}");
        }
    }
}

/// The project's Python with the test peers (asyncua, paho-mqtt), installed by `make deps`.
pub fn venv_python() -> PathBuf {
    let p = repo_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `make deps` (scripts/install-deps.sh)",
        p.display()
    );
    p
}
