//! An edge box whose data directory is replaced (new disk, wiped journal) while the hub still
//! holds its earlier records: the new journal must not reuse seqs the hub has, or its records
//! would be dropped as duplicates. Real hub, real edge, real Mosquitto; the edge uploads
//! straight to the hub (the same sync API a gateway serves).

use std::process::Command;
use std::time::Duration;

use foodflow_hil::kit::{Edge, Hub, origin_ids, publish};
use foodflow_hil::peers::{Mosquitto, bin};

#[tokio::test(flavor = "multi_thread")]
async fn new_journal_continues_after_the_hubs_mark() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let hub = Hub::start(w, &["box-1"]);
    let mosquitto = Mosquitto::start(w).unwrap();
    let profile = hub.edge_profile(w, mosquitto.port, "");
    let log = w.join("edge.log");
    let edge = || {
        let mut cmd = Command::new(bin("foodflow-edge").unwrap());
        cmd.args(["run", "--profile", profile.to_str().unwrap()])
            .args(["--http", "127.0.0.1:0"]);
        let e = Edge::start(cmd, &log);
        e.wait_subscribed(&log);
        e
    };
    let within = Duration::from_secs(30);

    let e = edge();
    publish(mosquitto.port, 0..100, 1).await;
    assert_eq!(
        origin_ids(&hub.wait_for_readings(100, within).await).len(),
        100
    );
    drop(e);

    // The box gets a blank data directory.
    std::fs::remove_dir_all(w.join("edge")).unwrap();
    let _e = edge();
    publish(mosquitto.port, 100..150, 1).await;
    let ids = origin_ids(&hub.wait_for_readings(150, within).await);
    assert_eq!(
        ids.len(),
        150,
        "records of the new journal must not be taken for duplicates"
    );
    let expected: Vec<String> = (0..150).map(|i| format!("m-{i}")).collect();
    assert_eq!(ids, expected);
}
