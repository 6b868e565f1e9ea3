//! Clock faults on a plant box: the real edge (or hub) runs on a wrong wall clock
//! (libfaketime) that the test steps while it runs, with a real hub and Mosquitto.
//! - A box without an RTC battery boots at 1970 and NTP later steps it to the true time; not
//!   one message the broker acknowledged may be lost on the way to the hub, whether the step
//!   comes while the edge runs or before it restarts, and the hub gets the times flagged and,
//!   where the edge learnt its error, re-based.
//! - A time server steps the box two years ahead for 30 s and back: nothing lost, the times
//!   re-based, rollups and the screen go on, no shift report for 2028.
//! - The hub's clock is 10 minutes behind: within the skew budget, nothing flagged or lost.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use foodflow_hil::kit::{
    Edge, FakeClock, Hub, get, hub_records, metric_total, origin_ids, publish, publish_numbers,
    wait_for,
};
use foodflow_hil::peers::{Mosquitto, bin};

const S: i64 = 1_000_000_000;

fn real_now_ns() -> i64 {
    foodflow_protocol::time::now_ns()
}

/// The readings among `records` (a reading's origin id and its record).
fn readings(records: &[serde_json::Value]) -> Vec<(String, &serde_json::Value)> {
    records
        .iter()
        .filter_map(|r| Some((r["payload"]["reading"]["origin_id"].as_str()?.to_owned(), r)))
        .collect()
}

/// The hub's view of `box-1`'s stream: its `last_ts_ns` and suspect count.
async fn stream_info(hub: &Hub, stream: &str) -> serde_json::Value {
    let v = hub
        .reader
        .get_json("/v1/devices/box-1/streams")
        .await
        .unwrap_or_default();
    v.as_array()
        .or_else(|| v["streams"].as_array())
        .and_then(|a| a.iter().find(|s| s["stream"] == stream).cloned())
        .unwrap_or_default()
}

/// Starts the edge on `profile`, on `clock` where given, and waits for its subscriptions.
fn start_edge(profile: &Path, log: &Path, clock: Option<&FakeClock>) -> Edge {
    let mut cmd = Command::new(bin("foodflow-edge").unwrap());
    cmd.args(["run", "--profile", profile.to_str().unwrap()])
        .args(["--http", "127.0.0.1:0"]);
    if let Some(c) = clock {
        c.apply(&mut cmd);
    }
    let e = Edge::start(cmd, log);
    e.wait_subscribed(log);
    e
}

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
    let edge = |on_fake_clock: bool| start_edge(&profile, &log, on_fake_clock.then_some(&clock));

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
    let set_at = real_now_ns();
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
    // Stamped 1970 and flagged; once the clock was set the edge knew by how much, so the hub
    // got them re-based onto the true time (before the step, within this test's minutes).
    for (id, r) in readings(&records) {
        let c = &r["clock"];
        assert_eq!(c["untrusted"], true, "{id}: {r}");
        assert_eq!(c["clock_suspect"], true, "{id}: {r}");
        assert_eq!(
            c["outside_window"], false,
            "{id}: re-based into the window: {r}"
        );
        let t = c["corrected_ts_ns"].as_i64().unwrap_or(0);
        assert!(
            (set_at - 300 * S..=set_at).contains(&t),
            "{id}: re-based to the true time before the step: {r}"
        );
        assert!(
            r["ts_ns"].as_i64().unwrap_or(0) < 2 * 86_400 * S,
            "the claim is kept"
        );
    }
    let info = stream_info(&hub, "mqtt/x").await;
    let last = info["last_ts_ns"].as_i64().unwrap_or(0);
    assert!(
        (set_at - 300 * S..=real_now_ns()).contains(&last),
        "last_ts from the corrected times: {info}"
    );
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
    // That run never learnt its clock's error: flagged, the claim kept, outside the hub's
    // window, and no time to believe.
    for (id, r) in readings(&records).into_iter().skip(200) {
        let c = &r["clock"];
        assert_eq!(c["untrusted"], true, "{id}: {r}");
        assert_eq!(c["outside_window"], true, "{id}: {r}");
        assert!(c["corrected_ts_ns"].is_null(), "{id}: {r}");
        assert!(
            c["received_ts_ns"].as_i64().unwrap_or(0) >= set_at,
            "{id}: {r}"
        );
    }
    let info = stream_info(&hub, "mqtt/x").await;
    assert_eq!(info["clock_suspect"], 300, "{info}");
    assert_eq!(
        info["last_ts_ns"].as_i64(),
        Some(last),
        "1970 claims move nothing: {info}"
    );
    let gaps: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["payload"].get("gap").is_some())
        .collect();
    assert!(gaps.is_empty(), "nothing was dropped: {gaps:?}");
}

