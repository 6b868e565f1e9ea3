//! Tenant alarm rules at the hub: managed over the API by the tenant's gateway, evaluated on
//! every newly ingested reading, events stored in `hub/alarms` of the device.

mod support;

use std::time::Duration;

use foodflow_protocol::batch::Entry;
use foodflow_protocol::{
    Batch, DeviceId, Payload, PriorityClass, Quality, Reading, Segment, StreamId, Value,
};
use foodflow_transport::SyncClient;
use foodflow_transport::tls::TlsFiles;
use support::{Body, curl, hub};

fn batch(values: &[(u64, f64)]) -> Vec<u8> {
    Batch {
        segments: vec![Segment {
            device: DeviceId::new("line-1").unwrap(),
            stream: StreamId::new("plc").unwrap(),
            class: PriorityClass::Telemetry,
            entries: values
                .iter()
                .map(|&(seq, v)| {
                    let ts = 1_795_341_600_000_000_000 + seq as i64 * 100_000_000;
                    Entry {
                        seq,
                        ts_ns: ts,
                        payload: Payload::Reading(Reading {
                            tag: "oven".into(),
                            value: Value::Float(v),
                            quality: Quality::Good,
                            status_code: 0,
                            source_ts_ns: Some(ts),
                            origin_id: None,
                        }),
                        clock: None,
                    }
                })
                .collect(),
        }],
    }
    .encode(1)
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_rules_raise_alarms_on_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let p = pki.to_str().unwrap();
    hub(&["pki", "init", "--dir", p]);
    hub(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--gateway",
        "site",
        "--tenant",
        "acme",
    ]);
    hub(&[
        "pki", "issue", "--dir", p, "--device", "line-1", "--tenant", "acme",
    ]);
    let data = dir.path().join("data");
    let served = support::start(&data, p);
    let port = served.port;
    let base = format!("https://127.0.0.1:{port}");
    let rule_url = format!("{base}/v1/analytics/alarm-rules/oven-high");
    let rule = r#"{"name":"oven-high","series":"line-1/oven","condition":{"kind":"above","limit":200,"hysteresis":5},"level":"critical"}"#;

    assert_eq!(
        curl("PUT", &rule_url, &pki, "line-1", Body::Json(rule)).0,
        403,
        "devices do not manage rules"
    );
    let bad = rule.replace("line-1/oven", "oven");
    let (code, body) = curl("PUT", &rule_url, &pki, "site", Body::Json(&bad));
    assert_eq!(code, 400);
    assert!(body.contains("<device>/<tag>"), "{body}");
    assert_eq!(
        curl(
            "PUT",
            &format!("{base}/v1/analytics/alarm-rules/other"),
            &pki,
            "site",
            Body::Json(rule)
        )
        .0,
        400
    );
    assert_eq!(
        curl("PUT", &rule_url, &pki, "site", Body::Json(rule)).0,
        200
    );
    let (code, listed) = curl(
        "GET",
        &format!("{base}/v1/analytics/alarm-rules"),
        &pki,
        "site",
        Body::None,
    );
    assert_eq!(code, 200);
    assert!(listed.contains("oven-high"));

    let device = SyncClient::new(
        &base,
        &TlsFiles::in_dir(&pki, "line-1"),
        Duration::from_secs(10),
    )
    .unwrap();
    let readings: Vec<(u64, f64)> = (1..=30)
        .map(|i| (i, if (10..20).contains(&i) { 210.0 } else { 190.0 }))
        .collect();
    device.upload(batch(&readings)).await.unwrap();
    // The same upload again is all duplicates: no second round of alarms.
    let ack = device.upload(batch(&readings)).await.unwrap();
    assert_eq!(ack.duplicates, 30);
    let v = device
        .get_json("/v1/devices/line-1/streams/hub/alarms/records")
        .await
        .unwrap();
    let names: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["payload"]["event"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alarm.activated", "alarm.cleared"]);
    let msg = v["records"][0]["payload"]["event"]["message"]
        .as_str()
        .unwrap();
    assert!(
        msg.contains("oven-high") && msg.contains("above 200"),
        "{msg}"
    );

    assert_eq!(curl("DELETE", &rule_url, &pki, "site", Body::None).0, 204);
    assert_eq!(curl("DELETE", &rule_url, &pki, "site", Body::None).0, 404);
    // Without the rule, a new excursion raises nothing.
    let more: Vec<(u64, f64)> = (31..=40).map(|i| (i, 250.0)).collect();
    device.upload(batch(&more)).await.unwrap();
    let v = device
        .get_json("/v1/devices/line-1/streams/hub/alarms/records")
        .await
        .unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
}
