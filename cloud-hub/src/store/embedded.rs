//! The embedded default store on redb (no server needed): records keyed by
//! `(tenant, device, stream, seq)`, stream heads keyed by `(tenant, device, stream)`. Each ingest
//! is one durable transaction, so the high-water mark in an answer is never ahead of the disk.

use std::path::Path;
use std::sync::Arc;

use foodflow_protocol::{
    ClockNote, DeviceId, Payload, PriorityClass, Record, Segment, StreamId, StreamMark,
};
use foodflow_storekit::Reopenable;
use foodflow_transport::TenantId;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Committed, RecordStore, SeqRange, StoreError, StreamInfo, TenantStore};
use crate::audit::chain::{Draft, Entry};

type RecKey<'a> = (&'a str, &'a str, &'a str, u64);
const RECORDS: TableDefinition<RecKey, &[u8]> = TableDefinition::new("records");
type HeadKey<'a> = (&'a str, &'a str, &'a str);
/// High-water mark, record count, class, last ts.
type Head = (u64, u64, u8, i64);
/// (tenant, device, stream) → head of the stream
const HEADS: TableDefinition<HeadKey, Head> = TableDefinition::new("heads");
/// (tenant, device, stream) → records stored with a suspect time.
const SUSPECT: TableDefinition<HeadKey, u64> = TableDefinition::new("clock_suspect");
/// (tenant, key) → value
const SETTINGS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("settings");
/// (tenant, seq) → EPCIS event (FoodGraph JSON), in capture order.
const EPCIS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("epcis");
/// (tenant, seq) → audit entry (JSON), hash-chained per tenant.
const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audit");

pub struct EmbeddedStore {
    /// Reopened after an I/O failure: until then writes are refused and `/healthz` says why.
    db: Reopenable,
}

fn class_code(c: PriorityClass) -> u8 {
    match c {
        PriorityClass::Critical => 0,
        PriorityClass::Operational => 1,
        PriorityClass::Telemetry => 2,
    }
}

fn class_of(code: u8) -> PriorityClass {
    match code {
        0 => PriorityClass::Critical,
        1 => PriorityClass::Operational,
        _ => PriorityClass::Telemetry,
    }
}

/// The stored value: the record as sent, with its clock note where its time is in doubt.
fn encode(ts_ns: i64, payload: &Payload, clock: Option<&ClockNote>) -> Vec<u8> {
    foodflow_protocol::stored::encode(ts_ns, payload, clock)
}

fn wr<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Write(e.to_string())
}

fn rd<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Read(e.to_string())
}

/// Creates every table (in a fresh or a reopened file).
fn init(db: &Database) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    tx.open_table(RECORDS)?;
    tx.open_table(HEADS)?;
    tx.open_table(SUSPECT)?;
    tx.open_table(SETTINGS)?;
    tx.open_table(EPCIS)?;
    tx.open_table(AUDIT)?;
    tx.commit()?;
    Ok(())
}

/// A write error as the store reports it: an I/O failure (ENOSPC, EIO) is `Io` — the file
/// must be reopened before anything is written again — the rest `Write`.
fn wio(e: redb::Error) -> StoreError {
    match e {
        redb::Error::Io(io) => StoreError::Io(io.to_string()),
        redb::Error::PreviousIo => {
            StoreError::Io("an earlier I/O error left the file to be reopened".into())
        }
        other => StoreError::Write(other.to_string()),
    }
}

impl EmbeddedStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("hub.redb");
        let open = |why: String| StoreError::Open {
            path: path.display().to_string(),
            why,
        };
        let fs = |why: String| open(format!("{why}; check the directory and free disk space"));
        std::fs::create_dir_all(dir).map_err(|e| fs(e.to_string()))?;
        let db = Reopenable::open("hub store", &path, 64 << 20, init).map_err(|e| match e {
            // The commands that open the store offline (admin, audit, analytics) meet
            // this when a hub is serving from the same directory.
            redb::Error::DatabaseAlreadyOpen => open(
                "another process has it open (the store is single-process: stop the \
                 running hub first)"
                    .into(),
            ),
            e => fs(e.to_string()),
        })?;
        Ok(Self { db })
    }
}

impl RecordStore for EmbeddedStore {
    fn tenant(&self, tenant: &TenantId) -> Box<dyn TenantStore + '_> {
        Box::new(Tenant {
            db: self.db.get().ok(),
            store: self,
            tenant: tenant.clone(),
        })
    }

    fn health(&self) -> Result<(), String> {
        match self.db.fault() {
            Some(why) => Err(format!("store writes failing: {why}")),
            None => Ok(()),
        }
    }
}

