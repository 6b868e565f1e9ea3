//! FoodGraph and the audit trail through the real hub over mutual TLS: EPCIS capture (valid,
//! invalid, repeated), trace, recall, risk, mass balance and FSMA export on a plant with known
//! answers; Trace records arriving through sync; every endpoint tried from another tenant and
//! from a device; audit inclusion proofs; tampering with the stored bytes detected offline.

mod support;

use std::path::Path;

use foodflow_hub::audit::chain;
use foodflow_protocol::batch::Entry;
use foodflow_protocol::{Batch, DeviceId, Payload, PriorityClass, Segment, StreamId};
use support::{Body, curl, hub};

const PLANT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/foodgraph/tests/data/pasta-plant.json"
);
const E1: &str = "urn:epc:class:lgtin:0614141.000200.E1";
const B1: &str = "urn:epc:class:lgtin:0614141.000300.B1";
const C1: &str = "urn:epc:id:pgln:0614141.00901";

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn enc(s: &str) -> String {
    s.replace(':', "%3A")
}

/// Replaces every occurrence of `from` by `to` (same length) in the file: a tamperer with
/// write access to the disk.
fn flip(file: &Path, from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(file).unwrap();
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    std::fs::write(file, bytes).unwrap();
    n
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn foodgraph_over_the_hub_api() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let data = dir.path().join("data");
    let (p, d) = (pki.to_str().unwrap(), data.to_str().unwrap());
    hub(&["pki", "init", "--dir", p]);
    for (kind, id, tenant) in [
        ("--gateway", "gw", "acme"),
        ("--gateway", "gw-b", "globex"),
        ("--device", "line-1", "acme"),
    ] {
        hub(&["pki", "issue", "--dir", p, kind, id, "--tenant", tenant]);
    }
    assert!(
        support::admin_create(d, "acme", "ada", "correct horse battery staple")
            .status
            .success()
    );
    let server = support::start(d, p);
    let (port, public) = (server.port, server.public);
    let base = format!("https://127.0.0.1:{port}");
    let open = format!("https://127.0.0.1:{public}");
    let call = |method: &str, path: &str, who: &str, body: Body<'_>| {
        curl(method, &format!("{base}{path}"), &pki, who, body)
    };

    // Capture, then the same document again: idempotent.
    let (code, body) = call(
        "POST",
        "/v1/epcis/capture",
        "gw",
        Body::File(Path::new(PLANT)),
    );
    assert_eq!(code, 200, "{body}");
    let c = json(&body);
    assert_eq!(
        (c["captured"].as_u64(), c["duplicates"].as_u64()),
        (Some(11), Some(0))
    );
    let (code, body) = call(
        "POST",
        "/v1/epcis/capture",
        "gw",
        Body::File(Path::new(PLANT)),
    );
    assert_eq!(code, 200);
    assert_eq!(json(&body)["duplicates"], 11);

    // An invalid document: 400 naming the event and the field; nothing stored.
    let bad = r#"{"type":"EPCISDocument","epcisBody":{"eventList":[
        {"type":"ObjectEvent","action":"ADD","eventTime":"2026-11-21T08:00:00Z","eventTimeZoneOffset":"+00:00",
         "epcList":["urn:epc:id:sgtin:0614141.000300.1"]},
        {"type":"ObjectEvent","action":"ADD","eventTime":"2026-11-21T08:00:00Z","eventTimeZoneOffset":"+00:00",
         "quantityList":[{"epcClass":"urn:epc:class:lgtin:0614141.000300.B9","quantity":"many"}]}]}}"#;
    let (code, body) = call("POST", "/v1/epcis/capture", "gw", Body::Json(bad));
    assert_eq!(code, 400, "{body}");
    let b = json(&body);
    assert_eq!(b["reason"], "epcis_invalid");
    assert_eq!(b["errors"][0]["event"], 1);
    assert_eq!(b["errors"][0]["field"], "quantityList[0].quantity");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("nothing of this capture was stored")
    );

    // Trace, recall, risk, balance, export — known answers of the hand-built plant.
    let (code, body) = call(
        "GET",
        &format!("/v1/trace/forward?id={}", enc(E1)),
        "gw",
        Body::None,
    );
    assert_eq!(code, 200, "{body}");
    let t = json(&body);
    assert_eq!(t["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(
        t["parties"],
        serde_json::json!([C1, "urn:epc:id:pgln:0614141.00902"])
    );
    let (code, body) = call(
        "GET",
        &format!("/v1/trace/backward?id={}&depth=1", enc(B1)),
        "gw",
        Body::None,
    );
    assert_eq!(code, 200);
    assert_eq!(
        json(&body)["parties"],
        serde_json::json!([
            "urn:epc:id:pgln:0614141.00001",
            "urn:epc:id:pgln:0614141.00002"
        ])
    );
    let (code, body) = call("GET", "/v1/trace/sideways?id=x", "gw", Body::None);
    assert_eq!(code, 404, "{body}");
    let (code, body) = call(
        "GET",
        "/v1/trace/forward?id=urn%3Aepc%3Aid%3Asscc%3A1.2&from=tomorrow",
        "gw",
        Body::None,
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = call(
        "POST",
        "/v1/recall",
        "gw",
        Body::Json(&format!(r#"{{"lots":["{E1}"]}}"#)),
    );
    assert_eq!(code, 200, "{body}");
    let r = json(&body);
    assert_eq!(r["in_plant"], serde_json::json!([E1]));
    let (code, body) = call(
        "POST",
        "/v1/recall",
        "gw",
        Body::Json(r#"{"supplier":"urn:epc:id:pgln:0614141.00002"}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["starts"], serde_json::json!([E1]));
    let risk =
        format!(r#"{{"id":"{B1}","supplier_risk":{{"urn:epc:id:pgln:0614141.00001":0.5}}}}"#);
    let (code, body) = call("POST", "/v1/risk", "gw", Body::Json(&risk));
    assert_eq!(code, 200, "{body}");
    assert!((json(&body)["score"].as_f64().unwrap() - 0.4).abs() < 1e-12);
    let (code, body) = call(
        "POST",
        "/v1/risk",
        "gw",
        Body::Json(&format!(r#"{{"id":"{B1}","supplier_risk":{{"x:y":2}}}}"#)),
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = call("GET", "/v1/mass-balance?only_bad=true", "gw", Body::None);
    assert_eq!(code, 200);
    assert_eq!(json(&body).as_array().unwrap().len(), 1);
    let (code, csv) = call("GET", "/v1/fsma204/export?tlc=B1", "gw", Body::None);
    assert_eq!(code, 200, "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with(B1));

    // A lot event from a plant box granted its line's location, through sync: indexed and
    // audited like a capture. An invalid one is stored as received and not indexed.
    let ada = support::login(&open, &pki, "acme", "ada", "correct horse battery staple");
    let here = "urn:epc:id:sgln:0614141.00777.0";
    let (code, body) = support::curl_bearer(
        "PUT",
        &format!("{open}/v1/trace/sources/line-1"),
        &pki,
        Some(&ada),
        Body::Json(&format!(r#"{{"locations":["{here}"]}}"#)),
    );
    assert_eq!(code, 200, "{body}");
    let new_lot = "urn:epc:class:lgtin:0614141.000300.B7";
    let doc = format!(
        r#"{{"type":"ObjectEvent","action":"ADD","bizStep":"commissioning","eventTime":"2026-11-21T09:00:00Z","eventTimeZoneOffset":"+00:00","readPoint":{{"id":"{here}"}},"quantityList":[{{"epcClass":"{new_lot}","quantity":50,"uom":"KGM"}}]}}"#
    );
    let batch = Batch {
        segments: vec![Segment {
            device: DeviceId::new("line-1").unwrap(),
            stream: StreamId::new("trace/lots").unwrap(),
            class: PriorityClass::Critical,
            entries: vec![
                Entry {
                    seq: 1,
                    ts_ns: 1,
                    payload: Payload::Trace { epcis: doc },
                    clock: None,
                },
                Entry {
                    seq: 2,
                    ts_ns: 2,
                    payload: Payload::Trace {
                        epcis: "{\"type\":\"Nope\"}".into(),
                    },
                    clock: None,
                },
            ],
        }],
    };
    let client = foodflow_transport::SyncClient::new(
        &base,
        &foodflow_transport::tls::TlsFiles::in_dir(&pki, "line-1"),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(client.upload(batch.encode(1)).await.unwrap().accepted, 2);
    let (code, body) = call(
        "GET",
        &format!("/v1/trace/forward?id={}", enc(new_lot)),
        "gw",
        Body::None,
    );
    assert_eq!(code, 200, "{body}");

    // Another tenant's gateway and the tenant's own device: nothing of acme's FoodGraph.
    let probes: Vec<(&str, String, Body<'_>)> = vec![
        (
            "GET",
            format!("/v1/trace/forward?id={}", enc(E1)),
            Body::None,
        ),
        (
            "GET",
            format!("/v1/trace/backward?id={}", enc(B1)),
            Body::None,
        ),
        (
            "POST",
            "/v1/recall".into(),
            Body::Json(r#"{"lots":["urn:epc:class:lgtin:0614141.000200.E1"]}"#),
        ),
        (
            "POST",
            "/v1/risk".into(),
            Body::Json(r#"{"id":"urn:epc:class:lgtin:0614141.000300.B1","supplier_risk":{}}"#),
        ),
        ("GET", "/v1/mass-balance".into(), Body::None),
        ("GET", "/v1/fsma204/export?format=json".into(), Body::None),
        ("GET", "/v1/audit/verify".into(), Body::None),
        ("GET", "/v1/audit/entries".into(), Body::None),
        ("GET", "/v1/audit/proof/1".into(), Body::None),
        (
            "POST",
            "/v1/epcis/capture".into(),
            Body::File(Path::new(PLANT)),
        ),
    ];
    for (method, path, body) in probes {
        let Body::None = body else {
            let (code, text) = call(method, &path, "line-1", body);
            assert_eq!(code, 403, "device on {method} {path}: {text}");
            if path == "/v1/epcis/capture" {
                continue;
            }
            let (code, text) = call(method, &path, "gw-b", body);
            assert_eq!(code, 404, "other tenant on {method} {path}: {text}");
            for secret in ["00901", "00902", "Egg pasta", "000300.B2", "000100.F1"] {
                assert!(!text.contains(secret), "leak of {secret}: {text}");
            }
            continue;
        };
        let (code, text) = call(method, &path, "line-1", Body::None);
        assert_eq!(code, 403, "device on {method} {path}: {text}");
        let (code, text) = call(method, &path, "gw-b", Body::None);
        assert!(
            code == 404 || code == 200,
            "other tenant on {method} {path}: {code} {text}"
        );
        // What acme's graph and trail hold that the probe itself does not say.
        for secret in [
            "00901",
            "00902",
            "Egg pasta",
            "000300.B2",
            "000100.F1",
            "epcis.capture",
        ] {
            assert!(
                !text.contains(secret),
                "other tenant on {method} {path} sees {secret}: {text}"
            );
        }
    }

    // The trail: 12 captures (11 + 1 through sync), the user ada and line-1's trace grant,
    // verifiable, with inclusion proofs.
    let (code, body) = call("GET", "/v1/audit/verify", "gw", Body::None);
    assert_eq!(code, 200);
    let v = json(&body);
    assert_eq!(
        (
            v["ok"].as_bool(),
            v["entries"].as_u64(),
            v["epcis_events"].as_u64()
        ),
        (Some(true), Some(14), Some(12))
    );
    let root = v["root"].as_str().unwrap().to_owned();
    let (_, body) = call("GET", "/v1/audit/proof/5", "gw", Body::None);
    let proof = json(&body);
    let path: Vec<String> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    assert!(chain::verify_inclusion(
        proof["entry_hash"].as_str().unwrap(),
        4,
        14,
        &path,
        &root
    ));
    let (_, body) = call("GET", "/v1/audit/entries?from=14", "gw", Body::None);
    let last = json(&body);
    assert!(
        last[0]["actor"]
            .as_str()
            .unwrap()
            .contains("(device line-1)"),
        "{last}"
    );
    let (_, body) = call("GET", "/v1/audit/entries?from=7&limit=1", "gw", Body::None);
    let seventh = json(&body)[0]["object"].as_str().unwrap().to_owned();
    let seventh = seventh
        .trim_start_matches("ni:///sha-256;")
        .trim_end_matches("?ver=foodflow-1")
        .to_owned();
    drop(server);

    // Offline verification of the untouched store passes …
    hub(&["audit", "verify", "--data-dir", d, "--tenant", "acme"]);
    // … an EPCIS event altered on disk is named …
    let altered = dir.path().join("altered-event");
    copy_dir(&data, &altered);
    assert!(flip(&altered.join("hub.redb"), b"Egg pasta", b"Egg pastA") > 0);
    let o = std::process::Command::new(support::HUB)
        .args([
            "audit",
            "verify",
            "--tenant",
            "acme",
            "--data-dir",
            altered.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["first_bad_record"]["seq"], 4, "{rep}");
    assert!(
        rep["first_bad_record"]["reason"]
            .as_str()
            .unwrap()
            .contains("altered"),
        "{rep}"
    );
    // … and so is an altered audit entry.
    let entries = dir.path().join("altered-entry");
    copy_dir(&data, &entries);
    assert!(
        flip(
            &entries.join("hub.redb"),
            seventh.as_bytes(),
            seventh.to_uppercase().as_bytes()
        ) > 0
    );
    let o = std::process::Command::new(support::HUB)
        .args([
            "audit",
            "verify",
            "--tenant",
            "acme",
            "--data-dir",
            entries.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["first_bad_entry"]["seq"], 7, "{rep}");
}
