//! Against foodflow-sim's OPC UA server: a server restart mid-run leads to a reconnect, a re-read
//! of every tag and a recorded outage (an event when the link drops, a Gap when it is back).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foodflow_edge::connectors::opcua;
use foodflow_edge::connectors::stats::SourceStats;
use foodflow_edge::journal::{Journal, Store};
use foodflow_edge::metrics::Metrics;
use foodflow_edge::profile::{OpcUaSecurity, OpcUaSource, OpcUaTag, Quotas};
use foodflow_hil::opcua_server::{self, OpcUaSimConfig};
use foodflow_hil::plant::Plant;
use foodflow_protocol::{DeviceId, Payload, StreamId};
use tokio_util::sync::CancellationToken;

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_means_reconnect_reread_and_a_gap() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("sim-pki");
    let plant = Arc::new(Mutex::new(Plant::new(3)));
    let sim_cancel = CancellationToken::new();
    let cfg = OpcUaSimConfig {
        port: 0,
        extra_tags: 20,
        extra_rate_hz: 5.0,
        pki_dir: pki.clone(),
    };
    let server = opcua_server::start(cfg.clone(), plant.clone(), sim_cancel.clone())
        .await
        .unwrap();
    let port = server.port;

    let tags: Vec<OpcUaTag> = [
        "Line1.Oven.Zone1.Temperature",
        "Line1.Counters.Good",
        "Line1.State",
    ]
    .iter()
    .map(|n| n.to_string())
    .chain((0..20).map(opcua_server::extra_tag_name))
    .map(|n| OpcUaTag {
        node: format!("ns={};s={n}", server.namespace_index),
        name: n.to_lowercase(),
        unit: None,
        sampling_interval_ms: Some(50),
        deadband: 0.0,
    })
    .collect();
    let src = OpcUaSource {
        name: "sim-plc".into(),
        endpoint: server.endpoint(),
        security: OpcUaSecurity::default(),
        pki_dir: Some(dir.path().join("edge-pki")),
        trust_server_cert: false,
        stream: StreamId::new("opcua/sim").unwrap(),
        publishing_interval_ms: 100,
        default_sampling_interval_ms: 100,
        tags,
    };
    let metrics = Metrics::new();
    let store = Store::open(
        &dir.path().join("journal"),
        DeviceId::new("it-hil").unwrap(),
    )
    .unwrap();
    let (journal, writer) =
        Journal::start(store, 1024, Quotas::default(), metrics.clone()).unwrap();
    let stats = SourceStats::new(&metrics, "sim-plc", "opcua");
    let cancel = CancellationToken::new();
    let edge = tokio::spawn(opcua::run(
        src,
        journal.clone(),
        stats.clone(),
        cancel.clone(),
    ));

    let s = stats.clone();
    wait_until("first values", || s.records.load(Ordering::Relaxed) > 50).await;
    assert_eq!(stats.connected.load(Ordering::Relaxed), 1);

    // Restart the PLC on the same port.
    server.stop().await;
    let s = stats.clone();
    wait_until("the loss to be noticed", || {
        s.connected.load(Ordering::Relaxed) == 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = stats.records.load(Ordering::Relaxed);
    let server = opcua_server::start(
        OpcUaSimConfig { port, ..cfg },
        plant.clone(),
        sim_cancel.clone(),
    )
    .await
    .unwrap();
    let s = stats.clone();
    wait_until("reconnect", || s.connected.load(Ordering::Relaxed) == 1).await;
    let s = stats.clone();
    wait_until("values after the restart", || {
        s.records.load(Ordering::Relaxed) > before + 50
    })
    .await;

    cancel.cancel();
    edge.await.unwrap().unwrap();
    server.stop().await;
    drop(journal);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .unwrap()
        .unwrap();

    let store = Store::open(
        &dir.path().join("journal"),
        DeviceId::new("it-hil").unwrap(),
    )
    .unwrap();
    let records: Vec<_> = store
        .read(&StreamId::new("opcua/sim").unwrap(), 1)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "gap-free seq");
    }
    let lost = records
        .iter()
        .position(
            |r| matches!(&r.payload, Payload::Event(e) if e.name == "sim-plc/connection_lost"),
        )
        .expect("the outage start is recorded as an event");
    let gap = records
        .iter()
        .position(|r| matches!(&r.payload, Payload::Gap(g) if g.reason.contains("connection was down") && g.to_ts_ns > g.from_ts_ns))
        .expect("the outage is recorded as a Gap with its time span");
    assert!(gap > lost);
    // Right after the gap, every tag is read again (23 tags), before or alongside new changes.
    let after: std::collections::BTreeSet<&str> = records[gap + 1..]
        .iter()
        .filter_map(|r| match &r.payload {
            Payload::Reading(x) => Some(x.tag.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        after.len(),
        23,
        "all tags re-read after the reconnect: {after:?}"
    );
    assert!(stats.gaps.load(Ordering::Relaxed) >= 1);
    // And none twice: the recreated subscription's first notification and the re-read carry
    // the same sample (same source time, status and value).
    let mut seen = std::collections::HashSet::new();
    for r in &records {
        if let Payload::Reading(x) = &r.payload {
            let key = (
                x.tag.clone(),
                x.source_ts_ns,
                x.status_code,
                format!("{:?}", x.value),
            );
            assert!(
                seen.insert(key),
                "journaled twice: {x:?}; all of its tag: {:?}",
                records
                    .iter()
                    .filter(|r| matches!(&r.payload, Payload::Reading(y) if y.tag == x.tag))
                    .map(|r| match &r.payload {
                        Payload::Reading(y) => format!(
                            "#{} at {} src {:?} {:?} {}",
                            r.seq, r.ts_ns, y.source_ts_ns, y.value, y.status_code
                        ),
                        _ => String::new(),
                    })
                    .collect::<Vec<_>>()
            );
        }
    }
    assert!(
        stats.redelivered.load(Ordering::Relaxed) > 0,
        "the repeats were counted"
    );
}