/// The OEE section of the two-years test: three shifts round the clock, a report a second.
const OEE: &str = "analytics:\n  rollups: true\n  oee:\n    line: l1\n    state_tag: l1.state\n    good_tag: l1.good\n    reject_tag: l1.reject\n    ideal_per_min: 60\n    report_every: 1s\n    shifts:\n      - { name: night, start: \"22:00\", end: \"06:00\" }\n      - { name: early, start: \"06:00\", end: \"14:00\" }\n      - { name: late, start: \"14:00\", end: \"22:00\" }\n";

/// Publishes `ids` at about ten numbers a second.
async fn publish_paced(port: u16, ids: std::ops::Range<u64>) {
    let mut i = ids.start;
    while i < ids.end {
        let next = (i + 10).min(ids.end);
        publish_numbers(port, i..next).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        i = next;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clock_two_years_ahead_for_30_s_is_re_based_and_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let Some(clock) = FakeClock::new(w) else {
        eprintln!(
            "SKIP a_clock_two_years_ahead: libfaketime is not installed (Debian package faketime)"
        );
        return;
    };
    let hub = Hub::start(w, &["box-1"]);
    let mosquitto = Mosquitto::start(w).unwrap();
    let profile = hub.edge_profile(w, mosquitto.port, "");
    let mut yaml = std::fs::read_to_string(&profile).unwrap();
    yaml.push_str(OEE);
    std::fs::write(&profile, yaml).unwrap();
    let log = w.join("edge.log");
    let e = start_edge(&profile, &log, Some(&clock));

    publish_paced(mosquitto.port, 0..50).await;
    let two_years: i64 = 2 * 365 * 86_400;
    let ahead_from = real_now_ns();
    clock.set_offset_s(two_years);
    wait_for("the step seen", &log, Duration::from_secs(10), || {
        e.health()["clock"]["trusted"] == false
    });
    publish_paced(mosquitto.port, 50..350).await;
    clock.set_offset_s(0);
    let back_at = real_now_ns();
    wait_for("the step back seen", &log, Duration::from_secs(10), || {
        e.health()["clock"]["trusted"] == true
    });
    publish_paced(mosquitto.port, 350..400).await;

    // Nothing lost; the two years' stamps re-based, the rest untouched.
    let records = hub
        .wait_for_records("mqtt/n", Duration::from_secs(90), |r| {
            readings(r).len() >= 400
        })
        .await;
    let got = readings(&records);
    let expected: Vec<String> = (0..400).map(|i| format!("n-{i}")).collect();
    assert_eq!(
        got.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        expected
    );
    for (i, (id, r)) in got.iter().enumerate() {
        let c = &r["clock"];
        if (50..350).contains(&i) {
            assert_eq!(c["untrusted"], true, "{id}: {r}");
            let t = c["corrected_ts_ns"].as_i64().unwrap_or(0);
            assert!(
                (ahead_from..=back_at).contains(&t),
                "{id}: re-based to the true time: {r}"
            );
            assert_eq!(c["outside_window"], false, "{id}: {r}");
        } else {
            assert!(c.is_null(), "{id}: stamped on the true clock: {r}");
        }
    }
    let info = stream_info(&hub, "mqtt/n").await;
    let last = info["last_ts_ns"].as_i64().unwrap_or(i64::MAX);
    assert!(last <= real_now_ns(), "last_ts not in 2028: {info}");

    // The screen goes on with the numbers after the step back.
    wait_for(
        "the screen shows the last number",
        &log,
        Duration::from_secs(10),
        || {
            let state: serde_json::Value =
                serde_json::from_str(&get(&format!("{}/screen/state", e.http)).1)
                    .unwrap_or_default();
            state["board"]["tags"]["n"]["last"].as_f64() == Some(399.0)
        },
    );
    // Rollups went on through the two years and after them, none of them in 2028.
    let rollups = hub
        .wait_for_records("analytics/rollups", Duration::from_secs(60), |r| {
            r.iter()
                .any(|x| x["payload"]["rollup"]["window_start_ns"].as_i64() > Some(back_at))
        })
        .await;
    let starts: Vec<i64> = rollups
        .iter()
        .filter_map(|r| r["payload"]["rollup"]["window_start_ns"].as_i64())
        .collect();
    assert!(
        starts.iter().any(|&t| t > back_at),
        "rollups after the step back: {starts:?}"
    );
    assert!(
        starts.iter().any(|&t| (ahead_from..back_at).contains(&t)),
        "rollups of the two years' readings, at their true times: {starts:?}"
    );
    assert!(
        starts.iter().all(|&t| t <= real_now_ns()),
        "no rollup window in 2028: {starts:?}"
    );
    // Shift reports go on after the step back, and none is for a shift in 2028.
    let oee = hub
        .wait_for_records("analytics/oee", Duration::from_secs(30), |r| {
            r.iter()
                .any(|x| x["ts_ns"].as_i64() > Some(back_at + 2 * S))
        })
        .await;
    let shifts: Vec<serde_json::Value> = oee
        .iter()
        .filter_map(|r| serde_json::from_str(r["payload"]["event"]["message"].as_str()?).ok())
        .collect();
    assert!(!shifts.is_empty(), "reports after the step back: {oee:?}");
    let now_ms = real_now_ns() / 1_000_000;
    for s in &shifts {
        assert!(
            s["start_ms"].as_i64().unwrap_or(i64::MAX) <= now_ms,
            "a shift in 2028: {s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hub_ten_minutes_behind_flags_nothing_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let hub_dir = w.join("hub-clock");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let Some(hub_clock) = FakeClock::new(&hub_dir) else {
        eprintln!(
            "SKIP a_hub_ten_minutes_behind: libfaketime is not installed (Debian package faketime)"
        );
        return;
    };
    hub_clock.set_offset_s(-600);
    let hub = Hub::start_on(w, &["box-1"], Some(&hub_clock));
    let mosquitto = Mosquitto::start(w).unwrap();
    let profile = hub.edge_profile(w, mosquitto.port, "");
    let log = w.join("edge.log");
    let t0 = real_now_ns();
    let _e = start_edge(&profile, &log, None);
    publish_numbers(mosquitto.port, 0..100).await;
    // The box's certificate, made on the true time, is valid on the hub's clock by the skew
    // budget's backdating; the readings, 10 minutes ahead of the hub, are inside its window.
    let records = hub
        .wait_for_records("mqtt/n", Duration::from_secs(60), |r| {
            readings(r).len() >= 100
        })
        .await;
    let got = readings(&records);
    assert_eq!(got.len(), 100, "every acknowledged message");
    for (id, r) in &got {
        assert!(r["clock"].is_null(), "{id}: nothing to flag: {r}");
    }
    let info = stream_info(&hub, "mqtt/n").await;
    assert_eq!(info["clock_suspect"], 0, "{info}");
    let last = info["last_ts_ns"].as_i64().unwrap_or(0);
    assert!((t0..=real_now_ns()).contains(&last), "{info}");
}