struct Tenant<'a> {
    db: Option<Arc<Database>>,
    store: &'a EmbeddedStore,
    tenant: TenantId,
}

impl Tenant<'_> {
    fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_deref().ok_or_else(|| {
            StoreError::Io("the store file is being reopened after an I/O error".into())
        })
    }

    fn begin(&self) -> Result<redb::WriteTransaction, StoreError> {
        let db = self.db()?;
        let r = self.store.db.noted(db.begin_write()).and_then(|mut tx| {
            self.store
                .db
                .noted(tx.set_durability(Durability::Immediate))?;
            Ok(tx)
        });
        r.map_err(wio)
    }

    fn commit(&self, tx: redb::WriteTransaction) -> Result<(), StoreError> {
        self.store.db.noted(tx.commit()).map_err(wio)
    }
}

fn decode(device: &DeviceId, stream: &StreamId, seq: u64, v: &[u8]) -> Result<Record, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt {
        device: device.to_string(),
        stream: stream.to_string(),
        seq,
        why,
    };
    let (ts_ns, payload, clock) = foodflow_protocol::stored::decode(v).map_err(corrupt)?;
    Ok(Record {
        device: device.clone(),
        stream: stream.clone(),
        seq,
        ts_ns,
        payload,
        clock,
    })
}

