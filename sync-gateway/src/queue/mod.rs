//! The gateway's durable queue (redb): records of every edge stream keyed by
//! `(device, stream, seq)`, with a head per stream that holds what was received (`in_hwm`, the
//! mark answered to the edge) and what the hub confirmed (`out_hwm`). An upload is committed
//! with fsync before the edge gets its answer; confirmed records are deleted lazily (losing a
//! deletion in a crash only means a resend the hub recognises as duplicate).
//!
//! Quotas per priority class: critical and operational records are never dropped — a full
//! class answers back-pressure and the edge keeps them in its journal; telemetry is shed by
//! [`shed::plan`] and every drop becomes a `Gap` record in the gateway's own stream.

pub mod shed;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use foodflow_protocol::batch::Entry;
use foodflow_protocol::{
    Batch, DeviceId, Gap, Payload, PriorityClass, Segment, StreamId, StreamMark,
};
use foodflow_storekit::{Reopenable, is_io};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;

type Key<'a> = (&'a str, &'a str, u64);
const QUEUE: TableDefinition<Key, &[u8]> = TableDefinition::new("queue");
/// Class, in_hwm, out_hwm, records, bytes.
type Head = (u8, u64, u64, u64, u64);
/// (device, stream) → head of the stream
const HEADS: TableDefinition<(&str, &str), Head> = TableDefinition::new("heads");

/// The stream where the gateway reports its own drops.
pub const GAP_STREAM: &str = "gateway/gaps";
const KEY_OVERHEAD: u64 = 24;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("gateway queue at {path}: {why}; check the directory and free disk space")]
    Open { path: String, why: String },
    #[error("gateway queue write failed (nothing of this upload was committed): {0}")]
    Write(String),
    /// The disk failed (full, EIO): writes are refused until the queue file is reopened, which
    /// the queue tries by itself every second.
    #[error(
        "gateway queue cannot write to its disk (nothing of this upload was committed): {0}; \
         it resumes by itself once the disk works again (free space on it)"
    )]
    Disk(String),
    #[error("gateway queue is corrupt: {0}")]
    Corrupt(String),
    /// The upload itself is refused (nothing of it was stored).
    #[error(transparent)]
    SeqJump(#[from] foodflow_protocol::SeqJump),
}

fn wr<E: std::fmt::Display>(e: E) -> QueueError {
    QueueError::Write(e.to_string())
}

fn class_code(c: PriorityClass) -> u8 {
    match c {
        PriorityClass::Critical => 0,
        PriorityClass::Operational => 1,
        PriorityClass::Telemetry => 2,
    }
}

/// Byte quotas of the queue per class.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct Quotas {
    pub critical: u64,
    pub operational: u64,
    pub telemetry: u64,
}

impl Quotas {
    fn of(&self, class: PriorityClass) -> u64 {
        match class {
            PriorityClass::Critical => self.critical,
            PriorityClass::Operational => self.operational,
            PriorityClass::Telemetry => self.telemetry,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct StreamQ {
    class: u8,
    in_hwm: u64,
    out_hwm: u64,
    records: u64,
    bytes: u64,
    oldest_ts: Option<i64>,
}

struct State {
    streams: BTreeMap<(DeviceId, StreamId), StreamQ>,
    /// The file generation `streams` was read from (see [`Reopenable::generation`]).
    generation: u64,
    /// A failed transaction left `streams` ahead of the file: reload before use.
    stale: bool,
}

/// What an upload did.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    pub accepted: u64,
    pub duplicates: u64,
    pub marks: Vec<StreamMark>,
    /// Telemetry records shed to make room (each run reported in a Gap record).
    pub shed: u64,
}

/// Why an upload was not taken (nothing of it was stored).
#[derive(Debug, Clone)]
pub struct Backpressure {
    pub class: PriorityClass,
    pub message: String,
}

/// The backlog of one class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassBacklog {
    pub records: u64,
    pub bytes: u64,
    pub quota_bytes: u64,
    pub oldest_ts_ns: Option<i64>,
}

pub struct Queue {
    db: Reopenable,
    state: Mutex<State>,
    quotas: Quotas,
    me: DeviceId,
}

fn ts_of(v: &[u8]) -> i64 {
    foodflow_protocol::stored::ts_of(v).unwrap_or(0)
}

/// The observation time of a stream's oldest queued record.
fn first_ts<T: ReadableTable<Key<'static>, &'static [u8]>>(
    t: &T,
    d: &str,
    s: &str,
) -> Result<Option<i64>, QueueError> {
    Ok(t.range((d, s, 0)..=(d, s, u64::MAX))
        .map_err(wr)?
        .next()
        .and_then(|kv| kv.ok())
        .map(|(_, v)| ts_of(v.value())))
}

/// Creates the tables (in a fresh or a reopened file).
fn init(db: &Database) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    tx.open_table(QUEUE)?;
    tx.open_table(HEADS)?;
    tx.commit()?;
    Ok(())
}

