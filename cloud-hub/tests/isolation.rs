//! The isolation invariant as a property: two tenants share one store and each performs random
//! writes through every write method of `TenantStore`; every read method of each tenant then
//! answers with its own data only. Each tenant's data carries its name, so a leak is visible.

use foodflow_hub::audit::chain::Draft;
use foodflow_hub::store::{EmbeddedStore, RecordStore, SeqRange, TenantStore};
use foodflow_protocol::batch::Entry;
use foodflow_protocol::{DeviceId, Payload, PriorityClass, Segment, StreamId};
use foodflow_transport::TenantId;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Ingest { device: u8, stream: u8, n: u8 },
    Append { device: u8, stream: u8, n: u8 },
    Setting { key: u8 },
    DeleteSetting { key: u8 },
    Capture { n: u8 },
    AuditedSetting { key: u8 },
    Audit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3u8, 0..3u8, 1..4u8).prop_map(|(device, stream, n)| Op::Ingest { device, stream, n }),
        (0..3u8, 0..3u8, 1..3u8).prop_map(|(device, stream, n)| Op::Append { device, stream, n }),
        (0..4u8).prop_map(|key| Op::Setting { key }),
        (0..4u8).prop_map(|key| Op::DeleteSetting { key }),
        (1..3u8).prop_map(|n| Op::Capture { n }),
        (0..4u8).prop_map(|key| Op::AuditedSetting { key }),
        Just(Op::Audit),
    ]
}

fn mark(tenant: &str) -> Payload {
    Payload::Event(foodflow_protocol::Event {
        name: format!("owner-{tenant}"),
        severity: foodflow_protocol::Severity::Info,
        message: format!("owner-{tenant}"),
    })
}

fn draft(tenant: &str) -> Draft {
    Draft {
        actor: format!("owner-{tenant}"),
        action: "test".into(),
        object: format!("owner-{tenant}"),
        before: None,
        after: None,
        from: String::new(),
        signature: None,
    }
}

/// The same device and stream names in both tenants: only the tenant keeps them apart.
fn ids(device: u8, stream: u8) -> (DeviceId, StreamId) {
    (
        DeviceId::new(format!("dev-{device}")).unwrap(),
        StreamId::new(format!("s{stream}")).unwrap(),
    )
}

fn apply(view: &dyn TenantStore, tenant: &str, op: &Op) {
    let own = format!("owner-{tenant}");
    match *op {
        Op::Ingest { device, stream, n } => {
            let (d, s) = ids(device, stream);
            let start = view
                .marks(Some(&d))
                .unwrap()
                .into_iter()
                .find(|m| m.stream == s)
                .map_or(1, |m| m.seq + 1);
            let entries = (0..n as u64)
                .map(|i| Entry {
                    seq: start + i,
                    ts_ns: 1_000 + (start + i) as i64,
                    payload: mark(tenant),
                    clock: None,
                })
                .collect();
            view.ingest(&[Segment {
                device: d,
                stream: s,
                class: PriorityClass::Operational,
                entries,
            }])
            .unwrap();
        }
        Op::Append { device, stream, n } => {
            let (d, s) = ids(device, stream);
            let items: Vec<(i64, Payload)> =
                (0..n).map(|i| (2_000 + i as i64, mark(tenant))).collect();
            view.append(&d, &s, PriorityClass::Critical, &items)
                .unwrap();
        }
        Op::Setting { key } => view
            .put_setting(&format!("k{key}"), own.as_bytes())
            .unwrap(),
        Op::DeleteSetting { key } => {
            view.delete_setting(&format!("k{key}")).unwrap();
        }
        Op::Capture { n } => {
            let events: Vec<Vec<u8>> = (0..n).map(|_| own.clone().into_bytes()).collect();
            view.capture_epcis(&events, &mut |_| draft(tenant), 5)
                .unwrap();
        }
        Op::AuditedSetting { key } => {
            view.put_setting_audited(&format!("a{key}"), Some(own.as_bytes()), draft(tenant), 6)
                .unwrap();
        }
        Op::Audit => {
            view.audit_append(vec![draft(tenant)], 7).unwrap();
        }
    }
}

/// Everything `view` answers, as text.
fn everything(view: &dyn TenantStore) -> Vec<String> {
    let mut out = Vec::new();
    for d in view.devices().unwrap() {
        for info in view.streams(&d).unwrap() {
            let rs = view
                .records(
                    &d,
                    &info.stream,
                    SeqRange {
                        from: 1,
                        to: u64::MAX,
                        limit: 10_000,
                    },
                )
                .unwrap();
            out.extend(rs.iter().map(|r| format!("{:?}", r.payload)));
            let mut scanned = Vec::new();
            view.scan_time(&d, &info.stream, i64::MIN, i64::MAX, &mut |r| {
                scanned.push(format!("{:?}", r.payload))
            })
            .unwrap();
            assert_eq!(scanned.len(), rs.len(), "scan and records agree");
            out.extend(scanned);
        }
    }
    for (_, v) in view.settings("").unwrap() {
        out.push(String::from_utf8_lossy(&v).into_owned());
    }
    for (_, v) in view.epcis_raw(1, 10_000).unwrap() {
        out.push(String::from_utf8_lossy(&v).into_owned());
    }
    for (_, v) in view.audit_raw(1, 10_000).unwrap() {
        let e: serde_json::Value = serde_json::from_slice(&v).unwrap();
        out.push(e["actor"].as_str().unwrap_or_default().to_owned());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn nothing_of_one_tenant_reaches_another(ops in proptest::collection::vec((any::<bool>(), op()), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let (a, b) = (TenantId::new("alpha").unwrap(), TenantId::new("beta").unwrap());
        let mut wrote = [0usize; 2];
        for (to_a, op) in &ops {
            let (t, name, i) = if *to_a { (&a, "alpha", 0) } else { (&b, "beta", 1) };
            apply(store.tenant(t).as_ref(), name, op);
            wrote[i] += 1;
        }
        for (t, own, other, i) in [(&a, "owner-alpha", "owner-beta", 0), (&b, "owner-beta", "owner-alpha", 1)] {
            let seen = everything(store.tenant(t).as_ref());
            prop_assert!(seen.iter().all(|x| !x.contains(other)), "{own} sees {other}: {seen:?}");
            if wrote[i] == 0 {
                prop_assert!(seen.is_empty(), "a tenant that wrote nothing sees {seen:?}");
            }
        }
    }
}
