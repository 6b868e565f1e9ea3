//! A full disk under the gateway's queue and under the edge's journal, with the real binaries:
//! health says so (503 with the reason), nothing is acknowledged that was not stored, writes
//! resume by themselves once space is back, and everything acknowledged arrives. The disk is
//! a small tmpfs (mounting needs root; elsewhere the tests say why they skip).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use foodflow_hil::kit::{
    PROFILE_SUBSCRIPTIONS, edge_profile, get, metric_total, publish, run, start, wait_for,
};
use foodflow_hil::peers::{Mosquitto, bin};
use foodflow_protocol::batch::Entry;
use foodflow_protocol::{
    Batch, DeviceId, Event, Payload, PriorityClass, Segment, Severity, StreamId,
};
use foodflow_storekit::testing::SmallDisk;
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;

fn small_disk(test: &str) -> Option<SmallDisk> {
    match SmallDisk::mount(24) {
        Ok(d) => Some(d),
        Err(why) => {
            eprintln!("SKIP {test}: {why}");
            None
        }
    }
}

fn event_batch(seq: u64, bytes: usize) -> Vec<u8> {
    Batch {
        segments: vec![Segment {
            device: DeviceId::new("line-1").unwrap(),
            stream: StreamId::new("plc").unwrap(),
            class: PriorityClass::Critical,
            entries: vec![Entry {
                seq,
                ts_ns: seq as i64,
                payload: Payload::Event(Event {
                    severity: Severity::Info,
                    name: format!("e{seq}"),
                    message: "x".repeat(bytes),
                }),
                clock: None,
            }],
        }],
    }
    .encode(1)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_under_the_gateway_queue_is_reported_and_nothing_acknowledged_is_lost() {
    let Some(disk) = small_disk("a_full_disk_under_the_gateway_queue") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let pki = w.join("pki");
    let p = pki.to_str().unwrap();
    run("foodflow-hub", &["pki", "init", "--dir", p]);
    for args in [
        ["--gateway", "gw-1", "--host", "127.0.0.1"],
        ["--device", "line-1", "--host", "127.0.0.1"],
        ["--gateway", "reader", "--host", "127.0.0.1"],
    ] {
        let mut a = vec!["pki", "issue", "--dir", p, "--tenant", "acme"];
        a.extend(args);
        run("foodflow-hub", &a);
    }
    let config = w.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "id: gw-1\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata_dir: {data}\n\
             tls: {{ ca: {p}/ca.pem, cert: {p}/gw-1.pem, key: {p}/gw-1.key }}\n\
             hub: {{ url: 'https://127.0.0.1:1' }}\n",
            data = disk.path().join("queue").display(),
        ),
    )
    .unwrap();
    let gateway = |hub: Option<&str>| {
        let mut cmd = Command::new(bin("foodflow-gateway").unwrap());
        cmd.args(["run", "--config", config.to_str().unwrap()]);
        if let Some(h) = hub {
            cmd.args(["--hub", h]);
        }
        start(cmd, &w.join("gateway.log"))
    };
    let (gw, ready) = gateway(None);
    let api = ready["api"].as_str().unwrap().to_owned();
    let admin = ready["admin"].as_str().unwrap().to_owned();
    let edge = SyncClient::new(
        &api,
        &TlsFiles::in_dir(&pki, "line-1"),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(get(&format!("{admin}/healthz")).0, 200);

    // The hub is away, so everything stays queued; the disk fills.
    disk.fill(3 << 20);
    let mut acked = 0;
    let mut refusal = None;
    for seq in 1..=200u64 {
        match edge.upload(event_batch(seq, 200_000)).await {
            Ok(a) => {
                assert_eq!(a.marks[0].seq, seq);
                acked = seq;
            }
            Err(e) => {
                refusal = Some(e.to_string());
                break;
            }
        }
    }
    let refusal = refusal.expect("the disk never filled");
    assert!(refusal.contains("cannot write to its disk"), "{refusal}");
    let (code, body) = get(&format!("{admin}/healthz"));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("queue writes failing"), "{body}");
    // While the disk fails the edge is not told a mark the queue may not hold.
    match edge.marks().await {
        Ok(m) => assert_eq!(m[0].seq, acked),
        Err(e) => assert!(e.to_string().contains("cannot write to its disk"), "{e}"),
    }

    disk.free();
    wait_for(
        "gateway healthy again",
        &w.join("gateway.log"),
        Duration::from_secs(15),
        || get(&format!("{admin}/healthz")).0 == 200,
    );
    // The refused upload may have reached the disk after all (a commit can fail after its
    // data is durable); either way the edge resumes from the mark it is told.
    let mark = edge.marks().await.unwrap()[0].seq;
    assert!(
        mark == acked || mark == acked + 1,
        "mark {mark} after {acked} acknowledged"
    );
    let a = edge.upload(event_batch(mark + 1, 1000)).await.unwrap();
    assert_eq!((a.accepted, a.marks[0].seq), (1, mark + 1));
    let stored = mark + 1;
    drop(gw);

    // A hub comes: everything acknowledged is forwarded, in order.
    let hub_data = w.join("hub");
    let hd = hub_data.to_str().unwrap();
    run(
        "foodflow-hub",
        &[
            "gateway",
            "bind",
            "--data-dir",
            hd,
            "--tenant",
            "acme",
            "--gateway",
            "gw-1",
            "--device",
            "line-1",
        ],
    );
    let mut cmd = Command::new(bin("foodflow-hub").unwrap());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--data-dir", hd, "--pki-dir", p]);
    let (_hub, hub_ready) = start(cmd, &w.join("hub.log"));
    let hub_api = hub_ready["api"].as_str().unwrap().to_owned();
    let _gw = gateway(Some(&hub_api));
    let reader = SyncClient::new(
        &hub_api,
        &TlsFiles::in_dir(&pki, "reader"),
        Duration::from_secs(10),
    )
    .unwrap();
    let mut seqs = Vec::new();
    let t0 = Instant::now();
    while seqs.len() as u64 != stored && t0.elapsed() < Duration::from_secs(30) {
        let v = reader
            .get_json("/v1/devices/line-1/streams/plc/records?from=1&limit=1000")
            .await
            .unwrap_or_default();
        seqs = v["records"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["seq"].as_u64()).collect())
            .unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(seqs, (1..=stored).collect::<Vec<_>>());
}

