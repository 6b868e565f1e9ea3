//! `make bench-sync`: the sync path measured on this machine with the release binaries.
//!
//! 1. e2e: 1,000,000 readings already in an edge journal; edge → gateway → hub over loopback
//!    mutual TLS; records/s until the hub holds them all.
//! 2. replay: the hub is down while the gateway collects 10 simulated minutes of a plant
//!    producing `INGEST_RATE` readings/s; then the hub comes back: records/s of the replay.
//! 3. one hop: the same pre-compressed batches uploaded to the hub by our client and by `curl`
//!    (HTTP/2, TLS 1.3, the same client certificate), in the same run: records/s and ratio.
//!
//! Prints one JSON object as its last line.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use foodflow_edge::journal::Store;
use foodflow_hil::peers::{bin, free_port, wait_for_port};
use foodflow_protocol::batch::Entry;
use foodflow_protocol::{
    Batch, DeviceId, Payload, PriorityClass, Quality, Reading, Segment, StreamId, Value,
};
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;

const E2E_RECORDS: u64 = 1_000_000;
/// The simulated plant's rate during the outage (records/s), and the outage length.
const INGEST_RATE: u64 = 2_000;
const OUTAGE_S: u64 = 600;
const HOP_BATCHES: usize = 25;
const HOP_BATCH_RECORDS: usize = 20_000;
const STREAMS: u64 = 4;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reading(i: u64, ts: i64) -> Payload {
    Payload::Reading(Reading {
        tag: format!("line1.zone{}.temp", i % 8),
        value: Value::Float(180.0 + (i % 1000) as f64 * 0.01),
        quality: Quality::Good,
        status_code: 0,
        source_ts_ns: Some(ts),
        origin_id: Some(format!("m-{i}")),
    })
}

/// Appends `n` readings spread over `span_s` seconds to the journal (the edge must be stopped).
fn preload(journal: &Path, device: &str, first: u64, n: u64, span_s: u64) {
    let mut store = Store::open(journal, DeviceId::new(device).unwrap()).unwrap();
    let streams: Vec<StreamId> = (0..STREAMS)
        .map(|s| StreamId::new(format!("bench/s{s}")).unwrap())
        .collect();
    let t0 = foodflow_protocol::time::now_ns() - (span_s as i64) * 1_000_000_000;
    let step = (span_s.max(1) as i64 * 1_000_000_000) / n.max(1) as i64;
    let chunk = 10_000u64;
    let mut i = first;
    while i < first + n {
        let m = chunk.min(first + n - i);
        let per: Vec<Vec<(i64, Payload)>> = (0..STREAMS)
            .map(|s| {
                (i..i + m)
                    .filter(|k| k % STREAMS == s)
                    .map(|k| {
                        let ts = t0 + (k - first) as i64 * step;
                        (ts, reading(k, ts))
                    })
                    .collect()
            })
            .collect();
        let reqs: Vec<_> = streams
            .iter()
            .zip(&per)
            .map(|(s, items)| (s, PriorityClass::Telemetry, items.as_slice()))
            .collect();
        store.append_group(&reqs, &[]).unwrap();
        i += m;
    }
    store.flush().unwrap();
}

fn hub_total(rt: &tokio::runtime::Runtime, c: &SyncClient, device: &str) -> u64 {
    rt.block_on(c.get_json(&format!("/v1/devices/{device}/streams")))
        .ok()
        .and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(|s| s["records"].as_u64()).sum())
        })
        .unwrap_or(0)
}

