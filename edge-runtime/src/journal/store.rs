//! The journal store on redb: one table per stream keyed by `seq`, so a table scan is the
//! stream in order and the last key gives the next `seq` after a restart. Appends commit without
//! fsync; [`Store::flush`] makes everything before it durable with one fsync (group commit).
//!
//! sled 0.34, the first choice, kept every record through the SIGKILL test but its resident
//! memory grew by about 3 KB per appended record without bound (docs/benchmarks.md); redb is
//! ACID with a stable file format and a bounded cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use foodflow_protocol::{ClockNote, DeviceId, Payload, PriorityClass, Record, StreamId};
use foodflow_storekit::Reopenable;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::clock::{JournalClock, Untrusted, WallTrust};
use super::retention::StreamView;

const STREAM_PREFIX: &str = "stream:";
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Prefix of the meta keys owned by connectors.
const CONNECTOR_META: &str = "connector:";
/// Arrivals: (stream, minute of the journal clock) → the stream's next seq after its last
/// append in that minute, so every record below it arrived before the minute ended. Retention
/// tells the age of records from these, never from the records' wall-clock stamps, which a
/// clock step makes wrong. One row per stream and minute, overwritten by each commit.
const ARRIVALS: TableDefinition<(&str, u64), u64> = TableDefinition::new("arrivals");
const MINUTE_NS: u64 = 60_000_000_000;
/// The journal clock as of the last commit.
const CLOCK_KEY: &str = "clock:ns";
/// How many times this journal was opened: the run of the edge that stamped a record.
const RUNS_KEY: &str = "clock:runs";
/// `clock:set:{run}` → how far off every wall time of that run was before its clock was set.
const SET_PREFIX: &str = "clock:set:";

/// A payload with the time the edge observed it (UTC ns).
pub type Entry = (i64, Payload);

/// One append request of a group: stream, its class, the entries.
pub type AppendReq<'a> = (&'a StreamId, PriorityClass, &'a [Entry]);

/// What [`Store::prune_front`] removed.
#[derive(Debug, Clone, Copy)]
pub struct Pruned {
    pub first: u64,
    pub last: u64,
    pub count: u64,
    pub last_ts_ns: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal at {path}: cannot open the store: {source}; check that the directory is writable \
         and no other foodflow-edge uses it"
    )]
    Open { path: String, source: redb::Error },
    #[error("journal write failed (nothing was acknowledged): {0}; check free disk space")]
    Write(#[from] redb::Error),
    #[error("journal stream {stream}: record {seq} is corrupt: {why}")]
    Corrupt {
        stream: String,
        seq: u64,
        why: String,
    },
    #[error("journal has no stream {0:?}; `foodflow-edge journal stats` lists the streams")]
    NoStream(String),
    #[error("journal writer has stopped")]
    Closed,
}

fn w<E: Into<redb::Error>>(e: E) -> JournalError {
    JournalError::Write(e.into())
}

/// What is kept of a stream in memory.
pub struct StreamState {
    table: String,
    pub class: PriorityClass,
    pub next_seq: u64,
    /// Approximate encoded bytes held (persisted at each group commit).
    pub bytes: u64,
    /// The confirmed position last persisted (see [`Durable::confirm`]).
    confirmed_saved: u64,
}

impl StreamState {
    fn def(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.table)
    }
}

/// A summary of one stream, as `journal stats` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamStats {
    pub stream: String,
    pub class: PriorityClass,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub records: u64,
    pub bytes: u64,
}

pub struct Store {
    /// Reopened after a disk failure; until then every write fails and health says why.
    db: Arc<Reopenable>,
    path: PathBuf,
    device: DeviceId,
    pub streams: HashMap<StreamId, StreamState>,
    /// The file generation `streams` was read from; a failed write sets `stale` (the streams
    /// may have run ahead of what a reopened file holds).
    generation: u64,
    stale: bool,
    durable: Arc<Durable>,
    clock: Arc<JournalClock>,
    /// The wall clock's state, stamped on each record taken while it is in doubt.
    wall: Arc<WallTrust>,
    /// This run of the edge, and whether its clock's error (once known) is persisted.
    run: u64,
    run_error_saved: bool,
    /// Whether records wait for a next hop to confirm them before retention may drop them.
    upstream: bool,
}

/// What is durable (fsynced) per stream: the uplink reads no further, because a record that is
/// only committed without fsync may vanish in a power loss and its seq be given again.
///
/// It is also where the uplink reports what the next hop confirmed, which bounds retention.
pub struct Durable {
    next: Mutex<HashMap<StreamId, (u64, PriorityClass)>>,
    changed: tokio::sync::watch::Sender<u64>,
    /// Per stream: every seq below this one is confirmed by the next hop.
    confirmed: Mutex<HashMap<StreamId, u64>>,
    /// Records the disk budget forced retention to drop before they were confirmed.
    dropped_unsent: AtomicU64,
}