/// The origin ids journaled in the MQTT stream, read offline with `foodflow-edge journal dump`.
fn journaled_ids(data: &Path) -> Vec<String> {
    let out = Command::new(bin("foodflow-edge").unwrap())
        .args(["journal", "dump", "--data-dir", data.to_str().unwrap()])
        .args(["--stream", "mqtt/x"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|r| {
            r["payload"]["reading"]["origin_id"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_under_the_edge_journal_is_reported_and_nothing_acknowledged_is_lost() {
    let Some(disk) = small_disk("a_full_disk_under_the_edge_journal") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let mosquitto = Mosquitto::start(w).unwrap();
    let data = disk.path().join("edge");
    let profile = edge_profile(w, &data, mosquitto.port, "", None);
    let mut cmd = Command::new(bin("foodflow-edge").unwrap());
    cmd.args(["run", "--profile", profile.to_str().unwrap()])
        .args(["--http", "127.0.0.1:0"]);
    let (edge, ready) = start(cmd, &w.join("edge.log"));
    let http = ready["http"].as_str().unwrap().to_owned();
    let health = || {
        let (code, body) = get(&format!("{http}/healthz"));
        (
            code,
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    // Subscribed (granted by the broker), so that nothing published is dropped unheard.
    wait_for(
        "the MQTT subscription",
        &w.join("edge.log"),
        Duration::from_secs(20),
        || health().1["sources"][0]["items"].as_u64() == Some(PROFILE_SUBSCRIPTIONS),
    );
    publish(mosquitto.port, 0..5, 100).await;

    disk.fill(3 << 20);
    // More than the disk holds: the journal fails, the box says so.
    publish(mosquitto.port, 5..65, 100_000).await;
    wait_for(
        "the edge reports its failing journal",
        &w.join("edge.log"),
        Duration::from_secs(30),
        || {
            let (code, body) = health();
            code == 503
                && body["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("journal writes failing"))
        },
    );

    disk.free();
    wait_for(
        "the edge healthy again",
        &w.join("edge.log"),
        Duration::from_secs(20),
        || health().0 == 200,
    );
    publish(mosquitto.port, 65..70, 100).await;
    let metrics = || get(&format!("{http}/metrics")).1;
    // Every message is either journaled now or recognised as one journaled by a write that
    // failed only after its commit (the broker's resend is then acknowledged without a record).
    wait_for(
        "every message journaled",
        &w.join("edge.log"),
        Duration::from_secs(60),
        || {
            let m = metrics();
            metric_total(&m, "foodflow_journal_records_total")
                + metric_total(&m, "foodflow_ingest_redelivered_duplicates_total")
                >= 70
        },
    );
    drop(edge);

    let ids = journaled_ids(&data);
    let got: BTreeSet<&String> = ids.iter().collect();
    let expected: Vec<String> = (0..70).map(|i| format!("m-{i}")).collect();
    let missing: Vec<&String> = expected.iter().filter(|id| !got.contains(id)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    if ids.len() != got.len() {
        eprintln!(
            "note: {} messages journaled twice (a redelivery of a write that failed after its commit)",
            ids.len() - got.len()
        );
    }
}
