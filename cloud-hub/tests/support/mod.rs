//! Helpers shared by the hub's integration tests: the real binary, loopback ports, curl.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const HUB: &str = env!("CARGO_BIN_EXE_foodflow-hub");

/// A four-client CVRPTW instance in VRPLIB format.
pub const TINY: &str = "NAME : tiny\nTYPE : CVRPTW\nDIMENSION : 5\nVEHICLES : 2\nCAPACITY : 10\nSERVICE_TIME : 1\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 3 4\n3 -3 4\n4 0 -5\n5 6 8\nDEMAND_SECTION\n1 0\n2 4\n3 4\n4 5\n5 2\nTIME_WINDOW_SECTION\n1 0 100\n2 0 50\n3 0 50\n4 10 20\n5 0 60\nDEPOT_SECTION\n1\n-1\nEOF\n";

/// Fisher and Thompson's 6 × 6 job shop (optimum 55) in the standard format.
pub const FT06: &str = "# ft06\n6 6\n2 1 0 3 1 6 3 7 5 3 4 6\n1 8 2 5 4 10 5 10 0 10 3 4\n2 5 3 4 5 8 0 9 1 1 4 7\n\
     1 5 0 5 2 5 3 3 4 8 5 9\n2 9 1 3 4 5 5 4 0 3 3 1\n1 3 3 3 5 9 0 10 4 4 2 1\n";

/// Runs the hub binary: whether it succeeded, its stdout and its stderr.
/// `optimize routing` on `instance` with a reproducible 300-iteration budget, then `extra`.
pub fn routing_args<'a>(instance: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "optimize",
        "routing",
        "--instance",
        instance,
        "--time-limit",
        "0",
        "--iterations",
        "300",
    ];
    args.extend_from_slice(extra);
    args
}

pub fn run_hub(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(HUB).args(args).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A child process killed when dropped.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `foodflow-hub args…`, which must succeed.
pub fn hub(args: &[&str]) -> Output {
    let o = Command::new(HUB).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "foodflow-hub {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running hub, stopped when dropped: its listeners' ports and base URLs.
pub struct Served {
    pub process: Kill,
    /// Port of the mutual-TLS API.
    pub port: u16,
    /// Port of the public (people's) API.
    pub public: u16,
    pub api_url: String,
    pub public_url: String,
    pub admin_url: String,
}

/// `foodflow-hub serve` on ports the kernel picks, returned once the hub's ready line says every
/// listener is bound. Ports are never chosen here and reused later: between a probe and the
/// hub's bind (or across a restart) any outgoing connection may take a free port. The store is
/// single-process: drop the hub before a CLI opens the same data directory.
pub fn start(data: impl AsRef<Path>, pki: impl AsRef<Path>) -> Served {
    let mut child = Command::new(HUB)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public",
            "127.0.0.1:0",
        ])
        .args(["--admin", "127.0.0.1:0", "--data-dir"])
        .arg(data.as_ref())
        .arg("--pki-dir")
        .arg(pki.as_ref())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both pipes are drained for the hub's whole life: a full pipe would block its logging.
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut err = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = std::io::Read::read(&mut err, &mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        lines.for_each(drop);
    });
    let process = Kill(child);
    let ready = rx
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|v| v["ready"] == "foodflow-hub");
    let Some(ready) = ready else {
        drop(process);
        std::thread::sleep(Duration::from_millis(200));
        panic!(
            "hub did not start; its log:\n{}",
            String::from_utf8_lossy(&log.lock().unwrap())
        );
    };
    let url = |k: &str| ready[k].as_str().unwrap().to_string();
    let port = |u: &str| u.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let (api_url, public_url, admin_url) = (url("api"), url("public"), url("admin"));
    Served {
        process,
        port: port(&api_url),
        public: port(&public_url),
        api_url,
        public_url,
        admin_url,
    }
}