fn wait_total(
    rt: &tokio::runtime::Runtime,
    c: &SyncClient,
    device: &str,
    n: u64,
    limit: Duration,
) -> Option<Instant> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if hub_total(rt, c, device) >= n {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn gateway_backlog(admin: u16) -> u64 {
    let out = Command::new(bin("foodflow-gateway").unwrap())
        .args([
            "status",
            "--json",
            "--admin",
            &format!("http://127.0.0.1:{admin}"),
        ])
        .output();
    let Ok(out) = out else { return 0 };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    ["critical", "operational", "telemetry"]
        .iter()
        .filter_map(|c| v[c]["records"].as_u64())
        .sum()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let hub_bin = bin("foodflow-hub").unwrap();
    let pki = w.join("pki");
    let p = pki.to_str().unwrap();
    let tool = |args: &[&str]| {
        let o = Command::new(&hub_bin).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    tool(&["pki", "init", "--dir", p]);
    tool(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--gateway",
        "gw-1",
        "--tenant",
        "bench",
        "--host",
        "127.0.0.1",
    ]);
    tool(&[
        "pki", "issue", "--dir", p, "--device", "edge-1", "--tenant", "bench",
    ]);
    tool(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--gateway",
        "uploader",
        "--tenant",
        "bench",
    ]);

    let hub_data = w.join("hub").display().to_string();
    for (gateway, devices) in [
        ("gw-1", vec!["edge-1"]),
        ("uploader", vec!["ours-0", "ours-1", "curl-0", "curl-1"]),
    ] {
        let mut args = vec!["gateway", "bind", "--data-dir", &hub_data];
        args.extend(["--tenant", "bench", "--gateway", gateway]);
        for d in devices {
            args.extend(["--device", d]);
        }
        tool(&args);
    }
    let (hub_port, gw_port, gw_admin, edge_http) =
        (free_port(), free_port(), free_port(), free_port());
    let hub_args = |port: u16| {
        vec![
            "serve".to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--admin".into(),
            format!("127.0.0.1:{}", free_port()),
            "--data-dir".into(),
            w.join("hub").display().to_string(),
            "--pki-dir".into(),
            p.into(),
        ]
    };
    let start = |program: &str, args: &[String], port: u16| {
        let c = Command::new(bin(program).unwrap())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        assert!(
            wait_for_port(port, Duration::from_secs(30)),
            "{program} did not start"
        );
        Kill(c)
    };
    std::fs::write(
        w.join("gw.yaml"),
        format!(
            "id: gw-1\nlisten: 127.0.0.1:{gw_port}\nadmin: 127.0.0.1:{gw_admin}\ndata_dir: {}/gw\n\
             tls: {{ ca: {p}/ca.pem, cert: {p}/gw-1.pem, key: {p}/gw-1.key, crl: {p}/crl.pem }}\n\
             hub: {{ url: 'https://127.0.0.1:{hub_port}' }}\n",
            w.display()
        ),
    )
    .unwrap();
    let profile = w.join("edge.yaml");
    std::fs::write(
        &profile,
        format!(
            "device: {{ id: edge-1, site: bench, role: line-edge }}\n\
             hardware: {{ arch: x86_64, execution_providers: [cpu] }}\n\
             journal: {{ data_dir: {}/edge }}\n\
             uplink: {{ gateway: 'https://127.0.0.1:{gw_port}', client_cert: {p}/edge-1.pem, client_key: {p}/edge-1.key, ca: {p}/ca.pem }}\n\
             http: {{ listen: '127.0.0.1:{edge_http}' }}\n",
            w.display()
        ),
    )
    .unwrap();
    let edge_args = vec![
        "run".to_owned(),
        "--profile".into(),
        profile.display().to_string(),
    ];
    let gw_args = vec![
        "run".to_owned(),
        "--config".into(),
        w.join("gw.yaml").display().to_string(),
    ];
    let journal = w.join("edge/journal.redb");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let checker = SyncClient::new(
        &format!("https://127.0.0.1:{hub_port}"),
        &TlsFiles::in_dir(&pki, "uploader"),
        Duration::from_secs(60),
    )
    .unwrap();

    // 1. End to end.
    eprintln!("bench-sync: preloading {E2E_RECORDS} readings into the edge journal");
    preload(&journal, "edge-1", 0, E2E_RECORDS, 60);
    let hub = start("foodflow-hub", &hub_args(hub_port), hub_port);
    let gw = start("foodflow-gateway", &gw_args, gw_port);
    let t = Instant::now();
    let edge = start("foodflow-edge", &edge_args, edge_http);
    let done = wait_total(
        &rt,
        &checker,
        "edge-1",
        E2E_RECORDS,
        Duration::from_secs(300),
    )
    .expect("e2e: the hub did not receive everything within 300 s");
    let e2e_rate = E2E_RECORDS as f64 / done.duration_since(t).as_secs_f64();
    eprintln!("bench-sync: e2e {e2e_rate:.0} records/s");

    // 2. Replay after an outage of OUTAGE_S simulated seconds at INGEST_RATE.
    drop(hub);
    drop(edge);
    let backlog = INGEST_RATE * OUTAGE_S;
    eprintln!(
        "bench-sync: hub down; {backlog} readings ({OUTAGE_S} s at {INGEST_RATE}/s) go to the gateway"
    );
    preload(&journal, "edge-1", E2E_RECORDS, backlog, OUTAGE_S);
    let edge = start("foodflow-edge", &edge_args, edge_http);
    let t = Instant::now();
    while gateway_backlog(gw_admin) < backlog && t.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let edge_to_gw = backlog as f64 / t.elapsed().as_secs_f64();
    drop(edge);
    let t = Instant::now();
    let hub = start("foodflow-hub", &hub_args(hub_port), hub_port);
    let done = wait_total(
        &rt,
        &checker,
        "edge-1",
        E2E_RECORDS + backlog,
        Duration::from_secs(300),
    )
    .expect("replay: the hub did not receive the backlog within 300 s");
    let replay_rate = backlog as f64 / done.duration_since(t).as_secs_f64();
    eprintln!(
        "bench-sync: edge→gateway {edge_to_gw:.0}/s; replay {replay_rate:.0} records/s ({:.1}× the plant rate)",
        replay_rate / INGEST_RATE as f64
    );
    drop(gw);

    // 3. One hop: our client vs curl, the same batches.
    let make = |device: &str, round: usize| -> Vec<Vec<u8>> {
        (0..HOP_BATCHES)
            .map(|b| {
                let first = (b * HOP_BATCH_RECORDS) as u64 + 1;
                Batch {
                    segments: vec![Segment {
                        device: DeviceId::new(format!("{device}-{round}")).unwrap(),
                        stream: StreamId::new("hop").unwrap(),
                        class: PriorityClass::Telemetry,
                        entries: (first..first + HOP_BATCH_RECORDS as u64)
                            .map(|seq| Entry {
                                seq,
                                ts_ns: seq as i64,
                                payload: reading(seq, seq as i64),
                                clock: None,
                            })
                            .collect(),
                    }],
                }
                .encode(1)
            })
            .collect()
    };
    let url = format!("https://127.0.0.1:{hub_port}/v1/sync/batches");
    let total = (HOP_BATCHES * HOP_BATCH_RECORDS) as f64;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..2 {
        let batches = make("ours", round);
        let client = SyncClient::new(
            &format!("https://127.0.0.1:{hub_port}"),
            &TlsFiles::in_dir(&pki, "uploader"),
            Duration::from_secs(60),
        )
        .unwrap();
        let t = Instant::now();
        rt.block_on(async {
            for b in batches {
                let ack = client.upload(b).await.unwrap();
                assert_eq!(ack.accepted as usize, HOP_BATCH_RECORDS);
            }
        });
        ours.push(total / t.elapsed().as_secs_f64());

        let files: Vec<_> = make("curl", round)
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                let f = w.join(format!("batch-{round}-{i}.ffsb"));
                std::fs::write(&f, b).unwrap();
                f
            })
            .collect();
        let mut args: Vec<String> = Vec::new();
        for (i, f) in files.iter().enumerate() {
            if i > 0 {
                args.push("--next".into());
            }
            args.extend(
                [
                    "-sS",
                    "--http2",
                    "--tlsv1.3",
                    "--cacert",
                    &format!("{p}/ca.pem"),
                    "--cert",
                    &format!("{p}/uploader.pem"),
                    "--key",
                    &format!("{p}/uploader.key"),
                    "-H",
                    "content-type: application/vnd.foodflow.batch.v1",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}\\n",
                    "--data-binary",
                    &format!("@{}", f.display()),
                    &url,
                ]
                .map(String::from),
            );
        }
        let t = Instant::now();
        let out = Command::new("curl")
            .args(&args)
            .output()
            .expect("curl is needed for the one-hop reference");
        let el = t.elapsed().as_secs_f64();
        let codes = String::from_utf8_lossy(&out.stdout);
        assert!(
            codes.lines().all(|c| c == "200") && codes.lines().count() == HOP_BATCHES,
            "curl: {codes} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        theirs.push(total / el);
    }
    drop(hub);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (one_hop_rate, curl_rate) = (mean(&ours), mean(&theirs));
    eprintln!("bench-sync: one hop ours {ours:.0?} curl {theirs:.0?}");
    println!(
        "{}",
        serde_json::json!({
            "bench": "sync",
            "e2e_rate": e2e_rate.round(),
            "replay_rate": replay_rate.round(),
            "ingest_rate": INGEST_RATE,
            "one_hop_rate": one_hop_rate.round(),
            "curl_rate": curl_rate.round(),
            "ratio_vs_curl": (one_hop_rate / curl_rate * 1000.0).round() / 1000.0,
            "edge_to_gateway_rate": edge_to_gw.round(),
        })
    );
}