impl TenantStore for Tenant<'_> {
    fn ingest(&self, segments: &[Segment]) -> Result<Committed, StoreError> {
        let tx = self.begin()?;
        let out = ingest_in(&tx, self.tenant.as_str(), segments)?;
        self.commit(tx)?;
        Ok(out)
    }

    fn ingest_regulated(
        &self,
        segments: &[Segment],
        events: &[Vec<u8>],
        audit: &mut dyn FnMut(u64) -> Draft,
        ts_ns: i64,
    ) -> Result<(Committed, Vec<Entry>), StoreError> {
        let t = self.tenant.as_str();
        let tx = self.begin()?;
        let out = ingest_in(&tx, t, segments)?;
        let entries = if events.is_empty() {
            Vec::new()
        } else {
            epcis_in(&tx, t, events, audit, ts_ns)?
        };
        self.commit(tx)?;
        Ok((out, entries))
    }

    fn marks(&self, device: Option<&DeviceId>) -> Result<Vec<StreamMark>, StoreError> {
        let t = self.tenant.as_str();
        let rx = self.db()?.begin_read().map_err(rd)?;
        let heads = rx.open_table(HEADS).map_err(rd)?;
        let mut out = Vec::new();
        let (lo, hi) = match device {
            Some(d) => ((t, d.as_str(), ""), (t, d.as_str(), "\u{10ffff}")),
            None => ((t, "", ""), (t, "\u{10ffff}", "")),
        };
        for kv in heads.range(lo..hi).map_err(rd)? {
            let (k, v) = kv.map_err(rd)?;
            let (_, d, s) = k.value();
            let (Ok(device), Ok(stream)) = (DeviceId::new(d), StreamId::new(s)) else {
                continue;
            };
            out.push(StreamMark {
                device,
                stream,
                seq: v.value().0,
            });
        }
        Ok(out)
    }

    fn devices(&self) -> Result<Vec<DeviceId>, StoreError> {
        let mut out: Vec<DeviceId> = self.marks(None)?.into_iter().map(|m| m.device).collect();
        out.dedup();
        Ok(out)
    }

    fn streams(&self, device: &DeviceId) -> Result<Vec<StreamInfo>, StoreError> {
        let t = self.tenant.as_str();
        let rx = self.db()?.begin_read().map_err(rd)?;
        let heads = rx.open_table(HEADS).map_err(rd)?;
        let suspect = rx.open_table(SUSPECT).map_err(rd)?;
        let mut out = Vec::new();
        let lo = (t, device.as_str(), "");
        let hi = (t, device.as_str(), "\u{10ffff}");
        for kv in heads.range(lo..hi).map_err(rd)? {
            let (k, v) = kv.map_err(rd)?;
            let (_, _, s) = k.value();
            let Ok(stream) = StreamId::new(s) else {
                continue;
            };
            let (hwm, records, class, last_ts_ns) = v.value();
            let clock_suspect = suspect.get(k.value()).map_err(rd)?.map_or(0, |v| v.value());
            out.push(StreamInfo {
                stream,
                class: class_of(class),
                high_water_mark: hwm,
                records,
                last_ts_ns: (last_ts_ns != i64::MIN).then_some(last_ts_ns),
                clock_suspect,
            });
        }
        Ok(out)
    }

    fn records(
        &self,
        device: &DeviceId,
        stream: &StreamId,
        range: SeqRange,
    ) -> Result<Vec<Record>, StoreError> {
        let t = self.tenant.as_str();
        let rx = self.db()?.begin_read().map_err(rd)?;
        let table = rx.open_table(RECORDS).map_err(rd)?;
        let lo = (t, device.as_str(), stream.as_str(), range.from);
        let hi = (t, device.as_str(), stream.as_str(), range.to);
        let mut out = Vec::new();
        for kv in table.range(lo..=hi).map_err(rd)?.take(range.limit) {
            let (k, v) = kv.map_err(rd)?;
            out.push(decode(device, stream, k.value().3, v.value())?);
        }
        Ok(out)
    }

    fn append(
        &self,
        device: &DeviceId,
        stream: &StreamId,
        class: PriorityClass,
        items: &[(i64, Payload)],
    ) -> Result<u64, StoreError> {
        let t = self.tenant.as_str();
        let key = (t, device.as_str(), stream.as_str());
        let tx = self.begin()?;
        let first;
        {
            let mut records = tx.open_table(RECORDS).map_err(wr)?;
            let mut heads = tx.open_table(HEADS).map_err(wr)?;
            let (mut hwm, mut count, code, mut last_ts) = heads
                .get(key)
                .map_err(wr)?
                .map(|v| v.value())
                .unwrap_or((0, 0, class_code(class), i64::MIN));
            first = hwm + 1;
            for (ts, payload) in items {
                hwm += 1;
                count += 1;
                last_ts = last_ts.max(*ts);
                let v = encode(*ts, payload, None);
                records
                    .insert((t, device.as_str(), stream.as_str(), hwm), v.as_slice())
                    .map_err(wr)?;
            }
            heads.insert(key, (hwm, count, code, last_ts)).map_err(wr)?;
        }
        self.commit(tx)?;
        Ok(first)
    }

    fn put_setting(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let tx = self.begin()?;
        tx.open_table(SETTINGS)
            .map_err(wr)?
            .insert((self.tenant.as_str(), key), value)
            .map_err(wr)?;
        self.commit(tx)
    }

    fn capture_epcis(
        &self,
        events: &[Vec<u8>],
        audit: &mut dyn FnMut(u64) -> Draft,
        ts_ns: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let t = self.tenant.as_str();
        let tx = self.begin()?;
        let entries = epcis_in(&tx, t, events, audit, ts_ns)?;
        self.commit(tx)?;
        Ok(entries)
    }

    fn put_setting_audited(
        &self,
        key: &str,
        value: Option<&[u8]>,
        draft: Draft,
        ts_ns: i64,
    ) -> Result<Entry, StoreError> {
        let t = self.tenant.as_str();
        let tx = self.begin()?;
        {
            let mut table = tx.open_table(SETTINGS).map_err(wr)?;
            match value {
                Some(v) => {
                    table.insert((t, key), v).map_err(wr)?;
                }
                None => {
                    table.remove((t, key)).map_err(wr)?;
                }
            }
        }
        let mut entries = chain_into(&tx, t, vec![draft], ts_ns)?;
        self.commit(tx)?;
        entries
            .pop()
            .ok_or_else(|| StoreError::Write("internal: no audit entry written".into()))
    }

    fn audit_append(&self, drafts: Vec<Draft>, ts_ns: i64) -> Result<Vec<Entry>, StoreError> {
        let tx = self.begin()?;
        let entries = chain_into(&tx, self.tenant.as_str(), drafts, ts_ns)?;
        self.commit(tx)?;
        Ok(entries)
    }

    fn epcis_raw(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        raw_range(self.db()?, EPCIS, self.tenant.as_str(), from, limit)
    }

    fn audit_raw(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        raw_range(self.db()?, AUDIT, self.tenant.as_str(), from, limit)
    }

    fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        let tx = self.begin()?;
        let existed = tx
            .open_table(SETTINGS)
            .map_err(wr)?
            .remove((self.tenant.as_str(), key))
            .map_err(wr)?
            .is_some();
        self.commit(tx)?;
        Ok(existed)
    }

    fn settings(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let t = self.tenant.as_str();
        let rx = self.db()?.begin_read().map_err(rd)?;
        let table = rx.open_table(SETTINGS).map_err(rd)?;
        let mut out = Vec::new();
        for kv in table.range((t, prefix)..(t, "\u{10ffff}")).map_err(rd)? {
            let (k, v) = kv.map_err(rd)?;
            let key = k.value().1;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn scan_time(
        &self,
        device: &DeviceId,
        stream: &StreamId,
        from_ns: i64,
        to_ns: i64,
        f: &mut dyn FnMut(&Record),
    ) -> Result<u64, StoreError> {
        let t = self.tenant.as_str();
        let rx = self.db()?.begin_read().map_err(rd)?;
        let table = rx.open_table(RECORDS).map_err(rd)?;
        let lo = (t, device.as_str(), stream.as_str(), 0u64);
        let hi = (t, device.as_str(), stream.as_str(), u64::MAX);
        let mut doubtful = 0;
        for kv in table.range(lo..=hi).map_err(rd)? {
            let (k, v) = kv.map_err(rd)?;
            // Every record is decoded: the time to filter by may be the source's, inside the
            // payload.
            let r = decode(device, stream, k.value().3, v.value())?;
            match r.observed_time() {
                Some(t) if (from_ns..to_ns).contains(&t) => f(&r),
                Some(_) => {}
                None => doubtful += 1,
            }
        }
        Ok(doubtful)
    }
}

type SeqTable = TableDefinition<'static, (&'static str, u64), &'static [u8]>;

