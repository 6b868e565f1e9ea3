//! Clock faults on a plant box: the real edge runs on a wrong wall clock (libfaketime) that
//! the test steps while it runs, with a real hub and Mosquitto. A box without an RTC battery
//! boots at 1970 and NTP later steps it to the true time; not one message the broker
//! acknowledged may be lost on the way to the hub, whether the step comes while the edge
//! runs or before it restarts.

use std::process::Command;
use std::time::Duration;

use foodflow_hil::kit::{
    Edge, FakeClock, Hub, hub_records, metric_total, origin_ids, publish, wait_for,
};
use foodflow_hil::peers::{Mosquitto, bin};

/// Seconds from now back to 1970-01-02: the wall clock of a box that booted without RTC.
fn to_1970() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    -(now - 86_400)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_box_booting_at_1970_loses_nothing_when_ntp_steps_its_clock() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let Some(clock) = FakeClock::new(w) else {
        eprintln!(
            "SKIP a_box_booting_at_1970: libfaketime is not installed (Debian package faketime)"
        );
        return;
    };
    let hub = Hub::start(w, &["box-1"]);
    let mosquitto = Mosquitto::start(w).unwrap();
    let profile = hub.edge_profile(w, mosquitto.port, ", retention_every: 1s");
    let log = w.join("edge.log");
    let edge = |on_fake_clock: bool| {
        let mut cmd = Command::new(bin("foodflow-edge").unwrap());
        cmd.args(["run", "--profile", profile.to_str().unwrap()])
            .args(["--http", "127.0.0.1:0"]);
        if on_fake_clock {
            clock.apply(&mut cmd);
        }
        let e = Edge::start(cmd, &log);
        e.wait_subscribed(&log);
        e
    };

    // Boot at 1970: the hub's certificate is not valid yet on this clock, nothing goes up.
    clock.set_offset_s(to_1970());
    let e = edge(true);
    publish(mosquitto.port, 0..200, 10).await;
    e.wait_journaled(200, &log);
    assert!(hub_records(&hub.reader, "box-1", "mqtt/x").await.is_empty());
    let h = e.health();
    assert_eq!(h["clock"]["trusted"], false, "{h}");
    assert!(
        h["clock"]["why"]
            .as_str()
            .is_some_and(|w| w.contains("not set since boot")),
        "{h}"
    );
    wait_for(
        "the uplink names the clock as the cause and shows the backlog",
        &log,
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("not valid yet by this box's clock")
                && metric_total(&e.metrics(), "foodflow_uplink_pending_records") == 200
        },
    );

    // NTP steps the clock to the true time while the box runs (retention runs every second):
    // the records stamped 1970 are not "56 years old", they are unsent.
    clock.set_offset_s(0);
    wait_for(
        "the clock trusted once set",
        &log,
        Duration::from_secs(10),
        || e.health()["clock"]["trusted"] == true,
    );
    let records = hub.wait_for_readings(200, Duration::from_secs(60)).await;
    let expected: Vec<String> = (0..200).map(|i| format!("m-{i}")).collect();
    assert_eq!(origin_ids(&records), expected);
    drop(e);

    // The next boot is at 1970 again; the box is stopped before anything goes up and started
    // again once NTP has set the clock (retention runs at start).
    clock.set_offset_s(to_1970());
    let e = edge(true);
    publish(mosquitto.port, 200..300, 10).await;
    e.wait_journaled(100, &log);
    drop(e);
    let _e = edge(false);
    let records = hub.wait_for_readings(300, Duration::from_secs(60)).await;
    let expected: Vec<String> = (0..300).map(|i| format!("m-{i}")).collect();
    assert_eq!(origin_ids(&records), expected, "every acknowledged message");
    let gaps: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["payload"].get("gap").is_some())
        .collect();
    assert!(gaps.is_empty(), "nothing was dropped: {gaps:?}");
}
