//! Orchestration of one scenario: PKI, broker, hub, gateway, edge (real processes), fault
//! proxies (in-process), the publisher, the fault schedule, the drain and the final check.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::check::{self, Seen, Tally};
use super::publisher::{self, Plan};
use super::spec::{Fault, LinkName, Scenario, Target};
use crate::peers::{Mosquitto, bin, free_port, wait_for_port};
use crate::proxy::{self, Mode, ProxyHandle};

const TENANT: &str = "acme";
const EDGE_ID: &str = "line-1";
const GATEWAY_ID: &str = "gw-1";
const TELEMETRY_STREAM: &str = "mqtt/line1";
const CRITICAL_STREAM: &str = "mqtt/quality";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub acked: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub gaps: u64,
    pub max_recovery_s: Option<f64>,
    pub kills: u32,
    pub critical: Tally,
    pub telemetry: Tally,
    pub elapsed_s: f64,
    /// Expectations of the scenario file that were not met.
    pub unmet: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.unmet.is_empty()
    }
}

/// One service process, restartable with the same arguments and ports.
struct Svc {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Svc {
    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Svc {
    fn drop(&mut self) {
        self.kill9();
    }
}

type Services = Arc<Mutex<HashMap<Target, Svc>>>;

fn lock(s: &Services) -> std::sync::MutexGuard<'_, HashMap<Target, Svc>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

async fn start_and_wait(svcs: &Services, t: Target) -> Result<(), String> {
    let port = {
        let mut g = lock(svcs);
        let s = g.get_mut(&t).ok_or("no such service")?;
        s.spawn()?;
        s.port
    };
    let ok = tokio::task::spawn_blocking(move || wait_for_port(port, Duration::from_secs(30)))
        .await
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} did not listen on {port} within 30 s (see its log)",
            t.as_str()
        ))
    }
}