fn last_seq<T: ReadableTable<(&'static str, u64), &'static [u8]>>(
    table: &T,
    tenant: &str,
) -> Result<u64, StoreError> {
    Ok(table
        .range((tenant, 0)..=(tenant, u64::MAX))
        .map_err(rd)?
        .next_back()
        .transpose()
        .map_err(rd)?
        .map(|(k, _)| k.value().1)
        .unwrap_or(0))
}

/// The records of `segments` above their streams' marks, inserted in `tx`.
fn ingest_in(
    tx: &redb::WriteTransaction,
    t: &str,
    segments: &[Segment],
) -> Result<Committed, StoreError> {
    let mut out = Committed::default();
    let mut marks = std::collections::BTreeMap::new();
    {
        let mut records = tx.open_table(RECORDS).map_err(wr)?;
        let mut heads = tx.open_table(HEADS).map_err(wr)?;
        let mut suspect = tx.open_table(SUSPECT).map_err(wr)?;
        for seg in segments {
            let key = (t, seg.device.as_str(), seg.stream.as_str());
            let (mut hwm, mut count, mut class, mut last_ts) = heads
                .get(key)
                .map_err(wr)?
                .map(|v| v.value())
                .unwrap_or((0, 0, class_code(seg.class), i64::MIN));
            let before = hwm;
            foodflow_protocol::seq::check_jumps(seg, hwm)?;
            out.before.push(before);
            let mut suspects = 0u64;
            for e in &seg.entries {
                if e.seq <= hwm {
                    out.duplicates += 1;
                    continue;
                }
                let v = encode(e.ts_ns, &e.payload, e.clock.as_ref());
                records
                    .insert(
                        (t, seg.device.as_str(), seg.stream.as_str(), e.seq),
                        v.as_slice(),
                    )
                    .map_err(wr)?;
                hwm = e.seq;
                count += 1;
                // A suspect time never moves the stream's last time: a clock years ahead
                // would hide for years that the device went quiet.
                if let Some(ts) = ClockNote::time_to_believe(e.clock, e.ts_ns) {
                    last_ts = last_ts.max(ts);
                }
                suspects += u64::from(e.clock.is_some_and(|c| c.suspect()));
                out.accepted += 1;
            }
            class = class.min(class_code(seg.class));
            // A segment with nothing new leaves no trace: an empty segment of an unknown
            // stream must not create a head (a stream without records).
            if hwm != before {
                heads
                    .insert(key, (hwm, count, class, last_ts))
                    .map_err(wr)?;
                if suspects > 0 {
                    let held = suspect.get(key).map_err(wr)?.map_or(0, |v| v.value());
                    suspect
                        .insert(key, held.saturating_add(suspects))
                        .map_err(wr)?;
                }
            }
            marks.insert((seg.device.clone(), seg.stream.clone()), hwm);
        }
    }
    out.marks = marks
        .into_iter()
        .map(|((device, stream), seq)| StreamMark {
            device,
            stream,
            seq,
        })
        .collect();
    Ok(out)
}

/// EPCIS events appended in `tx`, one audit entry each (`audit` gets the event's seq).
fn epcis_in(
    tx: &redb::WriteTransaction,
    t: &str,
    events: &[Vec<u8>],
    audit: &mut dyn FnMut(u64) -> Draft,
    ts_ns: i64,
) -> Result<Vec<Entry>, StoreError> {
    let mut drafts = Vec::with_capacity(events.len());
    {
        let mut table = tx.open_table(EPCIS).map_err(wr)?;
        let mut seq = last_seq(&table, t)?;
        for e in events {
            seq += 1;
            table.insert((t, seq), e.as_slice()).map_err(wr)?;
            drafts.push(audit(seq));
        }
    }
    chain_into(tx, t, drafts, ts_ns)
}

/// Appends drafts to the tenant's audit chain inside `tx`: the chain head is read in the same
/// transaction, so concurrent writers cannot fork it.
fn chain_into(
    tx: &redb::WriteTransaction,
    tenant: &str,
    drafts: Vec<Draft>,
    ts_ns: i64,
) -> Result<Vec<Entry>, StoreError> {
    let mut table = tx.open_table(AUDIT).map_err(wr)?;
    let mut head: Option<(u64, String)> = {
        let last = table
            .range((tenant, 0)..=(tenant, u64::MAX))
            .map_err(rd)?
            .next_back()
            .transpose()
            .map_err(rd)?
            .map(|(k, v)| (k.value().1, v.value().to_vec()));
        match last {
            None => None,
            Some((seq, bytes)) => {
                let e: Entry = serde_json::from_slice(&bytes).map_err(|e| {
                    StoreError::Write(format!(
                        "the last audit entry ({seq}) of tenant {tenant} is unreadable ({e}); \
                         run `foodflow-hub audit verify` — nothing is appended to a broken chain"
                    ))
                })?;
                Some((seq, e.hash))
            }
        }
    };
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let e = crate::audit::chain::chain(head.as_ref().map(|(s, h)| (*s, h.as_str())), ts_ns, d);
        let bytes = serde_json::to_vec(&e).map_err(wr)?;
        table
            .insert((tenant, e.seq), bytes.as_slice())
            .map_err(wr)?;
        head = Some((e.seq, e.hash.clone()));
        out.push(e);
    }
    Ok(out)
}