impl Durable {
    /// The next hop holds every record of `stream` up to and including `seq`. Never moves
    /// back: a next hop that lost its disk has lost what it confirmed, not this journal.
    pub fn confirm(&self, stream: &StreamId, seq: u64) {
        let mut m = self.confirmed.lock().unwrap_or_else(|p| p.into_inner());
        let below = seq.saturating_add(1);
        let e = m.entry(stream.clone()).or_insert(below);
        *e = (*e).max(below);
    }

    /// Every seq of `stream` below this one is confirmed by the next hop.
    pub fn confirmed_below(&self, stream: &StreamId) -> u64 {
        let m = self.confirmed.lock().unwrap_or_else(|p| p.into_inner());
        m.get(stream).copied().unwrap_or(0)
    }

    /// Records dropped unsent because the disk budget left no choice, since start.
    pub fn dropped_unsent(&self) -> u64 {
        self.dropped_unsent.load(Ordering::Relaxed)
    }

    fn note_dropped_unsent(&self, n: u64) {
        self.dropped_unsent.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Vec<(StreamId, PriorityClass, u64)> {
        let m = self.next.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(s, (n, c))| (s.clone(), *c, *n)).collect()
    }

    /// Changes whenever more records became durable.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// One durable record as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub seq: u64,
    /// When the edge observed it (UTC ns), as its clock said.
    pub ts_ns: i64,
    pub payload: Payload,
    /// Where the clock was in doubt: the flag, and the corrected time once known.
    pub clock: Option<ClockNote>,
}

/// A read-only view of the journal for other threads (the uplink): reads only durable records.
#[derive(Clone)]
pub struct JournalReader {
    db: Arc<Reopenable>,
    device: DeviceId,
    pub durable: Arc<Durable>,
    wall: Arc<WallTrust>,
    run: u64,
}

impl JournalReader {
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// Why journal writes fail, while they do (a full or failing disk); `None` when healthy.
    pub fn fault(&self) -> Option<String> {
        self.db.fault()
    }

    /// Connector state written with [`Store::append_group`], by key prefix.
    pub fn connector_meta(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, JournalError> {
        let rx = self.db.get().map_err(w)?.begin_read().map_err(w)?;
        let meta = rx.open_table(META).map_err(w)?;
        let lo = format!("{CONNECTOR_META}{prefix}");
        let mut out = Vec::new();
        for kv in meta.range(lo.as_str()..).map_err(w)? {
            let (k, v) = kv.map_err(w)?;
            let Some(key) = k.value().strip_prefix(CONNECTOR_META) else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Durable records of `stream` with `from <= seq < until`, at most `max` of them and about
    /// `max_bytes`; also returns the bytes they take in the journal.
    pub fn read(
        &self,
        stream: &StreamId,
        from: u64,
        until: u64,
        max: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Row>, usize), JournalError> {
        let mut out = Vec::new();
        if from >= until {
            return Ok((out, 0));
        }
        let rx = self.db.get().map_err(w)?.begin_read().map_err(w)?;
        let name = format!("{STREAM_PREFIX}{stream}");
        let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&name);
        let table = match rx.open_table(def) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((out, 0)),
            Err(e) => return Err(w(e)),
        };
        let mut bytes = 0;
        let mut errors = RunErrors::new(&self.wall, self.run);
        for kv in table.range(from..until).map_err(w)? {
            if out.len() >= max || bytes >= max_bytes {
                break;
            }
            let (k, v) = kv.map_err(w)?;
            let seq = k.value();
            bytes += v.value().len();
            let (ts_ns, payload, mark) = decode_value(stream.as_str(), seq, v.value())?;
            let clock = mark.map(|m| m.note(ts_ns, |run| errors.get(&rx, run)));
            out.push(Row {
                seq,
                ts_ns,
                payload,
                clock,
            });
        }
        Ok((out, bytes))
    }
}

/// The errors of this and earlier runs' clocks, looked up once per read.
struct RunErrors<'a> {
    wall: &'a WallTrust,
    run: u64,
    seen: HashMap<u64, Option<i64>>,
}

impl<'a> RunErrors<'a> {
    fn new(wall: &'a WallTrust, run: u64) -> Self {
        Self {
            wall,
            run,
            seen: HashMap::new(),
        }
    }

