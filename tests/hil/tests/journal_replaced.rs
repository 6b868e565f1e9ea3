//! An edge box whose data directory is replaced (new disk, wiped journal) while the hub still
//! holds its earlier records: the new journal must not reuse seqs the hub has, or its records
//! would be dropped as duplicates. Real hub, real edge, real Mosquitto; the edge uploads
//! straight to the hub (the same sync API a gateway serves).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use foodflow_hil::kit::{hub_records, origin_ids};
use foodflow_hil::peers::{Mosquitto, Proc, bin, free_port, wait_for_port};
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;
use rumqttc::{AsyncClient, MqttOptions, QoS};

async fn publish(port: u16, from: u64, n: u64) {
    let (client, mut ev) =
        AsyncClient::new(MqttOptions::new("replaced-pub", "127.0.0.1", port), 1000);
    let poll = tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    for i in from..from + n {
        let body = serde_json::json!({"id": format!("m-{i}"), "tag": "t", "value": i, "ts": 1_700_000_000_000u64 + i});
        client
            .publish("plant/x/json/t", QoS::AtLeastOnce, false, body.to_string())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = client.disconnect().await;
    poll.abort();
}

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
    let hub_bin = bin("foodflow-hub").unwrap();
    for args in [
        vec!["pki", "init", "--dir", p],
        vec![
            "pki", "issue", "--dir", p, "--device", "box-1", "--tenant", "t1",
        ],
        vec![
            "pki",
            "issue",
            "--dir",
            p,
            "--gateway",
            "reader",
            "--tenant",
            "t1",
        ],
    ] {
        assert!(
            Command::new(&hub_bin)
                .args(&args)
                .status()
                .unwrap()
                .success()
        );
    }
    let mosquitto = Mosquitto::start(w).unwrap();
    let hub_port = free_port();
    let _hub = Proc(
        Command::new(&hub_bin)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{hub_port}"),
                "--admin",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args([
                "--data-dir",
                w.join("hub").to_str().unwrap(),
                "--pki-dir",
                p,
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(hub_port, Duration::from_secs(20)));
    let http = free_port();
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
             uplink: {{ gateway: 'https://127.0.0.1:{hub_port}', client_cert: {p}/box-1.pem, client_key: {p}/box-1.key, ca: {p}/ca.pem }}\n\
             http: {{ listen: '127.0.0.1:{http}' }}\n",
            w = w.display(),
            mq = mosquitto.port,
        ),
    )
    .unwrap();
    let edge = || {
        let c = Command::new(bin("foodflow-edge").unwrap())
            .args(["run", "--profile", profile.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(wait_for_port(http, Duration::from_secs(20)));
        Proc(c)
    };
    let reader = SyncClient::new(
        &format!("https://127.0.0.1:{hub_port}"),
        &TlsFiles::in_dir(&pki, "reader"),
        Duration::from_secs(10),
    )
    .unwrap();

    let e = edge();
    publish(mosquitto.port, 0, 100).await;
    assert_eq!(wait_ids(&reader, 100).await.len(), 100);
    drop(e);

    // The box gets a blank data directory.
    std::fs::remove_dir_all(w.join("edge")).unwrap();
    let _e = edge();
    publish(mosquitto.port, 100, 50).await;
    let ids = wait_ids(&reader, 150).await;
    assert_eq!(
        ids.len(),
        150,
        "records of the new journal must not be taken for duplicates"
    );
    let expected: Vec<String> = (0..150).map(|i| format!("m-{i}")).collect();
    assert_eq!(ids, expected);
}