fn run_tool(program: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {}: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub async fn run(spec: Scenario, work: &Path) -> Result<Report, String> {
    let started = Instant::now();
    let hub_bin = bin("foodflow-hub")?;
    let gw_bin = bin("foodflow-gateway")?;
    let edge_bin = bin("foodflow-edge")?;
    std::fs::create_dir_all(work).map_err(|e| e.to_string())?;
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;

    // PKI: a CA, the hub's server certificate, the gateway, the edge and the checker.
    let pki = work.join("pki");
    let p = pki.to_string_lossy().to_string();
    if !pki.join("ca.pem").exists() {
        run_tool(&hub_bin, &["pki", "init", "--dir", &p])?;
        for (flag, id) in [
            ("--gateway", GATEWAY_ID),
            ("--device", EDGE_ID),
            ("--gateway", "checker"),
        ] {
            run_tool(
                &hub_bin,
                &[
                    "pki",
                    "issue",
                    "--dir",
                    &p,
                    flag,
                    id,
                    "--tenant",
                    TENANT,
                    "--host",
                    "127.0.0.1",
                    "--host",
                    "localhost",
                ],
            )?;
        }
        // The gateway forwards the edge's records: it is bound to that device.
        run_tool(
            &hub_bin,
            &[
                "gateway",
                "bind",
                "--data-dir",
                &format!("{}/hub-data", work.display()),
                "--tenant",
                TENANT,
                "--gateway",
                GATEWAY_ID,
                "--device",
                EDGE_ID,
            ],
        )?;
    }

    let mosquitto = Mosquitto::start(work)?;
    let cancel = CancellationToken::new();
    let (hub_port, hub_admin, gw_port, gw_admin, edge_http) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let p_gh = proxy::start(
        "127.0.0.1:0".parse().map_err(|_| "addr")?,
        ([127, 0, 0, 1], hub_port).into(),
        cancel.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let p_eg = proxy::start(
        "127.0.0.1:0".parse().map_err(|_| "addr")?,
        ([127, 0, 0, 1], gw_port).into(),
        cancel.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;

    let q = spec.gateway_quotas;
    let gw_cfg = work.join("gateway.yaml");
    let quotas = match q {
        Some(q) => format!(
            "quotas: {{ critical: {}, operational: {}, telemetry: {} }}\n",
            q.critical.0, q.operational.0, q.telemetry.0
        ),
        None => String::new(),
    };
    std::fs::write(
        &gw_cfg,
        format!(
            "id: {GATEWAY_ID}\nlisten: 127.0.0.1:{gw_port}\nadmin: 127.0.0.1:{gw_admin}\n\
             data_dir: {w}/gateway-data\ntls: {{ ca: {p}/ca.pem, cert: {p}/{GATEWAY_ID}.pem, key: {p}/{GATEWAY_ID}.key, crl: {p}/crl.pem }}\n\
             hub: {{ url: 'https://127.0.0.1:{hp}' }}\n{quotas}",
            w = work.display(),
            hp = p_gh.listen.port(),
        ),
    )
    .map_err(|e| e.to_string())?;
    let profile = work.join("edge.yaml");
    std::fs::write(
        &profile,
        format!(
            "device: {{ id: {EDGE_ID}, site: scenario-plant, role: line-edge }}\n\
             hardware: {{ arch: x86_64, execution_providers: [cpu] }}\n\
             journal: {{ data_dir: {w}/edge-data, group_commit_max: 8192 }}\n\
             mqtt:\n  - name: plant-broker\n    broker: mqtt://127.0.0.1:{mq}\n    client_id: edge-{EDGE_ID}\n\
             \x20   subscriptions:\n\
             \x20     - {{ topic: plant/line1/json/#, codec: json, stream: {TELEMETRY_STREAM}, json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, timestamp_format: unix_ms, id_path: /id }} }}\n\
             \x20     - {{ topic: plant/line1/quality/#, codec: json, stream: {CRITICAL_STREAM}, class: critical, json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, timestamp_format: unix_ms, id_path: /id }} }}\n\
             uplink: {{ gateway: 'https://127.0.0.1:{ep}', client_cert: {p}/{EDGE_ID}.pem, client_key: {p}/{EDGE_ID}.key, ca: {p}/ca.pem }}\n\
             http: {{ listen: '127.0.0.1:{edge_http}' }}\n",
            w = work.display(),
            mq = mosquitto.port,
            ep = p_eg.listen.port(),
        ),
    )
    .map_err(|e| e.to_string())?;

    let svcs: Services = Arc::new(Mutex::new(HashMap::new()));
    {
        let mut g = lock(&svcs);
        g.insert(
            Target::Hub,
            Svc {
                name: "hub",
                program: hub_bin.clone(),
                args: vec![
                    "serve".into(),
                    "--listen".into(),
                    format!("127.0.0.1:{hub_port}"),
                    "--admin".into(),
                    format!("127.0.0.1:{hub_admin}"),
                    "--data-dir".into(),
                    format!("{}/hub-data", work.display()),
                    "--pki-dir".into(),
                    p.clone(),
                ],
                log: logs.join("hub.log"),
                port: hub_port,
                child: None,
            },
        );
        g.insert(
            Target::Gateway,
            Svc {
                name: "gateway",
                program: gw_bin,
                args: vec![
                    "run".into(),
                    "--config".into(),
                    gw_cfg.to_string_lossy().into(),
                ],
                log: logs.join("gateway.log"),
                port: gw_port,
                child: None,
            },
        );
        g.insert(
            Target::Edge,
            Svc {
                name: "edge",
                program: edge_bin,
                args: vec![
                    "run".into(),
                    "--profile".into(),
                    profile.to_string_lossy().into(),
                ],
                log: logs.join("edge.log"),
                port: edge_http,
                child: None,
            },
        );
    }
    for t in [Target::Hub, Target::Gateway, Target::Edge] {
        start_and_wait(&svcs, t).await?;
    }
    // The broker drops what nobody subscribes to, acknowledged or not: the plant starts only
    // when the edge holds both subscriptions (after that its persistent session queues them).
    edge_subscribed(edge_http, 2, Duration::from_secs(30)).await?;

    let checker = SyncClient::new(
        &format!("https://127.0.0.1:{hub_port}"),
        &TlsFiles::in_dir(&pki, "checker"),
        Duration::from_secs(30),
    )
    .map_err(|e| e.to_string())?;
    let checker = Arc::new(checker);

    // Progress at the hub, for recovery times.
    let progress: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    {
        let (progress, checker, cancel) = (progress.clone(), checker.clone(), cancel.clone());
        tokio::spawn(async move {
            while !cancel.is_cancelled() {
                if let Some(n) = hub_total(&checker).await {
                    progress
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((Instant::now(), n));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }

    // Faults.
    let t0 = Instant::now();
    let kills = Arc::new(Mutex::new(0u32));
    let fault_ends: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let mut fault_tasks = Vec::new();
    let links: HashMap<LinkName, ProxyHandle> = [
        (LinkName::EdgeGateway, p_eg.clone()),
        (LinkName::GatewayHub, p_gh.clone()),
    ]
    .into();
    let mut kill_plan: Vec<(f64, Target, f64)> = Vec::new();
    for f in &spec.faults {
        match f {
            Fault::Kill {
                at_s,
                target,
                down_s,
            } => kill_plan.push((*at_s, *target, *down_s)),
            Fault::RandomKills {
                from_s,
                until_s,
                count,
                targets,
                max_down_s,
                seed,
            } => {
                let mut rng = rand::rngs::StdRng::seed_from_u64(*seed);
                for _ in 0..*count {
                    if targets.is_empty() {
                        break;
                    }
                    let at = rng.random_range(*from_s..*until_s);
                    let t = targets[rng.random_range(0..targets.len())];
                    let down = rng.random_range(0.2..max_down_s.max(0.21));
                    kill_plan.push((at, t, down));
                }
            }
            Fault::Link {
                at_s,
                link,
                mode,
                ms,
                bytes_per_s,
                for_s,
            } => {
                let h = links[link].clone();
                let mode = mode.with(*ms, *bytes_per_s);
                let (at, dur, ends) = (*at_s, *for_s, fault_ends.clone());
                fault_tasks.push(tokio::spawn(async move {
                    tokio::time::sleep_until((t0 + Duration::from_secs_f64(at)).into()).await;
                    h.set(mode);
                    tokio::time::sleep(Duration::from_secs_f64(dur)).await;
                    h.set(Mode::Pass);
                    ends.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Instant::now());
                }));
            }
        }
    }
    kill_plan.sort_by(|a, b| a.0.total_cmp(&b.0));
    {
        // Kills run in order on one task: a target is never killed while it is still down.
        let (svcs, kills, ends) = (svcs.clone(), kills.clone(), fault_ends.clone());
        fault_tasks.push(tokio::spawn(async move {
            for (at, target, down) in kill_plan {
                tokio::time::sleep_until((t0 + Duration::from_secs_f64(at)).into()).await;
                if let Some(s) = lock(&svcs).get_mut(&target) {
                    s.kill9();
                }
                *kills.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                tracing::info!(target = target.as_str(), down_s = down, "SIGKILL");
                tokio::time::sleep(Duration::from_secs_f64(down)).await;
                if let Err(e) = start_and_wait(&svcs, target).await {
                    tracing::error!("{e}");
                }
                ends.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Instant::now());
            }
        }));
    }

    let acked = publisher::publish(
        Plan {
            port: mosquitto.port,
            seconds: spec.publish_s,
            rate: spec.rate,
            critical_rate: spec.critical_rate,
            pad: spec.pad_bytes,
            time_scale: spec.time_scale,
        },
        cancel.clone(),
    )
    .await;
    eprintln!(
        "scenario {}: published; {} telemetry + {} critical messages acknowledged by the broker; waiting for faults to end",
        spec.name,
        acked.telemetry.len(),
        acked.critical.len()
    );
    for t in fault_tasks {
        let _ = t.await;
    }
    // Every service must be up for the drain.
    for t in [Target::Hub, Target::Gateway, Target::Edge] {
        let alive = lock(&svcs).get_mut(&t).map(|s| s.alive()).unwrap_or(false);
        if !alive {
            eprintln!(
                "scenario {}: {} had exited; restarting it for the drain",
                spec.name,
                t.as_str()
            );
            start_and_wait(&svcs, t).await?;
        }
    }

    // Drain: until the hub stops moving and nothing is pending upstream.
    let drain_start = Instant::now();
    let mut last = (0u64, Instant::now());
    loop {
        let total = hub_total(&checker).await.unwrap_or(0);
        if total != last.0 {
            last = (total, Instant::now());
        }
        let edge_pending = edge_pending(edge_http).await;
        let gw_backlog = gateway_backlog(gw_admin).await;
        let quiet = last.1.elapsed() > Duration::from_secs(3);
        if quiet && edge_pending == Some(0) && gw_backlog == Some(0) {
            break;
        }
        if drain_start.elapsed().as_secs_f64() > spec.drain_timeout_s {
            eprintln!(
                "scenario {}: drain timed out after {:.0} s (edge pending {edge_pending:?}, gateway backlog {gw_backlog:?})",
                spec.name, spec.drain_timeout_s
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The check, from the hub's own answers.
    let tel = fetch(&checker, EDGE_ID, TELEMETRY_STREAM).await?;
    let cri = fetch(&checker, EDGE_ID, CRITICAL_STREAM).await?;
    let gw_gaps = fetch(&checker, GATEWAY_ID, "gateway/gaps").await?;
    let gaps_for = |stream: &str, own: &[serde_json::Value]| -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for r in &gw_gaps {
            if let Some((d, s, a, b)) = r["payload"]["gap"]["subject"]
                .as_str()
                .and_then(check::gateway_gap)
                && d == EDGE_ID
                && s == stream
            {
                out.push((a, b));
            }
        }
        for r in own {
            if let Some((s, a, b)) = r["payload"]["gap"]["subject"]
                .as_str()
                .and_then(check::edge_gap)
                && s == stream
            {
                out.push((a, b));
            }
        }
        out
    };
    let seen = |records: &[serde_json::Value], prefix: &str| -> Vec<Seen> {
        records
            .iter()
            .map(|r| Seen {
                seq: r["seq"].as_u64().unwrap_or(0),
                id: r["payload"]["reading"]["origin_id"]
                    .as_str()
                    .and_then(|s| s.strip_prefix(prefix))
                    .and_then(|s| s.parse().ok()),
            })
            .collect()
    };
    let telemetry = check::check(
        &acked.telemetry,
        &seen(&tel, "t-"),
        &gaps_for(TELEMETRY_STREAM, &tel),
    );
    let critical = check::check(
        &acked.critical,
        &seen(&cri, "q-"),
        &gaps_for(CRITICAL_STREAM, &cri),
    );
    let mut total = Tally::default();
    total.add(&telemetry);
    total.add(&critical);

    let ends = fault_ends.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let prog = progress.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let max_recovery_s = ends
        .iter()
        .filter_map(|e| {
            let base = prog
                .iter()
                .rev()
                .find(|(t, _)| t <= e)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            prog.iter()
                .find(|(t, n)| t > e && *n > base)
                .map(|(t, _)| t.duration_since(*e).as_secs_f64())
        })
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let kills = *kills.lock().unwrap_or_else(|p| p.into_inner());
    let mut unmet = Vec::new();
    if critical.gaps > 0 {
        unmet.push(format!("{} critical records were dropped", critical.gaps));
    }
    if total.gaps < spec.expect.gaps_min {
        unmet.push(format!(
            "expected at least {} gaps, saw {}",
            spec.expect.gaps_min, total.gaps
        ));
    }
    if kills < spec.expect.kills_min {
        unmet.push(format!(
            "expected at least {} kills, did {kills}",
            spec.expect.kills_min
        ));
    }
    if total.acked == 0 {
        unmet.push("the broker acknowledged nothing: the scenario proved nothing".into());
    }
    cancel.cancel();
    drop(svcs);
    drop(mosquitto);
    Ok(Report {
        scenario: spec.name.clone(),
        acked: total.acked,
        delivered: total.delivered,
        lost: total.lost,
        duplicated: total.duplicated,
        reordered: total.reordered,
        gaps: total.gaps,
        max_recovery_s: max_recovery_s.map(|x| (x * 100.0).round() / 100.0),
        kills,
        critical,
        telemetry,
        elapsed_s: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        unmet,
    })
}

/// Sum of the high-water marks of the edge's streams at the hub.
async fn hub_total(c: &SyncClient) -> Option<u64> {
    let v = c
        .get_json(&format!("/v1/devices/{EDGE_ID}/streams"))
        .await
        .ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter_map(|s| s["records"].as_u64())
            .sum(),
    )
}

async fn fetch(
    c: &SyncClient,
    device: &str,
    stream: &str,
) -> Result<Vec<serde_json::Value>, String> {
    let mut out = Vec::new();
    let mut from = 1u64;
    loop {
        let v = c
            .get_json(&format!(
                "/v1/devices/{device}/streams/{stream}/records?from={from}&limit=50000"
            ))
            .await
            .map_err(|e| format!("reading {device}/{stream} from the hub: {e}"))?;
        let page = v["records"].as_array().cloned().unwrap_or_default();
        out.extend(page);
        match v["next_from"].as_u64() {
            Some(n) => from = n,
            None => return Ok(out),
        }
    }
}

async fn http_get(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .ok()?
    .ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    Some(text.split_once("\r\n\r\n")?.1.to_owned())
}

async fn edge_pending(port: u16) -> Option<u64> {
    let m = http_get(port, "/metrics").await?;
    m.lines()
        .find(|l| l.starts_with("foodflow_uplink_pending_records "))
        .and_then(|l| l.split(' ').nth(1)?.parse().ok())
}

/// Waits until the edge's MQTT source reports `want` subscriptions granted by the broker.
async fn edge_subscribed(port: u16, want: u64, within: Duration) -> Result<(), String> {
    let until = Instant::now() + within;
    loop {
        let granted = http_get(port, "/metrics").await.map(|m| {
            m.lines()
                .filter(|l| l.starts_with("foodflow_source_items{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        });
        if granted.is_some_and(|g| g >= want as f64) {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(format!(
                "the edge did not hold its {want} MQTT subscriptions within {within:?} (see its log)"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn gateway_backlog(port: u16) -> Option<u64> {
    let s = http_get(port, "/status").await?;
    let v: serde_json::Value = serde_json::from_str(&s).ok()?;
    Some(
        ["critical", "operational", "telemetry"]
            .iter()
            .filter_map(|c| v[c]["records"].as_u64())
            .sum(),
    )
}