    fn get(&mut self, rx: &redb::ReadTransaction, run: u64) -> Option<i64> {
        if run == self.run {
            return self.wall.since_start();
        }
        *self.seen.entry(run).or_insert_with(|| {
            let meta = rx.open_table(META).ok()?;
            let v = meta.get(format!("{SET_PREFIX}{run}").as_str()).ok()??;
            Some(i64::from_be_bytes(v.value().try_into().ok()?))
        })
    }
}

fn decode_value(
    stream: &str,
    seq: u64,
    v: &[u8],
) -> Result<(i64, Payload, Option<Untrusted>), JournalError> {
    foodflow_protocol::stored::decode(v).map_err(|why| JournalError::Corrupt {
        stream: stream.to_owned(),
        seq,
        why,
    })
}

/// Creates the tables a fresh or reopened journal needs.
fn init(db: &Database) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    tx.open_table(META)?;
    tx.open_table(ARRIVALS)?;
    tx.commit()?;
    Ok(())
}

/// The streams as the file holds them.
fn load(db: &Database) -> Result<HashMap<StreamId, StreamState>, redb::Error> {
    let mut streams = HashMap::new();
    let rx = db.begin_read()?;
    let meta = rx.open_table(META)?;
    let get_u64 = |key: String| -> Option<u64> {
        let v = meta.get(key.as_str()).ok()??;
        Some(u64::from_be_bytes(v.value().try_into().ok()?))
    };
    let names: Vec<String> = rx.list_tables()?.map(|h| h.name().to_owned()).collect();
    for table in names {
        let Some(stream) = table.strip_prefix(STREAM_PREFIX) else {
            continue;
        };
        let Ok(id) = StreamId::new(stream) else {
            continue;
        };
        let def: TableDefinition<u64, &[u8]> = TableDefinition::new(&table);
        let t = rx.open_table(def)?;
        let next_seq = match t.last()? {
            Some((k, _)) => k.value() + 1,
            None => get_u64(format!("next:{stream}")).unwrap_or(1),
        };
        let class = meta
            .get(format!("class:{stream}").as_str())
            .ok()
            .flatten()
            .and_then(|v| postcard::from_bytes(v.value()).ok())
            .unwrap_or(PriorityClass::Telemetry);
        let bytes = get_u64(format!("bytes:{stream}")).unwrap_or(0);
        streams.insert(
            id,
            StreamState {
                table: table.clone(),
                class,
                next_seq,
                bytes,
                confirmed_saved: get_u64(format!("confirmed:{stream}")).unwrap_or(0),
            },
        );
    }
    Ok(streams)
}

