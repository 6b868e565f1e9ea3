//! `make bench-hub`: the release hub as plants and people use it, then the same under attack,
//! in one run on this machine.
//!
//! - People (tenant `acme`): mixed reads on the public listener — devices, a day of readings as
//!   hourly series, forward and backward traces, a forecast, the forecast list, `/v1/me` — from
//!   `h2load` (nghttp2's load generator, HTTP/2 over TLS) at a fixed offered rate with a
//!   per-request log, plus logins from a second `h2load` at a person's pace.
//! - Plants: two devices upload 1,000-reading batches over mutual TLS as fast as the hub
//!   acknowledges them (a gateway replaying its backlog), for the whole run.
//! - Phase 1 measures both. Phase 2 repeats it while attackers from other loopback addresses
//!   hold slow TLS handshakes (slowloris), flood `/auth/login` with wrong passwords for `acme`'s
//!   own user, and tenant `evil` queues 1,000 long routing jobs.
//!
//! Latency percentiles come from h2load's per-request log (nearest rank over every request of
//! the measured window). Last line: one JSON object.
//!
//! Env: FOODFLOW_BENCH_SECONDS (15 per phase), FOODFLOW_BENCH_RPS (1000 offered reads/s),
//! FOODFLOW_BENCH_ATTACKS (`slowloris,logins,jobs`: which attacks phase 2 runs, to see what
//! each costs).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use foodflow_protocol::batch::Entry;
use foodflow_protocol::{
    Batch, DeviceId, Payload, PriorityClass, Quality, Reading, Segment, StreamId, Value,
};
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;

#[path = "../tests/support/mod.rs"]
mod support;

const PLANT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/foodgraph/tests/data/pasta-plant.json"
);
const PASSWORD: &str = "correct horse battery staple";
const INGEST_DEVICES: [&str; 2] = ["line-1", "line-2"];
const BATCH: u64 = 1_000;
/// h2load clients for the reads; the offered rate is split between them.
const CLIENTS: u64 = 10;
/// Slow handshakes held from each of `SLOW_SOURCES` addresses (the per-source cap is 64).
const SLOW_PER_SOURCE: usize = 64;
const SLOW_SOURCES: u8 = 8;
const LOGIN_FLOODERS: usize = 32;
const JOBS: usize = 1_000;
/// The first part of each phase is warm-up (connections, caches) and left out of the figures.
const WARM_UP: Duration = Duration::from_secs(2);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn https(ca: &[u8], from: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).expect("CA"))
        .timeout(Duration::from_secs(30));
    if let Some(ip) = from {
        b = b.local_address(ip.parse::<std::net::IpAddr>().ok());
    }
    b.build().expect("HTTP client")
}