/// Body of a curl request.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    None,
    Json(&'a str),
    File(&'a Path),
}

/// An HTTPS request through curl with the certificate `who` from `pki` (the hub's API is plain
/// HTTPS JSON; curl keeps that honest). Returns (status, body).
pub fn curl(method: &str, url: &str, pki: &Path, who: &str, body: Body<'_>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.arg("--cert")
        .arg(pki.join(format!("{who}.pem")))
        .arg("--key")
        .arg(pki.join(format!("{who}.key")));
    send(c, method, url, pki, body)
}

/// An HTTPS request to the public listener (no client certificate), with a bearer token when
/// given. Returns (status, body).
pub fn curl_bearer(
    method: &str,
    url: &str,
    pki: &Path,
    bearer: Option<&str>,
    body: Body<'_>,
) -> (u16, String) {
    let mut c = Command::new("curl");
    if let Some(t) = bearer {
        c.arg("-H").arg(format!("authorization: Bearer {t}"));
    }
    send(c, method, url, pki, body)
}

fn send(mut c: Command, method: &str, url: &str, pki: &Path, body: Body<'_>) -> (u16, String) {
    c.args(["-sS", "--http2", "-X", method, "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(pki.join("ca.pem"));
    match body {
        Body::None => {}
        Body::Json(b) => {
            c.args(["-H", "content-type: application/json", "--data", b]);
        }
        Body::File(p) => {
            c.args(["-H", "content-type: application/json", "--data-binary"])
                .arg(format!("@{}", p.display()));
        }
    }
    let o = c.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// `foodflow-hub admin create` with the password in the environment (it succeeds or not: the
/// caller checks).
pub fn admin_create(data: &str, tenant: &str, user: &str, password: &str) -> Output {
    Command::new(HUB)
        .args([
            "admin",
            "create",
            "--data-dir",
            data,
            "--tenant",
            tenant,
            "--username",
            user,
        ])
        .env("FOODFLOW_ADMIN_PASSWORD", password)
        .output()
        .unwrap()
}

/// A bearer token from `POST /auth/login` on the public listener at `base`.
pub fn login(base: &str, pki: &Path, tenant: &str, user: &str, password: &str) -> String {
    let (code, body) = curl_bearer(
        "POST",
        &format!("{base}/auth/login"),
        pki,
        None,
        Body::Json(
            &serde_json::json!({"tenant": tenant, "username": user, "password": password})
                .to_string(),
        ),
    );
    assert_eq!(code, 200, "login: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// Uploads readings of one tag (ts ns, value) as `device`'s stream over mTLS with the device's
/// certificate from `pki`; returns how many the hub accepted.
pub async fn upload_readings(
    port: u16,
    pki: &Path,
    device: &str,
    stream: &str,
    tag: &str,
    points: &[(i64, f64)],
) -> u64 {
    use foodflow_protocol::batch::Entry;
    use foodflow_protocol::{
        Batch, DeviceId, Payload, PriorityClass, Quality, Reading, Segment, StreamId, Value,
    };
    let batch = Batch {
        segments: vec![Segment {
            device: DeviceId::new(device).unwrap(),
            stream: StreamId::new(stream).unwrap(),
            class: PriorityClass::Telemetry,
            entries: points
                .iter()
                .enumerate()
                .map(|(i, (ts_ns, v))| Entry {
                    seq: i as u64 + 1,
                    ts_ns: *ts_ns,
                    payload: Payload::Reading(Reading {
                        tag: tag.into(),
                        value: Value::Float(*v),
                        quality: Quality::Good,
                        status_code: 0,
                        source_ts_ns: None,
                        origin_id: None,
                    }),
                    clock: None,
                })
                .collect(),
        }],
    };
    let c = foodflow_transport::SyncClient::new(
        &format!("https://127.0.0.1:{port}"),
        &foodflow_transport::tls::TlsFiles::in_dir(pki, device),
        Duration::from_secs(10),
    )
    .unwrap();
    c.upload(batch.encode(1)).await.unwrap().accepted
}
