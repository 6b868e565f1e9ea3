//! OPC UA at plant scale: the real edge subscribes to 12,000 monitored items on one session of
//! an independent server (async-opcua's, serving the simulated PLC) whose values all change.
//! It used to hang at about 9,000: the task waiting for the items starved the session's event
//! loop, nothing read the server's answers, `/healthz` said connected with 0 items and SIGTERM
//! was ignored.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use foodflow_hil::kit::{Edge, metric_total, wait_for};
use foodflow_hil::opcua_server::{self, OpcUaSimConfig, extra_tag_name};
use foodflow_hil::peers::bin;
use foodflow_hil::plant::Plant;
use tokio_util::sync::CancellationToken;

const ITEMS: usize = 12_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_thousand_items_on_one_session_are_created_served_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let cancel = CancellationToken::new();
    let server = opcua_server::start(
        OpcUaSimConfig {
            port: 0,
            extra_tags: ITEMS,
            extra_rate_hz: 5.0,
            pki_dir: w.join("sim-pki"),
        },
        Arc::new(Mutex::new(Plant::new(7))),
        cancel.clone(),
    )
    .await
    .unwrap();
    let ns = server.namespace_index;
    let tags: String = (0..ITEMS)
        .map(|i| {
            format!(
                "      - {{ node: \"ns={ns};s={}\", name: x{i} }}\n",
                extra_tag_name(i)
            )
        })
        .collect();
    let profile = w.join("edge.yaml");
    std::fs::write(
        &profile,
        format!(
            "device: {{ id: box-ua, site: s }}\n\
             journal: {{ data_dir: {} }}\n\
             opcua:\n  - name: sim\n    endpoint: {}\n    security: {{ policy: none, mode: none }}\n\
             \x20   stream: opcua/sim\n    publishing_interval_ms: 100\n    default_sampling_interval_ms: 200\n    tags:\n{tags}",
            w.join("data").display(),
            server.endpoint(),
        ),
    )
    .unwrap();
    let log = w.join("edge.log");
    let mut cmd = Command::new(bin("foodflow-edge").unwrap());
    cmd.args(["run", "--profile", profile.to_str().unwrap()])
        .args(["--http", "127.0.0.1:0"]);
    let mut edge = Edge::start(cmd, &log);

    // Health tells what is going on while the items are created, and then that all are.
    let mut saw_configured = false;
    wait_for("every item created", &log, Duration::from_secs(120), || {
        let h = edge.health();
        let src = &h["sources"][0];
        saw_configured |= src["items_configured"] == ITEMS;
        src["items"] == ITEMS && src["state"] == "up"
    });
    assert!(saw_configured, "{}", edge.health());
    assert_eq!(edge.health()["sources"][0]["items_failed"], 0);
    // The session is served: every item's changes keep arriving.
    let before = metric_total(&edge.metrics(), "foodflow_ingest_messages_total");
    wait_for(
        "changes of all items flowing",
        &log,
        Duration::from_secs(30),
        || metric_total(&edge.metrics(), "foodflow_ingest_messages_total") >= before + ITEMS as u64,
    );
    // SIGTERM takes effect within 5 s.
    let t0 = Instant::now();
    let code = edge.terminate(Duration::from_secs(5));
    assert!(
        code.is_some(),
        "still running {:?} after SIGTERM",
        t0.elapsed()
    );
    cancel.cancel();
    server.stop().await;
}