async fn login(c: &reqwest::Client, public: &str, tenant: &str, user: &str) -> String {
    let r = c
        .post(format!("{public}/auth/login"))
        .json(&serde_json::json!({"tenant": tenant, "username": user, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let v: serde_json::Value = r.json().await.expect("login reply");
    v["token"].as_str().expect("a token").to_owned()
}

fn readings(device: &str, stream: &str, tag: &str, first: u64, ts: &[(i64, f64)]) -> Vec<u8> {
    Batch {
        segments: vec![Segment {
            device: DeviceId::new(device).expect("device id"),
            stream: StreamId::new(stream).expect("stream id"),
            class: PriorityClass::Telemetry,
            entries: ts
                .iter()
                .enumerate()
                .map(|(i, &(ts_ns, v))| Entry {
                    seq: first + i as u64,
                    ts_ns,
                    payload: Payload::Reading(Reading {
                        tag: tag.into(),
                        value: Value::Float(v),
                        quality: Quality::Good,
                        status_code: 0,
                        source_ts_ns: None,
                        origin_id: None,
                    }),
                    clock: None,
                })
                .collect(),
        }],
    }
    .encode(1)
}

/// What the reads need: a day of minute readings, the pasta plant's trace, one forecast.
async fn seed(api: &str, public: &str, pki: &Path, ca: &[u8], token: &str) -> String {
    let now = foodflow_protocol::time::now_ns();
    let day: Vec<(i64, f64)> = (0..1440i64)
        .map(|m| {
            let t = now - (1440 - m) * 60_000_000_000;
            (t, 180.0 + (m % 60) as f64 * 0.1)
        })
        .collect();
    let dev = SyncClient::new(
        api,
        &TlsFiles::in_dir(pki, "line-1"),
        Duration::from_secs(30),
    )
    .expect("client");
    let ack = dev
        .upload(readings("line-1", "plc", "oven.temp", 1, &day))
        .await
        .expect("upload");
    assert_eq!(ack.accepted, 1440);
    let c = https(ca, None);
    let r = c
        .post(format!("{public}/v1/epcis/capture"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(std::fs::read(PLANT).expect("the pasta plant"))
        .send()
        .await
        .expect("capture");
    assert!(r.status().is_success(), "capture: {}", r.status());
    let mut csv = String::from("unique_id,ds,y\n");
    for s in ["pasta", "pizza", "sauce"] {
        for t in 1..=48 {
            let y = 100.0 + 20.0 * ((t % 12) as f64 / 12.0 * std::f64::consts::TAU).sin();
            csv.push_str(&format!("{s},{t},{y:.1}\n"));
        }
    }
    let r: serde_json::Value = c
        .post(format!("{public}/v1/forecasts"))
        .bearer_auth(token)
        .json(&serde_json::json!({"csv": csv, "horizon": 6}))
        .send()
        .await
        .expect("forecast")
        .json()
        .await
        .expect("forecast reply");
    let id = r["id"].as_str().expect("a forecast id").to_owned();
    let t0 = Instant::now();
    loop {
        let v: serde_json::Value = c
            .get(format!("{public}/v1/forecasts/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("forecast status")
            .json()
            .await
            .expect("forecast status reply");
        if v["status"]["state"] == "done" {
            return id;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the forecast did not finish: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Uploads batches from each device until `stop`, counting acknowledged records.
fn start_ingest(
    rt: &tokio::runtime::Runtime,
    api: &str,
    pki: &Path,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) {
    for device in INGEST_DEVICES {
        let c = SyncClient::new(api, &TlsFiles::in_dir(pki, device), Duration::from_secs(30))
            .expect("client");
        let (stop, acked) = (stop.clone(), acked.clone());
        rt.spawn(async move {
            let mut seq = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let now = foodflow_protocol::time::now_ns();
                let points: Vec<(i64, f64)> = (0..BATCH as i64)
                    .map(|i| (now + i, (i % 100) as f64))
                    .collect();
                match c
                    .upload(readings(device, "bench/ingest", "flow", seq, &points))
                    .await
                {
                    Ok(ack) => {
                        acked.fetch_add(ack.accepted, Ordering::Relaxed);
                        seq += BATCH;
                    }
                    Err(e) => {
                        eprintln!("bench-hub: upload from {device}: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
}

/// Requests/s, p50 and p99 (ms) and non-2xx answers from h2load logs, over requests started
/// after the warm-up.
struct Latency {
    requests: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: usize,
}

fn latency(logs: &[&Path], from_us: u64, seconds: f64) -> Latency {
    let mut d = Vec::new();
    let mut failed = 0;
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for row in text.lines() {
            let mut cols = row.split('\t');
            let start: u64 = cols.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let status: u16 = cols.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let us: u64 = cols.next().and_then(|c| c.parse().ok()).unwrap_or(u64::MAX);
            if start < from_us {
                continue;
            }
            if !(200..300).contains(&status) {
                failed += 1;
            }
            d.push(us);
        }
    }
    d.sort_unstable();
    let rank = |q: f64| {
        if d.is_empty() {
            return f64::NAN;
        }
        let i = ((q * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1;
        d[i] as f64 / 1000.0
    };
    Latency {
        requests: d.len(),
        rps: d.len() as f64 / seconds,
        p50_ms: rank(0.50),
        p99_ms: rank(0.99),
        failed,
    }
}

fn epoch_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

struct Phase {
    reads: Latency,
    logins: Latency,
    all: Latency,
    ingest_rate: f64,
}

/// One measured phase: the reads and logins from h2load while ingest runs.
fn phase(name: &str, dir: &Path, public: &str, token: &str, acked: &AtomicU64) -> Phase {
    let seconds = env("FOODFLOW_BENCH_SECONDS", 15);
    let rps = env("FOODFLOW_BENCH_RPS", 1000);
    let (reads_log, logins_log) = (
        dir.join(format!("{name}-reads.log")),
        dir.join(format!("{name}-logins.log")),
    );
    let total = format!("{}", seconds + WARM_UP.as_secs());
    let bearer = format!("authorization: Bearer {token}");
    let reads = Command::new("h2load")
        .args(["-c", &CLIENTS.to_string(), "-m", "8"])
        .args(["--rps", &(rps / CLIENTS).max(1).to_string(), "-D", &total])
        .arg("-i")
        .arg(dir.join("uris.txt"))
        .args(["-H", &bearer, "--log-file"])
        .arg(&reads_log)
        .stdout(Stdio::null())
        .spawn()
        .expect("h2load (apt package nghttp2-client)");
    let logins = Command::new("h2load")
        .args(["-c", "1", "-m", "1", "--rps", "2", "-D", &total])
        .args(["-H", "content-type: application/json", "-d"])
        .arg(dir.join("login.json"))
        .arg("--log-file")
        .arg(&logins_log)
        .arg(format!("{public}/auth/login"))
        .stdout(Stdio::null())
        .spawn()
        .expect("h2load");
    let t0 = Instant::now();
    std::thread::sleep(WARM_UP);
    let (from_us, from_acked, t1) = (epoch_us(), acked.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let ingested = acked.load(Ordering::Relaxed) - from_acked;
    let ingest_rate = ingested as f64 / t1.elapsed().as_secs_f64();
    for mut p in [reads, logins] {
        let ok = p.wait().is_ok_and(|s| s.success());
        assert!(ok, "h2load failed in phase {name}");
    }
    eprintln!(
        "bench-hub: phase {name} took {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let s = seconds as f64;
    Phase {
        reads: latency(&[&reads_log], from_us, s),
        logins: latency(&[&logins_log], from_us, s),
        all: latency(&[&reads_log, &logins_log], from_us, s),
        ingest_rate,
    }
}

/// A TCP connection from another loopback address (a distinct source for the hub).
fn connect_from(
    rt: &tokio::runtime::Runtime,
    ip: &str,
    to: SocketAddr,
) -> Option<std::net::TcpStream> {
    rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().ok()?;
        sock.bind(format!("{ip}:0").parse().ok()?).ok()?;
        let s = tokio::time::timeout(Duration::from_secs(2), sock.connect(to))
            .await
            .ok()?
            .ok()?;
        s.into_std().ok()
    })
}

/// Whether the peer has not closed `t` (a non-blocking socket).
fn still_open(t: &std::net::TcpStream) -> bool {
    let mut b = [0u8; 1];
    match t.peek(&mut b) {
        Ok(n) => n > 0,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// Attack counters for the note.
#[derive(Default)]
struct Attack {
    slow_opened: AtomicU64,
    login_attempts: AtomicU64,
    login_refused_429: AtomicU64,
    jobs_accepted: AtomicU64,
    jobs_refused_429: AtomicU64,
}

/// Slowloris: each source keeps `SLOW_PER_SOURCE` connections that send three bytes of a TLS
/// ClientHello and nothing more, reopening whatever the hub closes.
fn slowloris(to: SocketAddr, stop: Arc<AtomicBool>, attack: Arc<Attack>) {
    for s in 0..SLOW_SOURCES {
        let (stop, attack) = (stop.clone(), attack.clone());
        std::thread::spawn(move || {
            let ip = format!("127.0.0.{}", 10 + s);
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let mut held: Vec<std::net::TcpStream> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                held.retain(still_open);
                while held.len() < SLOW_PER_SOURCE && !stop.load(Ordering::Relaxed) {
                    let Some(mut t) = connect_from(&rt, &ip, to) else {
                        break;
                    };
                    let _ = t.write_all(&[0x16, 0x03, 0x01]);
                    attack.slow_opened.fetch_add(1, Ordering::Relaxed);
                    held.push(t);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (pki, data) = (dir.path().join("pki"), dir.path().join("data"));
    let p = pki.to_str().expect("utf-8 path");
    support::hub(&["pki", "init", "--dir", p]);
    for device in INGEST_DEVICES {
        support::hub(&[
            "pki", "issue", "--dir", p, "--device", device, "--tenant", "acme",
        ]);
    }
    let d = data.to_str().expect("utf-8 path");
    for (tenant, user) in [("acme", "ada"), ("evil", "eve")] {
        let o = support::admin_create(d, tenant, user, PASSWORD);
        assert!(o.status.success(), "admin create {tenant}/{user}");
    }
    let hub = support::start(&data, &pki);
    let (api, public) = (hub.api_url.clone(), hub.public_url.clone());
    let ca = std::fs::read(pki.join("ca.pem")).expect("ca.pem");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ada = rt.block_on(login(&https(&ca, None), &public, "acme", "ada"));
    let forecast = rt.block_on(seed(&api, &public, &pki, &ca, &ada));

    let now = foodflow_protocol::time::now_ns();
    let (from, until) = (now - 86_400_000_000_000, now);
    let enc = |s: &str| s.replace(':', "%3A");
    let uris = [
        "/v1/plant/devices".to_owned(),
        format!(
            "/v1/plant/devices/line-1/streams/plc/series?tag=oven.temp&from={from}&to={until}&step_s=3600"
        ),
        format!(
            "/v1/trace/forward?id={}",
            enc("urn:epc:class:lgtin:0614141.000200.E1")
        ),
        format!(
            "/v1/trace/backward?id={}",
            enc("urn:epc:class:lgtin:0614141.000300.B1")
        ),
        format!("/v1/forecasts/{forecast}"),
        "/v1/forecasts".to_owned(),
        "/v1/me".to_owned(),
    ];
    let list: String = uris.iter().map(|u| format!("{public}{u}\n")).collect();
    std::fs::write(dir.path().join("uris.txt"), list).expect("uris");
    std::fs::write(
        dir.path().join("login.json"),
        serde_json::json!({"tenant": "acme", "username": "ada", "password": PASSWORD}).to_string(),
    )
    .expect("login body");
    // Every read answers 200 before anything is measured.
    let c = https(&ca, None);
    for u in &uris {
        let status = rt.block_on(async {
            c.get(format!("{public}{u}"))
                .bearer_auth(&ada)
                .send()
                .await
                .map(|r| r.status())
        });
        assert!(
            status.as_ref().is_ok_and(|s| s.is_success()),
            "{u}: {status:?}"
        );
    }

    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    start_ingest(&rt, &api, &pki, stop.clone(), acked.clone());
    let calm = phase("calm", dir.path(), &public, &ada, &acked);

    // The attack: slow handshakes, a login flood and a tenant's job flood, all at once.
    let attack = Arc::new(Attack::default());
    let public_addr: SocketAddr = public
        .trim_start_matches("https://")
        .parse()
        .expect("public address");
    let attacks =
        std::env::var("FOODFLOW_BENCH_ATTACKS").unwrap_or_else(|_| "slowloris,logins,jobs".into());
    let on = |a: &str| attacks.split(',').any(|x| x.trim() == a);
    if on("slowloris") {
        slowloris(public_addr, stop.clone(), attack.clone());
    }
    for f in 0..if on("logins") { LOGIN_FLOODERS } else { 0 } {
        let c = https(&ca, Some(&format!("127.0.0.{}", 40 + f % 4)));
        let (stop, attack, url) = (stop.clone(), attack.clone(), format!("{public}/auth/login"));
        rt.spawn(async move {
            let body =
                serde_json::json!({"tenant": "acme", "username": "ada", "password": "guess"});
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = c.post(&url).json(&body).send().await {
                    attack.login_attempts.fetch_add(1, Ordering::Relaxed);
                    if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        attack.login_refused_429.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    let eve = rt.block_on(login(&https(&ca, None), &public, "evil", "eve"));
    let submitted = Arc::new(AtomicU64::new(0));
    for _ in 0..if on("jobs") { 8 } else { 0 } {
        let c = https(&ca, Some("127.0.0.50"));
        let (attack, submitted, eve) = (attack.clone(), submitted.clone(), eve.clone());
        let url = format!("{public}/v1/optimization/routing");
        let long = serde_json::json!({"instance": support::TINY, "time_limit_s": 600});
        rt.spawn(async move {
            while submitted.fetch_add(1, Ordering::Relaxed) < JOBS as u64 {
                match c.post(&url).bearer_auth(&eve).json(&long).send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => {
                        attack.jobs_accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                        attack.jobs_refused_429.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => eprintln!("bench-hub: job flood: {}", r.status()),
                    Err(e) => eprintln!("bench-hub: job flood: {e}"),
                }
            }
        });
    }
    let attacked = phase("attack", dir.path(), &public, &ada, &acked);
    stop.store(true, Ordering::Relaxed);

    let a = |v: &AtomicU64| v.load(Ordering::Relaxed);
    for (name, ph) in [("calm", &calm), ("attack", &attacked)] {
        eprintln!(
            "bench-hub: {name}: reads {} ({:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} not 2xx); logins {} (p50 {:.1} ms, p99 {:.1} ms, {} not 2xx); ingest {:.0} records/s",
            ph.reads.requests,
            ph.reads.rps,
            ph.reads.p50_ms,
            ph.reads.p99_ms,
            ph.reads.failed,
            ph.logins.requests,
            ph.logins.p50_ms,
            ph.logins.p99_ms,
            ph.logins.failed,
            ph.ingest_rate
        );
    }
    eprintln!(
        "bench-hub: attack: {} slow handshakes opened from {SLOW_SOURCES} addresses, {} wrong logins ({} answered 429), {} jobs queued and {} refused with 429 of {JOBS}",
        a(&attack.slow_opened),
        a(&attack.login_attempts),
        a(&attack.login_refused_429),
        a(&attack.jobs_accepted),
        a(&attack.jobs_refused_429)
    );
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    println!(
        "{}",
        serde_json::json!({
            "bench": "hub",
            "load_generator": "h2load (nghttp2)",
            "offered_rps": env("FOODFLOW_BENCH_RPS", 1000),
            "rps": r2(calm.all.rps),
            "p50_ms": r2(calm.all.p50_ms),
            "p99_ms": r2(calm.all.p99_ms),
            "not_2xx": calm.all.failed,
            "ingest_rate": calm.ingest_rate.round(),
            "rps_under_attack": r2(attacked.all.rps),
            "p50_ms_under_attack": r2(attacked.all.p50_ms),
            "p99_ms_under_attack": r2(attacked.all.p99_ms),
            "not_2xx_under_attack": attacked.all.failed,
            "ingest_rate_under_attack": attacked.ingest_rate.round(),
            "ingest_kept": r2(attacked.ingest_rate / calm.ingest_rate),
            "attacks": attacks,
            "login_p99_ms": r2(calm.logins.p99_ms),
            "login_p99_ms_under_attack": r2(attacked.logins.p99_ms),
        })
    );
}
