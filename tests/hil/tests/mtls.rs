//! Mutual TLS at the hub with the real binaries: who gets in, who is refused and how clearly,
//! dedup by (device, stream, seq), and tenant isolation.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use foodflow_hil::peers::{Proc, bin, free_port, wait_for_port};
use foodflow_protocol::batch::Entry;
use foodflow_protocol::{Batch, DeviceId, Payload, PriorityClass, Segment, StreamId};
use foodflow_transport::tls::TlsFiles;
use foodflow_transport::{SendError, SyncClient};

fn hub(args: &[&str]) {
    let out = Command::new(bin("foodflow-hub").unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "foodflow-hub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn batch(device: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<u8> {
    Batch {
        segments: vec![Segment {
            device: DeviceId::new(device).unwrap(),
            stream: StreamId::new("lots/trace").unwrap(),
            class: PriorityClass::Critical,
            entries: seqs
                .map(|seq| Entry {
                    seq,
                    ts_ns: seq as i64,
                    payload: Payload::Trace {
                        epcis: format!("{{\"eventID\":\"e{seq}\"}}"),
                    },
                    clock: None,
                })
                .collect(),
        }],
    }
    .encode(1)
}

fn client(url: &str, dir: &Path, name: &str) -> SyncClient {
    SyncClient::new(url, &TlsFiles::in_dir(dir, name), Duration::from_secs(10)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn hub_admits_only_valid_identities_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let p = pki.to_str().unwrap();
    hub(&["pki", "init", "--dir", p]);
    for (flag, id, tenant) in [
        ("--device", "line-1", "acme"),
        ("--device", "line-2", "acme"),
        ("--device", "line-9", "other"),
        ("--device", "to-revoke", "acme"),
    ] {
        hub(&["pki", "issue", "--dir", p, flag, id, "--tenant", tenant]);
    }
    hub(&[
        "pki",
        "issue",
        "--dir",
        p,
        "--device",
        "old",
        "--tenant",
        "acme",
        "--expired",
    ]);
    // A second CA: its certificates must be refused.
    let rogue = dir.path().join("rogue");
    let r = rogue.to_str().unwrap();
    hub(&["pki", "init", "--dir", r]);
    hub(&[
        "pki", "issue", "--dir", r, "--device", "line-1", "--tenant", "acme",
    ]);
    // The rogue device trusts our CA (it knows the hub), but its own cert is from its CA.
    std::fs::copy(pki.join("ca.pem"), rogue.join("ca.pem")).unwrap();

    let port = free_port();
    let log = dir.path().join("hub.log");
    let logf = std::fs::File::create(&log).unwrap();
    let _hub = Proc(
        Command::new(bin("foodflow-hub").unwrap())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin", &format!("127.0.0.1:{}", free_port())])
            .args([
                "--data-dir",
                dir.path().join("data").to_str().unwrap(),
                "--pki-dir",
                p,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::from(logf))
            .spawn()
            .unwrap(),
    );
    assert!(wait_for_port(port, Duration::from_secs(20)));
    let url = format!("https://127.0.0.1:{port}");

    // A valid device: committed, then the same upload again is all duplicates.
    let good = client(&url, &pki, "line-1");
    let ack = good.upload(batch("line-1", 1..=100)).await.unwrap();
    assert_eq!((ack.accepted, ack.duplicates), (100, 0));
    assert_eq!(ack.marks[0].seq, 100);
    let ack = good.upload(batch("line-1", 51..=150)).await.unwrap();
    assert_eq!((ack.accepted, ack.duplicates), (50, 50));
    assert_eq!(good.marks().await.unwrap()[0].seq, 150);
    let recs = good
        .get_json("/v1/devices/line-1/streams/lots/trace/records?from=140&limit=5")
        .await
        .unwrap();
    let seqs: Vec<u64> = recs["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![140, 141, 142, 143, 144]);
    assert_eq!(recs["next_from"], 145);

    // A device may not upload for another one.
    match good.upload(batch("line-2", 1..=1)).await {
        Err(SendError::Refused {
            status: 403,
            reason,
            ..
        }) => assert_eq!(reason, "forbidden"),
        other => panic!("expected 403, got {other:?}"),
    }
    // Garbage is refused with the decoder's reason, and nothing is stored.
    match good.upload(b"FFSB\x01\x01\0\0garbage".to_vec()).await {
        Err(SendError::Refused {
            status: 400,
            reason,
            message,
            ..
        }) => {
            assert_eq!(reason, "malformed");
            assert!(message.contains("batch"), "{message}");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    // Tenants are isolated: line-2 (same tenant) cannot read line-1's records either, and
    // line-9 of another tenant sees no devices at all.
    let other = client(&url, &pki, "line-9");
    assert_eq!(
        other.get_json("/v1/devices").await.unwrap(),
        serde_json::json!([])
    );
    assert!(matches!(
        other.get_json("/v1/devices/line-1/streams").await,
        Err(SendError::Refused { status: 404, .. })
    ));
    let ack = other.upload(batch("line-9", 1..=3)).await.unwrap();
    assert_eq!(ack.accepted, 3);
    assert_eq!(
        good.get_json("/v1/devices").await.unwrap(),
        serde_json::json!(["line-1"])
    );

    // Expired, wrong CA, revoked: refused in the handshake with a clear reason on both sides.
    let expired = client(&url, &pki, "old");
    let e = expired.upload(batch("old", 1..=1)).await.unwrap_err();
    assert!(matches!(e, SendError::Tls { .. }), "{e}");
    assert!(e.to_string().contains("expired"), "client error: {e}");

    let rogue_client = client(&url, &rogue, "line-1");
    let e = rogue_client
        .upload(batch("line-1", 151..=151))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("not issued by this deployment's CA"),
        "client error: {e}"
    );

    let revoked = client(&url, &pki, "to-revoke");
    revoked.upload(batch("to-revoke", 1..=1)).await.unwrap();
    hub(&["pki", "revoke", "--dir", p, "--id", "to-revoke"]);
    // New connections see the new CRL at once (no restart).
    let revoked = client(&url, &pki, "to-revoke");
    let e = revoked.upload(batch("to-revoke", 2..=2)).await.unwrap_err();
    assert!(e.to_string().contains("revoked"), "client error: {e}");

    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    for needle in [
        "the client certificate has expired",
        "not issued by this deployment's CA",
        "the client certificate is revoked",
        "may not upload records of device",
    ] {
        assert!(text.contains(needle), "hub log lacks {needle:?}:\n{text}");
    }
    // Nothing of the refused uploads reached the store.
    assert_eq!(good.marks().await.unwrap()[0].seq, 150);
}