impl Queue {
    pub fn open(dir: &Path, me: DeviceId, quotas: Quotas) -> Result<Self, QueueError> {
        let path = dir.join("queue.redb");
        let open = |why: String| QueueError::Open {
            path: path.display().to_string(),
            why,
        };
        std::fs::create_dir_all(dir).map_err(|e| open(e.to_string()))?;
        let db = Reopenable::open("gateway queue", &path, 32 << 20, init)
            .map_err(|e| open(e.to_string()))?;
        let streams = Self::load(&*db.get().map_err(|e| open(e.to_string()))?)?;
        Ok(Self {
            state: Mutex::new(State {
                streams,
                generation: db.generation(),
                stale: false,
            }),
            db,
            quotas,
            me,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, reloaded from the file first when a failed write or a reopen left it behind.
    fn state(&self) -> Result<MutexGuard<'_, State>, QueueError> {
        let mut st = self.lock();
        let db = self.db.writable().map_err(|e| self.io(e))?;
        let generation = self.db.generation();
        if st.stale || st.generation != generation {
            st.streams = Self::load(&db)?;
            st.generation = generation;
            st.stale = false;
        }
        Ok(st)
    }

    /// Why writes are refused, when they are (a failed disk, until the file is reopened).
    pub fn fault(&self) -> Option<String> {
        // Under the state lock no operation holds the file, so a due reopen can happen.
        let _st = self.lock();
        self.db.fault()
    }

    /// A storage error, noting failures at the disk (the file is reopened before the next
    /// write).
    fn io<E: Into<redb::Error>>(&self, e: E) -> QueueError {
        let e = e.into();
        self.db.note(&e);
        if is_io(&e) {
            QueueError::Disk(e.to_string())
        } else {
            QueueError::Write(e.to_string())
        }
    }

    fn class_bytes(st: &State, class: u8) -> u64 {
        st.streams
            .values()
            .filter(|q| q.class == class)
            .map(|q| q.bytes)
            .sum()
    }

    /// Stores the new records of an upload durably, or refuses all of it with back-pressure.
    pub fn admit(
        &self,
        segments: &[Segment],
    ) -> Result<Result<Admitted, Backpressure>, QueueError> {
        let mut st = self.state()?;
        let mut out = Admitted::default();
        // What is new, encoded once (its size decides the quotas, its bytes are stored), and
        // how many bytes each class would grow.
        let mut grow = [0u64; 3];
        let mut fresh: Vec<Vec<Option<Vec<u8>>>> = Vec::with_capacity(segments.len());
        for seg in segments {
            let hwm = st
                .streams
                .get(&(seg.device.clone(), seg.stream.clone()))
                .map(|q| q.in_hwm)
                .unwrap_or(0);
            foodflow_protocol::seq::check_jumps(seg, hwm)?;
            fresh.push(
                seg.entries
                    .iter()
                    .map(|e| {
                        (e.seq > hwm).then(|| {
                            let v = foodflow_protocol::stored::encode(
                                e.ts_ns,
                                &e.payload,
                                e.clock.as_ref(),
                            );
                            grow[class_code(seg.class) as usize] += v.len() as u64 + KEY_OVERHEAD;
                            v
                        })
                    })
                    .collect(),
            );
        }
        for class in [PriorityClass::Critical, PriorityClass::Operational] {
            let c = class_code(class);
            let have = Self::class_bytes(&st, c);
            if grow[c as usize] > 0 && have + grow[c as usize] > self.quotas.of(class) {
                return Ok(Err(Backpressure {
                    class,
                    message: format!(
                        "gateway {} queue is full ({have} of {} bytes); {} records are kept at \
                         the source until the hub drains it",
                        class.as_str(),
                        self.quotas.of(class),
                        class.as_str()
                    ),
                }));
            }
        }
        let tq = self.quotas.telemetry;
        if grow[2] > tq {
            return Ok(Err(Backpressure {
                class: PriorityClass::Telemetry,
                message: format!(
                    "upload holds {} telemetry bytes, more than the whole quota of {tq}; send \
                     smaller batches",
                    grow[2]
                ),
            }));
        }
        if let Err(e) = self.store_admitted(&mut st, segments, &fresh, grow[2], &mut out) {
            // The in-memory heads may have run ahead of the aborted transaction.
            st.stale = true;
            return Err(e);
        }
        for seg in segments {
            if let Some(sq) = st.streams.get(&(seg.device.clone(), seg.stream.clone()))
                && !out
                    .marks
                    .iter()
                    .any(|m| m.device == seg.device && m.stream == seg.stream)
            {
                out.marks.push(StreamMark {
                    device: seg.device.clone(),
                    stream: seg.stream.clone(),
                    seq: sq.in_hwm,
                });
            }
        }
        Ok(Ok(out))
    }

    /// The transaction of [`Queue::admit`]: on error nothing of it is stored, but `st` may
    /// have moved ahead (the caller marks it stale).
    fn store_admitted(
        &self,
        st: &mut State,
        segments: &[Segment],
        fresh: &[Vec<Option<Vec<u8>>>],
        t_grow: u64,
        out: &mut Admitted,
    ) -> Result<(), QueueError> {
        let db = self.db.get().map_err(|e| self.io(e))?;
        let mut tx = db.begin_write().map_err(|e| self.io(e))?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| self.io(e))?;
        let mut touched: Vec<(DeviceId, StreamId)> = Vec::new();
        {
            let mut q = tx.open_table(QUEUE).map_err(|e| self.io(e))?;
            let mut heads = tx.open_table(HEADS).map_err(|e| self.io(e))?;
            let t_have = Self::class_bytes(st, 2);
            let tq = self.quotas.telemetry;
            if t_grow > 0 && t_have + t_grow > tq {
                // Free down to 90 % of the quota so that shedding is not paid on every upload.
                let excess = t_have + t_grow - tq * 9 / 10;
                out.shed = self.shed(st, &mut q, excess, &mut touched)?;
            }
            for (seg, encoded) in segments.iter().zip(fresh) {
                let key = (seg.device.clone(), seg.stream.clone());
                let sq = st.streams.entry(key.clone()).or_insert_with(|| StreamQ {
                    class: class_code(seg.class),
                    ..Default::default()
                });
                for (e, v) in seg.entries.iter().zip(encoded) {
                    let Some(v) = v.as_ref().filter(|_| e.seq > sq.in_hwm) else {
                        out.duplicates += 1;
                        continue;
                    };
                    q.insert(
                        (seg.device.as_str(), seg.stream.as_str(), e.seq),
                        v.as_slice(),
                    )
                    .map_err(|e| self.io(e))?;
                    sq.in_hwm = e.seq;
                    sq.records += 1;
                    sq.bytes += v.len() as u64 + KEY_OVERHEAD;
                    sq.oldest_ts.get_or_insert(e.ts_ns);
                    out.accepted += 1;
                }
                if !touched.contains(&key) {
                    touched.push(key);
                }
            }
            for key in &touched {
                let sq = &st.streams[key];
                heads
                    .insert(
                        (key.0.as_str(), key.1.as_str()),
                        (sq.class, sq.in_hwm, sq.out_hwm, sq.records, sq.bytes),
                    )
                    .map_err(|e| self.io(e))?;
            }
        }
        tx.commit().map_err(|e| self.io(e))
    }

    /// The heads as the file holds them.
    fn load(db: &Database) -> Result<BTreeMap<(DeviceId, StreamId), StreamQ>, QueueError> {
        let mut streams = Self::open_state(db)?;
        Self::fill_oldest(db, &mut streams)?;
        Ok(streams)
    }

    fn fill_oldest(
        db: &Database,
        streams: &mut BTreeMap<(DeviceId, StreamId), StreamQ>,
    ) -> Result<(), QueueError> {
        let rx = db.begin_read().map_err(wr)?;
        let q = rx.open_table(QUEUE).map_err(wr)?;
        for ((d, s), sq) in streams.iter_mut() {
            let (d, s) = (d.as_str(), s.as_str());
            sq.oldest_ts = first_ts(&q, d, s)?;
        }
        Ok(())
    }

    fn open_state(db: &Database) -> Result<BTreeMap<(DeviceId, StreamId), StreamQ>, QueueError> {
        let rx = db.begin_read().map_err(wr)?;
        let heads = rx.open_table(HEADS).map_err(wr)?;
        let mut streams = BTreeMap::new();
        for kv in heads.iter().map_err(wr)? {
            let (k, v) = kv.map_err(wr)?;
            let (d, s) = k.value();
            let (Ok(device), Ok(stream)) = (DeviceId::new(d), StreamId::new(s)) else {
                continue;
            };
            let (class, in_hwm, out_hwm, records, bytes) = v.value();
            streams.insert(
                (device, stream),
                StreamQ {
                    class,
                    in_hwm,
                    out_hwm,
                    records,
                    bytes,
                    oldest_ts: None,
                },
            );
        }
        Ok(streams)
    }

    /// Sheds telemetry inside the admitting transaction; returns how many records went.
    fn shed(
        &self,
        st: &mut State,
        q: &mut redb::Table<Key, &[u8]>,
        excess: u64,
        touched: &mut Vec<(DeviceId, StreamId)>,
    ) -> Result<u64, QueueError> {
        let keys: Vec<(DeviceId, StreamId)> = st
            .streams
            .iter()
            .filter(|(_, s)| s.class == 2 && s.records > 0)
            .map(|(k, _)| k.clone())
            .collect();
        let mut items = Vec::with_capacity(keys.len());
        let mut stamps: Vec<BTreeMap<u64, i64>> = Vec::with_capacity(keys.len());
        for (d, s) in &keys {
            let mut v = Vec::new();
            let mut ts = BTreeMap::new();
            for kv in q
                .range((d.as_str(), s.as_str(), 0)..=(d.as_str(), s.as_str(), u64::MAX))
                .map_err(wr)?
            {
                let (k, val) = kv.map_err(wr)?;
                let seq = k.value().2;
                v.push(shed::Item {
                    seq,
                    bytes: val.value().len() as u64 + KEY_OVERHEAD,
                });
                ts.insert(seq, ts_of(val.value()));
            }
            items.push(v);
            stamps.push(ts);
        }
        let plan = shed::plan(&items, excess);
        let mut total = 0;
        let mut gaps = Vec::new();
        for drop in plan {
            let (d, s) = &keys[drop.stream];
            for seq in &drop.seqs {
                q.remove((d.as_str(), s.as_str(), *seq))
                    .map_err(|e| self.io(e))?;
            }
            let (first, last) = (drop.seqs[0], drop.seqs[drop.seqs.len() - 1]);
            let sq = st.streams.get_mut(&(d.clone(), s.clone())).ok_or_else(|| {
                QueueError::Corrupt(format!("stream {d}/{s} vanished while shedding"))
            })?;
            sq.records -= drop.seqs.len() as u64;
            sq.bytes = sq.bytes.saturating_sub(drop.bytes);
            sq.oldest_ts = first_ts(q, d.as_str(), s.as_str())?;
            total += drop.seqs.len() as u64;
            let reason = match drop.why {
                shed::Why::Downsampled => {
                    "gateway telemetry quota full: downsampled 1:2 (every second record of the \
                     oldest half dropped)"
                }
                shed::Why::DroppedOldest => "gateway telemetry quota full: oldest records dropped",
            };
            tracing::warn!(device = %d, stream = %s, first, last, count = drop.seqs.len(), "{reason}");
            gaps.push(Gap {
                subject: format!("seq {d} {s} {first}-{last}"),
                from_ts_ns: stamps[drop.stream].get(&first).copied().unwrap_or(0),
                to_ts_ns: stamps[drop.stream].get(&last).copied().unwrap_or(0),
                reason: reason.to_owned(),
                lost: Some(drop.seqs.len() as u64),
            });
            let key = (d.clone(), s.clone());
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        // The gap records go into the gateway's own critical stream, in the same transaction.
        let gap_key = (self.me.clone(), StreamId::new(GAP_STREAM).map_err(wr)?);
        let now = foodflow_protocol::time::now_ns();
        let gq = st
            .streams
            .entry(gap_key.clone())
            .or_insert_with(|| StreamQ {
                class: class_code(PriorityClass::Critical),
                ..Default::default()
            });
        for gap in gaps {
            let v = foodflow_protocol::stored::encode::<foodflow_protocol::ClockNote>(
                now,
                &Payload::Gap(gap),
                None,
            );
            gq.in_hwm += 1;
            q.insert((self.me.as_str(), GAP_STREAM, gq.in_hwm), v.as_slice())
                .map_err(|e| self.io(e))?;
            gq.records += 1;
            gq.bytes += v.len() as u64 + KEY_OVERHEAD;
            gq.oldest_ts.get_or_insert(now);
        }
        if !touched.contains(&gap_key) {
            touched.push(gap_key);
        }
        Ok(total)
    }

    /// The marks answered to an edge asking where to resume.
    pub fn marks(&self, device: Option<&DeviceId>) -> Result<Vec<StreamMark>, QueueError> {
        Ok(self
            .state()?
            .streams
            .iter()
            .filter(|((d, _), _)| device.is_none_or(|x| x == d))
            .map(|((d, s), q)| StreamMark {
                device: d.clone(),
                stream: s.clone(),
                seq: q.in_hwm,
            })
            .collect())
    }

    /// The next batch to forward: critical first, then operational, then telemetry; each
    /// stream gets a fair share of `max_records`.
    pub fn next_batch(&self, max_records: usize, max_bytes: usize) -> Result<Batch, QueueError> {
        let st = self.state()?;
        let mut pending: Vec<(&(DeviceId, StreamId), &StreamQ)> = st
            .streams
            .iter()
            .filter(|(_, q)| q.in_hwm > q.out_hwm && q.records > 0)
            .collect();
        pending.sort_by_key(|(_, q)| q.class);
        let share = (max_records / pending.len().max(1)).max(256);
        let db = self.db.get().map_err(|e| self.io(e))?;
        let rx = db.begin_read().map_err(wr)?;
        let table = rx.open_table(QUEUE).map_err(wr)?;
        let (mut n, mut bytes) = (0usize, 0usize);
        let mut batch = Batch::default();
        for ((d, s), sq) in pending {
            if n >= max_records || bytes >= max_bytes {
                break;
            }
            let class = match sq.class {
                0 => PriorityClass::Critical,
                1 => PriorityClass::Operational,
                _ => PriorityClass::Telemetry,
            };
            let mut seg = Segment {
                device: d.clone(),
                stream: s.clone(),
                class,
                entries: Vec::new(),
            };
            let range =
                (d.as_str(), s.as_str(), sq.out_hwm + 1)..=(d.as_str(), s.as_str(), u64::MAX);
            for kv in table.range(range).map_err(wr)? {
                if seg.entries.len() >= share || n >= max_records || bytes >= max_bytes {
                    break;
                }
                let (k, v) = kv.map_err(wr)?;
                let raw = v.value();
                let (ts_ns, payload, clock) = foodflow_protocol::stored::decode(raw)
                    .map_err(|e| QueueError::Corrupt(format!("{d}/{s}#{}: {e}", k.value().2)))?;
                seg.entries.push(Entry {
                    seq: k.value().2,
                    ts_ns,
                    payload,
                    clock,
                });
                n += 1;
                bytes += raw.len();
            }
            if !seg.entries.is_empty() {
                batch.segments.push(seg);
            }
        }
        Ok(batch)
    }

    /// Records the hub's marks: everything at or below them leaves the queue.
    pub fn confirm(&self, marks: &[StreamMark]) -> Result<u64, QueueError> {
        let mut st = self.state()?;
        let r = self.store_confirmed(&mut st, marks);
        if r.is_err() {
            st.stale = true;
        }
        r
    }

    fn store_confirmed(&self, st: &mut State, marks: &[StreamMark]) -> Result<u64, QueueError> {
        let db = self.db.get().map_err(|e| self.io(e))?;
        let mut tx = db.begin_write().map_err(|e| self.io(e))?;
        tx.set_durability(Durability::None)
            .map_err(|e| self.io(e))?;
        let mut removed = 0;
        {
            let mut q = tx.open_table(QUEUE).map_err(|e| self.io(e))?;
            let mut heads = tx.open_table(HEADS).map_err(|e| self.io(e))?;
            for m in marks {
                let key = (m.device.clone(), m.stream.clone());
                let Some(sq) = st.streams.get_mut(&key) else {
                    continue;
                };
                if m.seq <= sq.out_hwm {
                    continue;
                }
                let (d, s) = (m.device.as_str(), m.stream.as_str());
                let mut gone = Vec::new();
                for kv in q.range((d, s, 0)..=(d, s, m.seq)).map_err(|e| self.io(e))? {
                    let (k, v) = kv.map_err(|e| self.io(e))?;
                    gone.push((k.value().2, v.value().len() as u64 + KEY_OVERHEAD));
                }
                for (seq, b) in &gone {
                    q.remove((d, s, *seq)).map_err(|e| self.io(e))?;
                    sq.bytes = sq.bytes.saturating_sub(*b);
                }
                sq.records = sq.records.saturating_sub(gone.len() as u64);
                removed += gone.len() as u64;
                sq.out_hwm = m.seq;
                sq.oldest_ts = first_ts(&q, d, s)?;
                heads
                    .insert(
                        (d, s),
                        (sq.class, sq.in_hwm, sq.out_hwm, sq.records, sq.bytes),
                    )
                    .map_err(|e| self.io(e))?;
            }
        }
        tx.commit().map_err(|e| self.io(e))?;
        Ok(removed)
    }

    /// Backlog per class: critical, operational, telemetry.
    pub fn backlog(&self) -> [ClassBacklog; 3] {
        // After a failed write the last known heads are the best answer there is (health
        // reports the failure).
        let st = self.state().unwrap_or_else(|_| self.lock());
        let mut out: [ClassBacklog; 3] = Default::default();
        for (i, c) in PriorityClass::ALL.iter().enumerate() {
            out[i].quota_bytes = self.quotas.of(*c);
        }
        for q in st.streams.values() {
            let b = &mut out[q.class.min(2) as usize];
            b.records += q.records;
            b.bytes += q.bytes;
            if let Some(ts) = q.oldest_ts {
                b.oldest_ts_ns = Some(b.oldest_ts_ns.map_or(ts, |o: i64| o.min(ts)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foodflow_protocol::{Quality, Reading, Value};

    fn seg(
        dev: &str,
        stream: &str,
        class: PriorityClass,
        seqs: std::ops::RangeInclusive<u64>,
    ) -> Segment {
        Segment {
            device: DeviceId::new(dev).unwrap(),
            stream: StreamId::new(stream).unwrap(),
            class,
            entries: seqs
                .map(|seq| Entry {
                    seq,
                    ts_ns: seq as i64,
                    payload: Payload::Reading(Reading {
                        tag: "t".into(),
                        value: Value::Float(seq as f64),
                        quality: Quality::Good,
                        status_code: 0,
                        source_ts_ns: None,
                        origin_id: None,
                    }),
                    clock: None,
                })
                .collect(),
        }
    }

    fn queue(dir: &Path, telemetry: u64, critical: u64) -> Queue {
        Queue::open(
            dir,
            DeviceId::new("gw").unwrap(),
            Quotas {
                critical,
                operational: critical,
                telemetry,
            },
        )
        .unwrap()
    }

    #[test]
    fn admit_forward_confirm_and_resume_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 1 << 20, 1 << 20);
        let a = q
            .admit(&[seg("e1", "s", PriorityClass::Telemetry, 1..=100)])
            .unwrap()
            .unwrap();
        assert_eq!((a.accepted, a.duplicates), (100, 0));
        let a = q
            .admit(&[seg("e1", "s", PriorityClass::Telemetry, 90..=120)])
            .unwrap()
            .unwrap();
        assert_eq!((a.accepted, a.duplicates), (20, 11));
        assert_eq!(a.marks[0].seq, 120);
        let b = q.next_batch(50, 1 << 20).unwrap();
        assert_eq!(b.len(), 50);
        let last = b.segments[0].entries.last().unwrap().seq;
        assert_eq!(last, 50);
        assert_eq!(
            q.confirm(&[StreamMark {
                device: DeviceId::new("e1").unwrap(),
                stream: StreamId::new("s").unwrap(),
                seq: 50
            }])
            .unwrap(),
            50
        );
        drop(q);
        let q = queue(dir.path(), 1 << 20, 1 << 20);
        assert_eq!(
            q.marks(None).unwrap()[0].seq,
            120,
            "in_hwm survives a restart"
        );
        let b = q.next_batch(1000, 1 << 20).unwrap();
        assert_eq!(b.segments[0].entries[0].seq, 51);
        assert_eq!(b.len(), 70);
        assert_eq!(q.backlog()[2].records, 70);
    }

    #[test]
    fn full_critical_class_pushes_back_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 1 << 20, 2000);
        let r = q
            .admit(&[seg("e1", "c", PriorityClass::Critical, 1..=10)])
            .unwrap();
        assert!(r.is_ok());
        let r = q
            .admit(&[seg("e1", "c", PriorityClass::Critical, 11..=100)])
            .unwrap();
        let bp = r.unwrap_err();
        assert_eq!(bp.class, PriorityClass::Critical);
        assert_eq!(
            q.marks(None).unwrap()[0].seq,
            10,
            "nothing of the refused upload was kept"
        );
    }

    #[test]
    fn telemetry_over_quota_is_shed_with_gap_records() {
        let dir = tempfile::tempdir().unwrap();
        let q = queue(dir.path(), 6000, 1 << 20);
        let mut shed = 0;
        for i in 0..10u64 {
            let a = q
                .admit(&[seg(
                    "e1",
                    "t",
                    PriorityClass::Telemetry,
                    i * 20 + 1..=i * 20 + 20,
                )])
                .unwrap()
                .unwrap();
            shed += a.shed;
        }
        assert!(shed > 0);
        let back = q.backlog();
        assert!(
            back[2].bytes <= 6000,
            "telemetry within quota: {}",
            back[2].bytes
        );
        // Gap records: in the gateway's own critical stream, naming the dropped seq runs.
        let b = q.next_batch(100_000, 1 << 30).unwrap();
        let gaps: Vec<_> = b
            .records()
            .filter_map(|r| match r.payload {
                Payload::Gap(g) => Some((r.device.to_string(), r.stream.to_string(), g)),
                _ => None,
            })
            .collect();
        assert!(!gaps.is_empty());
        assert!(
            gaps.iter().all(|(d, s, g)| d == "gw"
                && s == GAP_STREAM
                && g.subject.starts_with("seq e1 t "))
        );
        let lost: u64 = gaps.iter().filter_map(|(_, _, g)| g.lost).sum();
        assert_eq!(lost, shed);
        let kept = b.records().filter(|r| r.stream.as_str() == "t").count() as u64;
        assert_eq!(
            kept + shed,
            200,
            "every record is either queued or accounted for by a gap"
        );
        // The critical gap stream is forwarded first.
        assert_eq!(b.segments[0].stream.as_str(), GAP_STREAM);
    }
}