impl Store {
    pub fn open(path: &Path, device: DeviceId) -> Result<Self, JournalError> {
        let open_err = |e: redb::Error| JournalError::Open {
            path: path.display().to_string(),
            source: e,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(redb::StorageError::Io(e).into()))?;
        }
        let db = Reopenable::open("edge journal", path, 16 << 20, init).map_err(open_err)?;
        let file = db.get().map_err(open_err)?;
        let streams = load(&file).map_err(open_err)?;
        adopt_records_without_arrival(&file, &streams).map_err(open_err)?;
        let clock = Arc::new(JournalClock::resume(read_clock(&file).map_err(open_err)?));
        let run = next_run(&file).map_err(open_err)?;
        drop(file);
        let durable = Arc::new(Durable {
            next: Mutex::new(
                streams
                    .iter()
                    .map(|(id, st)| (id.clone(), (st.next_seq, st.class)))
                    .collect(),
            ),
            changed: tokio::sync::watch::Sender::new(0),
            confirmed: Mutex::new(
                streams
                    .iter()
                    .map(|(id, st)| (id.clone(), st.confirmed_saved))
                    .collect(),
            ),
            dropped_unsent: AtomicU64::new(0),
        });
        Ok(Self {
            generation: db.generation(),
            stale: false,
            db: Arc::new(db),
            path: path.to_owned(),
            device,
            streams,
            durable,
            clock,
            wall: Arc::default(),
            run,
            run_error_saved: false,
            upstream: true,
        })
    }

    /// Declares that no next hop will confirm records (a box without uplink): retention then
    /// treats every durable record as confirmed.
    pub fn without_upstream(mut self) -> Self {
        self.upstream = false;
        self
    }

    pub(super) fn note_dropped_unsent(&self, n: u64) {
        self.durable.note_dropped_unsent(n);
    }

    pub fn clock(&self) -> &Arc<JournalClock> {
        &self.clock
    }

    /// The wall clock's state the journal stamps records with (the clock watcher sets it).
    pub fn wall(&self) -> &Arc<WallTrust> {
        &self.wall
    }

    /// The file for one write, with `streams` reloaded first when a failed write or a reopen
    /// left them behind the file.
    fn file(&mut self) -> Result<Arc<Database>, JournalError> {
        let db = self.db.writable().map_err(w)?;
        let generation = self.db.generation();
        if self.stale || generation != self.generation {
            let mut streams = load(&db).map_err(w)?;
            // Streams the file does not know stay known, with nothing written: a failed first
            // write may have moved their seq in memory only.
            for (id, st) in self.streams.drain() {
                streams.entry(id).or_insert(StreamState {
                    next_seq: 1,
                    bytes: 0,
                    ..st
                });
            }
            self.streams = streams;
            self.generation = generation;
            self.stale = false;
        }
        Ok(db)
    }

    /// Reloads the in-memory streams when a failed write or a reopen left them behind the
    /// file; fails while the file cannot be used.
    pub fn refresh(&mut self) -> Result<(), JournalError> {
        let r = self.file().map(drop);
        self.noted(r)
    }

    /// Passes `r` through; a failure marks the in-memory streams stale and, when it was the
    /// disk, the file faulted (reopened before the next write).
    fn noted<T>(&mut self, r: Result<T, JournalError>) -> Result<T, JournalError> {
        if let Err(e) = &r {
            self.stale = true;
            if let JournalError::Write(e) = e {
                self.db.note(e);
            }
        }
        r
    }

    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    pub fn reader(&self) -> JournalReader {
        JournalReader {
            db: self.db.clone(),
            device: self.device.clone(),
            durable: self.durable.clone(),
            wall: self.wall.clone(),
            run: self.run,
        }
    }

    fn ensure_stream(&mut self, stream: &StreamId, class: PriorityClass) {
        self.streams
            .entry(stream.clone())
            .or_insert_with(|| StreamState {
                table: format!("{STREAM_PREFIX}{stream}"),
                class,
                next_seq: 1,
                bytes: 0,
                confirmed_saved: 0,
            });
    }

    /// Appends records to one stream and returns the first seq given. Not durable until
    /// [`Store::flush`].
    pub fn append(
        &mut self,
        stream: &StreamId,
        class: PriorityClass,
        items: &[(i64, Payload)],
    ) -> Result<u64, JournalError> {
        let mut r = self.append_group(&[(stream, class, items)], &[])?;
        r.pop()
            .ok_or_else(|| JournalError::NoStream(stream.to_string()))
    }

    /// Appends several requests in one transaction (committed without fsync). Returns the first
    /// seq of each request, in request order. On error nothing of the group is kept and no
    /// stream's `seq` moves.
    ///
    /// `meta` entries (key, value) are written in the same transaction: connectors keep state
    /// that must be exactly as durable as the records (MQTT redelivery fingerprints).
    pub fn append_group(
        &mut self,
        reqs: &[AppendReq<'_>],
        meta_kv: &[(String, Vec<u8>)],
    ) -> Result<Vec<u64>, JournalError> {
        let r = self
            .file()
            .and_then(|db| self.append_group_in(&db, reqs, meta_kv));
        self.noted(r)
    }

    fn append_group_in(
        &mut self,
        db: &Database,
        reqs: &[AppendReq<'_>],
        meta_kv: &[(String, Vec<u8>)],
    ) -> Result<Vec<u64>, JournalError> {
        for (stream, class, _) in reqs {
            self.ensure_stream(stream, *class);
        }
        let mut next: HashMap<&StreamId, (u64, u64)> = HashMap::new();
        let mut firsts = Vec::with_capacity(reqs.len());
        let mut classes = Vec::new();
        let now = self.clock.now_ns();
        let judge = self.wall.judge(self.run);
        let run_error = self.wall.since_start().filter(|_| !self.run_error_saved);
        let mut tx = db.begin_write().map_err(w)?;
        tx.set_durability(Durability::None).map_err(w)?;
        {
            let mut meta = tx.open_table(META).map_err(w)?;
            meta.insert(CLOCK_KEY, now.to_be_bytes().as_slice())
                .map_err(w)?;
            if let Some(e) = run_error {
                meta.insert(
                    format!("{SET_PREFIX}{}", self.run).as_str(),
                    e.to_be_bytes().as_slice(),
                )
                .map_err(w)?;
            }
            for (stream, class, items) in reqs {
                let st = &self.streams[*stream];
                let entry = next.entry(*stream).or_insert((st.next_seq, 0));
                // The first records of a stream fix its class (a stream advanced by
                // `advance` before any record has only a placeholder class).
                if entry.1 == 0 && st.bytes == 0 {
                    let c = postcard::to_stdvec(class).unwrap_or_default();
                    meta.insert(format!("class:{stream}").as_str(), c.as_slice())
                        .map_err(w)?;
                    classes.push((*stream, *class));
                }
                firsts.push(entry.0);
                let mut table = tx.open_table(st.def()).map_err(w)?;
                for (ts, payload) in items.iter() {
                    let mark = judge.mark(*ts);
                    let v = foodflow_protocol::stored::encode(*ts, payload, mark.as_ref());
                    entry.1 += v.len() as u64 + 8;
                    table.insert(entry.0, v.as_slice()).map_err(w)?;
                    entry.0 += 1;
                }
            }
            for (k, v) in meta_kv {
                meta.insert(format!("{CONNECTOR_META}{k}").as_str(), v.as_slice())
                    .map_err(w)?;
            }
            for (stream, (n, bytes)) in &next {
                let st = &self.streams[*stream];
                meta.insert(
                    format!("next:{stream}").as_str(),
                    n.to_be_bytes().as_slice(),
                )
                .map_err(w)?;
                meta.insert(
                    format!("bytes:{stream}").as_str(),
                    (st.bytes + bytes).to_be_bytes().as_slice(),
                )
                .map_err(w)?;
            }
            let mut arrivals = tx.open_table(ARRIVALS).map_err(w)?;
            for (stream, (n, _)) in &next {
                arrivals
                    .insert((stream.as_str(), now / MINUTE_NS), *n)
                    .map_err(w)?;
            }
        }
        tx.commit().map_err(w)?;
        self.run_error_saved |= run_error.is_some();
        for (stream, (n, bytes)) in next {
            if let Some(st) = self.streams.get_mut(stream) {
                st.next_seq = n;
                st.bytes += bytes;
            }
        }
        for (stream, class) in classes {
            if let Some(st) = self.streams.get_mut(stream) {
                st.class = class;
            }
        }
        Ok(firsts)
    }

    /// Moves a stream's next `seq` up to `min_next` (never down), durably. Used when the next
    /// hop already holds seqs this journal has not written — a replaced data directory — so
    /// that new records are not taken for duplicates of old ones. Returns the previous next
    /// seq when it moved.
    pub fn advance(
        &mut self,
        stream: &StreamId,
        min_next: u64,
    ) -> Result<Option<u64>, JournalError> {
        let r = self
            .file()
            .and_then(|db| self.advance_in(&db, stream, min_next));
        self.noted(r)
    }

    fn advance_in(
        &mut self,
        db: &Database,
        stream: &StreamId,
        min_next: u64,
    ) -> Result<Option<u64>, JournalError> {
        self.ensure_stream(stream, PriorityClass::Telemetry);
        let st = &self.streams[stream];
        if st.next_seq >= min_next {
            return Ok(None);
        }
        let before = st.next_seq;
        let mut tx = db.begin_write().map_err(w)?;
        tx.set_durability(Durability::Immediate).map_err(w)?;
        {
            let mut meta = tx.open_table(META).map_err(w)?;
            meta.insert(
                format!("next:{stream}").as_str(),
                min_next.to_be_bytes().as_slice(),
            )
            .map_err(w)?;
            // Create the stream's table so that a reopened journal knows the stream.
            tx.open_table(st.def()).map_err(w)?;
        }
        tx.commit().map_err(w)?;
        if let Some(st) = self.streams.get_mut(stream) {
            st.next_seq = min_next;
        }
        self.flush()?;
        Ok(Some(before))
    }

    /// Makes everything appended so far durable (one fsync for the whole group).
    pub fn flush(&mut self) -> Result<(), JournalError> {
        let r = self.file().and_then(|db| self.flush_in(&db));
        self.noted(r)
    }

    fn flush_in(&mut self, db: &Database) -> Result<(), JournalError> {
        let mut tx = db.begin_write().map_err(w)?;
        tx.set_durability(Durability::Immediate).map_err(w)?;
        tx.commit().map_err(w)?;
        {
            let mut d = self.durable.next.lock().unwrap_or_else(|p| p.into_inner());
            for (id, st) in &self.streams {
                d.insert(id.clone(), (st.next_seq, st.class));
            }
        }
        self.durable.changed.send_modify(|g| *g += 1);
        Ok(())
    }

    pub fn stats(&self) -> Vec<StreamStats> {
        let Ok(rx) = self.db.get().and_then(|db| Ok(db.begin_read()?)) else {
            return Vec::new();
        };
        let mut out: Vec<StreamStats> = self
            .streams
            .iter()
            .map(|(id, st)| {
                let (first, last) = match rx.open_table(st.def()) {
                    Ok(t) => (
                        t.first().ok().flatten().map(|(k, _)| k.value()),
                        t.last().ok().flatten().map(|(k, _)| k.value()),
                    ),
                    Err(_) => (None, None),
                };
                StreamStats {
                    stream: id.to_string(),
                    class: st.class,
                    first_seq: first,
                    last_seq: last,
                    records: match (first, last) {
                        (Some(f), Some(l)) => l - f + 1,
                        _ => 0,
                    },
                    bytes: st.bytes,
                }
            })
            .collect();
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        out
    }

    pub fn size_on_disk(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// Reads records of one stream from `from_seq` on, in order.
    pub fn read(
        &self,
        stream: &StreamId,
        from_seq: u64,
    ) -> Result<impl Iterator<Item = Result<Record, JournalError>> + '_, JournalError> {
        let st = self
            .streams
            .get(stream)
            .ok_or_else(|| JournalError::NoStream(stream.to_string()))?;
        let rx = self.db.get().map_err(w)?.begin_read().map_err(w)?;
        let table = rx.open_table(st.def()).map_err(w)?;
        let range = table.range(from_seq..).map_err(w)?;
        let name = stream.to_string();
        let stream = stream.clone();
        let mut errors = RunErrors::new(&self.wall, self.run);
        Ok(range.map(move |kv| {
            let (k, v) = kv.map_err(w)?;
            let seq = k.value();
            let (ts_ns, payload, mark) = decode_value(&name, seq, v.value())?;
            Ok(Record {
                device: self.device.clone(),
                stream: stream.clone(),
                seq,
                ts_ns,
                payload,
                clock: mark.map(|m| m.note(ts_ns, |run| errors.get(&rx, run))),
            })
        }))
    }

    /// The oldest record of a stream: (seq, ts_ns, encoded size).
    pub fn oldest(&self, stream: &StreamId) -> Option<(u64, i64, u64)> {
        let st = self.streams.get(stream)?;
        let rx = self.db.get().ok()?.begin_read().ok()?;
        let t = rx.open_table(st.def()).ok()?;
        let (k, v) = t.first().ok()??;
        let seq = k.value();
        let ts = foodflow_protocol::stored::ts_of(v.value())?;
        Some((seq, ts, v.value().len() as u64 + 8))
    }

    /// What retention sees of every stream; `cutoff` gives a class's age cutoff on the
    /// journal clock ([`super::retention::age_cutoff`]).
    pub fn retention_views(
        &self,
        cutoff: impl Fn(PriorityClass) -> Option<u64>,
    ) -> Result<Vec<StreamView>, JournalError> {
        let rx = self.db.get().map_err(w)?.begin_read().map_err(w)?;
        let arrivals = rx.open_table(ARRIVALS).map_err(w)?;
        let mut views = Vec::with_capacity(self.streams.len());
        for (id, st) in &self.streams {
            let first_seq = match rx.open_table(st.def()) {
                Ok(t) => t
                    .first()
                    .map_err(w)?
                    .map_or(st.next_seq, |(k, _)| k.value()),
                Err(redb::TableError::TableDoesNotExist(_)) => st.next_seq,
                Err(e) => return Err(w(e)),
            };
            let confirmed_below = if self.upstream {
                self.durable.confirmed_below(id).min(st.next_seq)
            } else {
                st.next_seq
            };
            let name = id.as_str();
            // Records below a minute's row arrived before that minute ended.
            let aged_below = match cutoff(st.class).map(|c| c / MINUTE_NS) {
                Some(end) if end > 0 => arrivals
                    .range((name, 0)..=(name, end - 1))
                    .map_err(w)?
                    .next_back()
                    .transpose()
                    .map_err(w)?
                    .map_or(0, |(_, below)| below.value()),
                _ => 0,
            };
            let oldest_arrival_ns = arrivals
                .range((name, 0)..=(name, u64::MAX))
                .map_err(w)?
                .next()
                .transpose()
                .map_err(w)?
                .map_or(u64::MAX, |(k, _)| k.value().1.saturating_mul(MINUTE_NS));
            views.push(StreamView {
                stream: id.clone(),
                class: st.class,
                bytes: st.bytes,
                first_seq,
                next_seq: st.next_seq,
                confirmed_below,
                aged_below,
                oldest_arrival_ns,
            });
        }
        Ok(views)
    }

    /// Persists the confirmed positions the uplink reported since the last call, so that a
    /// restart before the next hop answers again still knows what may be dropped.
    pub fn save_confirmed(&mut self) -> Result<(), JournalError> {
        let r = self.file().and_then(|db| self.save_confirmed_in(&db));
        self.noted(r)
    }

    fn save_confirmed_in(&mut self, db: &Database) -> Result<(), JournalError> {
        let changed: Vec<(StreamId, u64)> = self
            .streams
            .iter()
            .map(|(id, st)| (id, st, self.durable.confirmed_below(id)))
            .filter(|(_, st, c)| *c > st.confirmed_saved)
            .map(|(id, _, c)| (id.clone(), c))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let mut tx = db.begin_write().map_err(w)?;
        tx.set_durability(Durability::None).map_err(w)?;
        {
            let mut meta = tx.open_table(META).map_err(w)?;
            for (id, c) in &changed {
                meta.insert(
                    format!("confirmed:{id}").as_str(),
                    c.to_be_bytes().as_slice(),
                )
                .map_err(w)?;
            }
        }
        tx.commit().map_err(w)?;
        for (id, c) in changed {
            if let Some(st) = self.streams.get_mut(&id) {
                st.confirmed_saved = c;
            }
        }
        Ok(())
    }

    /// Removes the oldest records of a stream with `seq < below_seq` (at most `max` of them,
    /// and never more than `max_bytes`), with the arrival marks only they used.
    pub fn prune_front(
        &mut self,
        stream: &StreamId,
        below_seq: u64,
        max: usize,
        max_bytes: u64,
    ) -> Result<Option<Pruned>, JournalError> {
        let r = self
            .file()
            .and_then(|db| self.prune_front_in(&db, stream, below_seq, max, max_bytes));
        self.noted(r)
    }

    fn prune_front_in(
        &mut self,
        db: &Database,
        stream: &StreamId,
        below_seq: u64,
        max: usize,
        max_bytes: u64,
    ) -> Result<Option<Pruned>, JournalError> {
        let Some(st) = self.streams.get(stream) else {
            return Ok(None);
        };
        let (mut first, mut last, mut n, mut bytes, mut last_ts) = (0, 0, 0u64, 0u64, 0i64);
        let mut victims = Vec::new();
        {
            let rx = db.begin_read().map_err(w)?;
            let t = rx.open_table(st.def()).map_err(w)?;
            for kv in t.range(..below_seq).map_err(w)?.take(max) {
                if bytes >= max_bytes {
                    break;
                }
                let (k, v) = kv.map_err(w)?;
                let seq = k.value();
                let ts = foodflow_protocol::stored::ts_of(v.value()).unwrap_or(i64::MIN);
                if n == 0 {
                    first = seq;
                }
                last = seq;
                last_ts = ts;
                n += 1;
                bytes += v.value().len() as u64 + 8;
                victims.push(seq);
            }
        }
        if n == 0 {
            return Ok(None);
        }
        let held = st.bytes.saturating_sub(bytes);
        let mut tx = db.begin_write().map_err(w)?;
        tx.set_durability(Durability::None).map_err(w)?;
        {
            let mut t = tx.open_table(st.def()).map_err(w)?;
            for seq in &victims {
                t.remove(*seq).map_err(w)?;
            }
            // Minutes whose records are all gone.
            let mut arrivals = tx.open_table(ARRIVALS).map_err(w)?;
            let name = stream.as_str();
            let mut stale = Vec::new();
            for kv in arrivals.range((name, 0)..=(name, u64::MAX)).map_err(w)? {
                let (k, below) = kv.map_err(w)?;
                if below.value() > last.saturating_add(1) {
                    break;
                }
                stale.push(k.value().1);
            }
            for minute in stale {
                arrivals.remove((name, minute)).map_err(w)?;
            }
            let mut meta = tx.open_table(META).map_err(w)?;
            meta.insert(
                format!("bytes:{stream}").as_str(),
                held.to_be_bytes().as_slice(),
            )
            .map_err(w)?;
        }
        tx.commit().map_err(w)?;
        if let Some(st) = self.streams.get_mut(stream) {
            st.bytes = held;
        }
        Ok(Some(Pruned {
            first,
            last,
            count: n,
            last_ts_ns: last_ts,
        }))
    }
}

/// Journals written before arrivals were kept: their records count as arrived in minute 0 of
/// the journal clock, so they age from the first run of this version on.
fn adopt_records_without_arrival(
    db: &Database,
    streams: &HashMap<StreamId, StreamState>,
) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    {
        let mut arrivals = tx.open_table(ARRIVALS)?;
        for (id, st) in streams {
            let name = id.as_str();
            let known = arrivals
                .range((name, 0)..=(name, u64::MAX))?
                .next()
                .is_some();
            if !known && st.next_seq > 1 {
                arrivals.insert((name, 0), st.next_seq)?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// The journal clock the file last persisted (0 for a new journal or one older than it).
/// Counts this opening of the journal as a new run and returns its number.
fn next_run(db: &Database) -> Result<u64, redb::Error> {
    let tx = db.begin_write()?;
    let run = {
        let mut meta = tx.open_table(META)?;
        let last = meta
            .get(RUNS_KEY)?
            .and_then(|v| v.value().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        let run = last.saturating_add(1);
        meta.insert(RUNS_KEY, run.to_be_bytes().as_slice())?;
        run
    };
    tx.commit()?;
    Ok(run)
}

fn read_clock(db: &Database) -> Result<u64, redb::Error> {
    let rx = db.begin_read()?;
    let meta = rx.open_table(META)?;
    Ok(meta
        .get(CLOCK_KEY)?
        .and_then(|v| v.value().try_into().ok())
        .map_or(0, u64::from_be_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(n: u64) -> (i64, Payload) {
        (
            n as i64,
            Payload::Trace {
                epcis: format!("e{n}"),
            },
        )
    }

    #[test]
    fn advance_moves_seq_up_durably_and_the_first_append_fixes_the_class() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.redb");
        let s = StreamId::new("lots").unwrap();
        {
            let mut st = Store::open(&path, DeviceId::new("d").unwrap()).unwrap();
            assert_eq!(st.advance(&s, 501).unwrap(), Some(1));
            assert_eq!(st.advance(&s, 10).unwrap(), None, "never down");
        }
        let mut st = Store::open(&path, DeviceId::new("d").unwrap()).unwrap();
        assert_eq!(st.streams[&s].next_seq, 501, "survives a reopen");
        let first = st
            .append(&s, PriorityClass::Critical, &[trace(1), trace(2)])
            .unwrap();
        st.flush().unwrap();
        assert_eq!(first, 501);
        assert_eq!(st.streams[&s].class, PriorityClass::Critical);
        drop(st);
        let st = Store::open(&path, DeviceId::new("d").unwrap()).unwrap();
        assert_eq!(st.streams[&s].class, PriorityClass::Critical);
        assert_eq!(st.streams[&s].next_seq, 503);
        let seqs: Vec<u64> = st.read(&s, 0).unwrap().map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs, vec![501, 502]);
    }

    #[test]
    fn records_stamped_in_doubt_are_flagged_and_re_based_once_the_error_is_known() {
        use super::super::clock::WallState;
        const S: i64 = 1_000_000_000;
        let true_now = 1_796_000_000 * S;
        let boot = 86_400 * S;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.redb");
        let s = StreamId::new("mqtt/a").unwrap();
        let ev = |ts: i64| (ts, trace(0).1);
        let mut st = Store::open(&path, DeviceId::new("d").unwrap()).unwrap();
        st.append(&s, PriorityClass::Critical, &[ev(true_now - 10 * S)])
            .unwrap();
        // Then a restart at 1970: a run whose clock is wrong and the error unknown.
        drop(st);
        let mut st = Store::open(&path, DeviceId::new("d").unwrap()).unwrap();
        st.wall()
            .observe(WallState::Unknown, boot, std::time::Instant::now());
        st.append(&s, PriorityClass::Critical, &[ev(boot), ev(boot + 1)])
            .unwrap();
        st.flush().unwrap();
        let reader = st.reader();
        let rows = |r: &JournalReader| r.read(&s, 1, 10, 10, 1 << 20).unwrap().0;
        let clocks: Vec<_> = rows(&reader).iter().map(|r| r.clock).collect();
        assert_eq!(clocks[0], None, "stamped while trusted");
        assert!(clocks[1].unwrap().untrusted);
        assert_eq!(clocks[1].unwrap().corrected_ts_ns, None, "not known yet");
        // NTP sets the clock: the error of this run is known, and persisted with the next
        // commit, so that it holds after a restart too.
        let by = true_now - boot;
        st.wall().set_since_start(by);
        st.wall()
            .observe(WallState::Trusted, true_now, std::time::Instant::now());
        st.append(&s, PriorityClass::Critical, &[ev(true_now)])
            .unwrap();
        st.flush().unwrap();
        let check = |r: &JournalReader| {
            let rows = rows(r);
            assert_eq!(rows.len(), 4);
            assert_eq!(rows[1].clock.unwrap().corrected_ts_ns, Some(true_now));
            assert_eq!(rows[2].clock.unwrap().corrected_ts_ns, Some(true_now + 1));
            assert_eq!(rows[3].clock, None);
        };
        check(&reader);
        drop((st, reader));
        let st = Store::open(&path, DeviceId::new("d").unwrap()).unwrap();
        check(&st.reader());
        let via_dump: Vec<_> = st.read(&s, 0).unwrap().map(|r| r.unwrap().clock).collect();
        assert_eq!(via_dump[1].unwrap().corrected_ts_ns, Some(true_now));
    }
}
