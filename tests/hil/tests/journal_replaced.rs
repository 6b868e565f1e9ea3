//! An edge box whose data directory is replaced (new disk, wiped journal) while the hub still
//! holds its earlier records: the new journal must not reuse seqs the hub has, or its records
//! would be dropped as duplicates. Real hub, real edge, real Mosquitto; the edge uploads
//! straight to the hub (the same sync API a gateway serves).

use std::process::Command;
use std::time::{Duration, Instant};

use foodflow_hil::kit::{Edge, hub_records, origin_ids, publish, run, start};
use foodflow_hil::peers::{Mosquitto, bin};
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;

async fn wait_ids(c: &SyncClient, n: usize) -> Vec<String> {
    let t = Instant::now();
    loop {
        let ids = origin_ids(&hub_records(c, "box-1", "mqtt/x").await);
        if ids.len() >= n || t.elapsed() > Duration::from_secs(30) {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn new_journal_continues_after_the_hubs_mark() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let pki = w.join("pki");
    let p = pki.to_str().unwrap();
    run("foodflow-hub", &["pki", "init", "--dir", p]);
    for args in [["--device", "box-1"], ["--gateway", "reader"]] {
        let mut a = vec!["pki", "issue", "--dir", p, "--tenant", "t1"];
        a.extend(args);
        run("foodflow-hub", &a);
    }
    let mosquitto = Mosquitto::start(w).unwrap();
    let mut cmd = Command::new(bin("foodflow-hub").unwrap());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args([
            "--data-dir",
            w.join("hub").to_str().unwrap(),
            "--pki-dir",
            p,
        ]);
    let (_hub, ready) = start(cmd, &w.join("hub.log"));
    let api = ready["api"].as_str().unwrap().to_owned();
    let profile = w.join("edge.yaml");
    std::fs::write(
        &profile,
        format!(
            "device: {{ id: box-1, site: s, role: line-edge }}\n\
             hardware: {{ arch: x86_64, execution_providers: [cpu] }}\n\
             journal: {{ data_dir: {w}/edge }}\n\
             mqtt:\n  - name: b\n    broker: mqtt://127.0.0.1:{mq}\n    client_id: edge-box-1\n\
             \x20   subscriptions:\n\
             \x20     - {{ topic: plant/x/json/#, codec: json, stream: mqtt/x, json: {{ tag_path: /tag, value_path: /value, timestamp_path: /ts, timestamp_format: unix_ms, id_path: /id }} }}\n\
             uplink: {{ gateway: '{api}', client_cert: {p}/box-1.pem, client_key: {p}/box-1.key, ca: {p}/ca.pem }}\n",
            w = w.display(),
            mq = mosquitto.port,
        ),
    )
    .unwrap();
    let log = w.join("edge.log");
    let edge = || {
        let mut cmd = Command::new(bin("foodflow-edge").unwrap());
        cmd.args(["run", "--profile", profile.to_str().unwrap()])
            .args(["--http", "127.0.0.1:0"]);
        let e = Edge::start(cmd, &log);
        e.wait_subscribed(&log);
        e
    };
    let reader = SyncClient::new(
        &api,
        &TlsFiles::in_dir(&pki, "reader"),
        Duration::from_secs(10),
    )
    .unwrap();

    let e = edge();
    publish(mosquitto.port, 0..100, 1).await;
    assert_eq!(wait_ids(&reader, 100).await.len(), 100);
    drop(e);

    // The box gets a blank data directory.
    std::fs::remove_dir_all(w.join("edge")).unwrap();
    let _e = edge();
    publish(mosquitto.port, 100..150, 1).await;
    let ids = wait_ids(&reader, 150).await;
    assert_eq!(
        ids.len(),
        150,
        "records of the new journal must not be taken for duplicates"
    );
    let expected: Vec<String> = (0..150).map(|i| format!("m-{i}")).collect();
    assert_eq!(ids, expected);
}