fn raw_range(
    db: &Database,
    def: SeqTable,
    tenant: &str,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let rx = db.begin_read().map_err(rd)?;
    let table = rx.open_table(def).map_err(rd)?;
    let mut out = Vec::new();
    for kv in table
        .range((tenant, from)..=(tenant, u64::MAX))
        .map_err(rd)?
    {
        if out.len() >= limit {
            break;
        }
        let (k, v) = kv.map_err(rd)?;
        out.push((k.value().1, v.value().to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use foodflow_protocol::batch::Entry;

    fn seg(device: &str, seqs: &[u64]) -> Segment {
        Segment {
            device: DeviceId::new(device).unwrap(),
            stream: StreamId::new("s/1").unwrap(),
            class: PriorityClass::Telemetry,
            entries: seqs
                .iter()
                .map(|&seq| Entry {
                    seq,
                    ts_ns: seq as i64 * 10,
                    payload: Payload::Trace {
                        epcis: format!("e{seq}"),
                    },
                    clock: None,
                })
                .collect(),
        }
    }

    #[test]
    fn dedups_by_high_water_mark_and_isolates_tenants() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let acme = TenantId::new("acme").unwrap();
        let other = TenantId::new("other").unwrap();
        let a = store.tenant(&acme);
        let c = a.ingest(&[seg("d1", &[1, 2, 3])]).unwrap();
        assert_eq!((c.accepted, c.duplicates), (3, 0));
        assert_eq!(c.marks[0].seq, 3);
        let c = a.ingest(&[seg("d1", &[2, 3, 4, 6])]).unwrap();
        assert_eq!((c.accepted, c.duplicates), (2, 2));
        assert_eq!(c.marks[0].seq, 6);
        let d1 = DeviceId::new("d1").unwrap();
        let s = StreamId::new("s/1").unwrap();
        let all = a
            .records(
                &d1,
                &s,
                SeqRange {
                    from: 0,
                    to: u64::MAX,
                    limit: 100,
                },
            )
            .unwrap();
        assert_eq!(
            all.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 6]
        );
        let streams = a.streams(&d1).unwrap();
        assert_eq!(streams[0].records, 5);
        assert_eq!(streams[0].high_water_mark, 6);
        // Another tenant sees nothing of acme's, even with the same device and stream ids.
        let o = store.tenant(&other);
        assert!(o.marks(None).unwrap().is_empty());
        assert!(
            o.records(
                &d1,
                &s,
                SeqRange {
                    from: 0,
                    to: u64::MAX,
                    limit: 100
                }
            )
            .unwrap()
            .is_empty()
        );
        o.ingest(&[seg("d1", &[1])]).unwrap();
        assert_eq!(
            a.marks(None).unwrap()[0].seq,
            6,
            "tenants do not share marks"
        );
        let mut n = 0;
        a.scan_time(&d1, &s, 20, 41, &mut |_| n += 1).unwrap();
        assert_eq!(n, 3, "ts 20, 30, 40");
    }

    #[test]
    fn suspect_times_are_kept_flagged_never_move_last_ts_and_charts_use_one_time() {
        use foodflow_protocol::{Quality, Reading, Value};
        const S: i64 = 1_000_000_000;
        let now = 1_796_000_000 * S;
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let t = TenantId::new("acme").unwrap();
        let view = store.tenant(&t);
        let reading = |seq: u64, ts_ns: i64, source: Option<i64>, clock: Option<ClockNote>| Entry {
            clock,
            ..Entry::new(
                seq,
                ts_ns,
                Payload::Reading(Reading {
                    tag: "t".into(),
                    value: Value::Float(seq as f64),
                    quality: Quality::Good,
                    status_code: 0,
                    source_ts_ns: source,
                    origin_id: None,
                }),
            )
        };
        let two_years = 2 * 365 * 86_400 * S;
        let flagged = |corrected| ClockNote {
            untrusted: true,
            corrected_ts_ns: corrected,
            received_ts_ns: Some(now),
            outside_window: false,
        };
        let mut segment = seg("d1", &[]);
        segment.entries = vec![
            reading(1, now - 10 * S, None, None),
            // Two years ahead, re-based by the edge.
            reading(
                2,
                now - 5 * S + two_years,
                None,
                Some(flagged(Some(now - 5 * S))),
            ),
            // Two years ahead, caught by the hub's window only.
            reading(
                3,
                now + two_years,
                None,
                Some(ClockNote {
                    outside_window: true,
                    received_ts_ns: Some(now),
                    ..ClockNote::default()
                }),
            ),
            // The edge's time is in doubt, the source's own is not.
            reading(4, 86_400 * S, Some(now - 2 * S), Some(flagged(None))),
            // Edge time 1 s ago, source time an hour ago: one time for filter and bucket.
            reading(5, now - S, Some(now - 3600 * S), None),
        ];
        view.ingest(&[segment]).unwrap();
        let d1 = DeviceId::new("d1").unwrap();
        let s = StreamId::new("s/1").unwrap();
        let info = &view.streams(&d1).unwrap()[0];
        assert_eq!(info.last_ts_ns, Some(now - S), "no suspect time moves it");
        assert_eq!(info.clock_suspect, 3);
        let all = view
            .records(
                &d1,
                &s,
                SeqRange {
                    from: 0,
                    to: u64::MAX,
                    limit: 10,
                },
            )
            .unwrap();
        assert_eq!(all[2].clock.unwrap().received_ts_ns, Some(now), "kept");
        assert_eq!(all[2].ts_ns, now + two_years, "the claim kept as sent");
        let mut seen = Vec::new();
        let doubtful = view
            .scan_time(&d1, &s, now - 60 * S, now, &mut |r| seen.push(r.seq))
            .unwrap();
        assert_eq!(
            seen,
            vec![1, 2, 4],
            "by the time to believe: corrected or the source's"
        );
        assert_eq!(doubtful, 1, "the one with no time to believe");
        let mut seen = Vec::new();
        view.scan_time(&d1, &s, now - 7200 * S, now - 1800 * S, &mut |r| {
            seen.push(r.seq)
        })
        .unwrap();
        assert_eq!(seen, vec![5], "filtered by the time the chart buckets by");
    }
}
