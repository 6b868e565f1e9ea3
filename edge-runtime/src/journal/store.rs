//! The journal store on sled: one tree per stream keyed by big-endian `seq`, so a tree scan is
//! the stream in order and the last key gives the next `seq` after a restart.

use std::collections::HashMap;
use std::path::Path;

use foodflow_protocol::{DeviceId, Payload, PriorityClass, Record, StreamId};

const STREAM_PREFIX: &str = "stream:";

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
const META_TREE: &str = "meta";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal at {path}: cannot open the store: {source}; check that the directory is writable \
         and no other foodflow-edge uses it"
    )]
    Open { path: String, source: sled::Error },
    #[error("journal write failed (nothing was acknowledged): {0}; check free disk space")]
    Write(#[from] sled::Error),
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

/// What is kept of a stream in memory.
pub struct StreamState {
    pub tree: sled::Tree,
    pub class: PriorityClass,
    pub next_seq: u64,
    /// Approximate encoded bytes held (persisted at each group commit, rebuilt on open).
    pub bytes: u64,
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
    db: sled::Db,
    meta: sled::Tree,
    device: DeviceId,
    pub streams: HashMap<StreamId, StreamState>,
}

fn encode_value(ts_ns: i64, payload: &Payload) -> Vec<u8> {
    let body = payload.encode();
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&ts_ns.to_be_bytes());
    v.extend_from_slice(&body);
    v
}

fn decode_value(stream: &str, seq: u64, v: &[u8]) -> Result<(i64, Payload), JournalError> {
    let corrupt = |why: String| JournalError::Corrupt {
        stream: stream.to_owned(),
        seq,
        why,
    };
    if v.len() < 8 {
        return Err(corrupt(format!(
            "value is {} bytes, shorter than its header",
            v.len()
        )));
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&v[..8]);
    let payload = Payload::decode(&v[8..]).map_err(|e| corrupt(e.to_string()))?;
    Ok((i64::from_be_bytes(ts), payload))
}

fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[8 - n..].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

impl Store {
    pub fn open(path: &Path, device: DeviceId) -> Result<Self, JournalError> {
        let open_err = |source| JournalError::Open {
            path: path.display().to_string(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(16 << 20)
            // Group commit flushes explicitly; the background flusher only adds latency.
            .flush_every_ms(None)
            .open()
            .map_err(open_err)?;
        let meta = db.open_tree(META_TREE).map_err(open_err)?;
        let mut streams = HashMap::new();
        for name in db.tree_names() {
            let Some(stream) = name.strip_prefix(STREAM_PREFIX.as_bytes()) else {
                continue;
            };
            let stream = String::from_utf8_lossy(stream).into_owned();
            let Ok(id) = StreamId::new(stream.clone()) else {
                continue;
            };
            let tree = db.open_tree(&name).map_err(open_err)?;
            let next_seq = match tree.last().map_err(open_err)? {
                Some((k, _)) => seq_of(&k) + 1,
                None => Self::meta_u64(&meta, &format!("next:{stream}")).unwrap_or(1),
            };
            let class = meta
                .get(format!("class:{stream}"))
                .map_err(open_err)?
                .and_then(|v| postcard::from_bytes(&v).ok())
                .unwrap_or(PriorityClass::Telemetry);
            let bytes = Self::meta_u64(&meta, &format!("bytes:{stream}")).unwrap_or(0);
            streams.insert(
                id,
                StreamState {
                    tree,
                    class,
                    next_seq,
                    bytes,
                },
            );
        }
        Ok(Self {
            db,
            meta,
            device,
            streams,
        })
    }

    fn meta_u64(meta: &sled::Tree, key: &str) -> Option<u64> {
        let v = meta.get(key).ok()??;
        Some(u64::from_be_bytes(v.as_ref().try_into().ok()?))
    }

    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    fn stream_mut(
        &mut self,
        stream: &StreamId,
        class: PriorityClass,
    ) -> Result<&mut StreamState, JournalError> {
        if !self.streams.contains_key(stream) {
            let tree = self.db.open_tree(format!("{STREAM_PREFIX}{stream}"))?;
            self.meta.insert(
                format!("class:{stream}"),
                postcard::to_stdvec(&class).unwrap_or_default(),
            )?;
            self.streams.insert(
                stream.clone(),
                StreamState {
                    tree,
                    class,
                    next_seq: 1,
                    bytes: 0,
                },
            );
        }
        self.streams
            .get_mut(stream)
            .ok_or_else(|| JournalError::NoStream(stream.to_string()))
    }

    /// Appends records to one stream atomically and returns the first seq given. Not durable
    /// until [`Store::flush`].
    pub fn append(
        &mut self,
        stream: &StreamId,
        class: PriorityClass,
        items: &[(i64, Payload)],
    ) -> Result<u64, JournalError> {
        let mut r = self.append_group(&[(stream, class, items)])?;
        r.pop()
            .ok_or_else(|| JournalError::NoStream(stream.to_string()))
    }

    /// Appends several requests at once with one sled batch per stream (the cost of a batch,
    /// not of a record, dominates small appends). Returns the first seq of each request, in
    /// request order. A stream whose batch fails keeps its `seq` where it was.
    pub fn append_group(&mut self, reqs: &[AppendReq<'_>]) -> Result<Vec<u64>, JournalError> {
        let mut firsts = Vec::with_capacity(reqs.len());
        let mut batches: Vec<(StreamId, sled::Batch, u64, u64)> = Vec::new();
        for (stream, class, items) in reqs {
            let next = match batches.iter().position(|b| &b.0 == *stream) {
                Some(i) => batches[i].2,
                None => self.stream_mut(stream, *class)?.next_seq,
            };
            let i = match batches.iter().position(|b| &b.0 == *stream) {
                Some(i) => i,
                None => {
                    batches.push(((*stream).clone(), sled::Batch::default(), next, 0));
                    batches.len() - 1
                }
            };
            let entry = &mut batches[i];
            firsts.push(entry.2);
            for (ts, payload) in items.iter() {
                let v = encode_value(*ts, payload);
                entry.3 += v.len() as u64 + 8;
                entry.1.insert(&entry.2.to_be_bytes(), v);
                entry.2 += 1;
            }
        }
        for (stream, batch, next, bytes) in batches {
            let st = self.stream_mut(&stream, PriorityClass::Telemetry)?;
            st.tree.apply_batch(batch)?;
            st.next_seq = next;
            st.bytes += bytes;
        }
        Ok(firsts)
    }

    /// Makes everything appended so far durable (one fsync for the whole group).
    pub fn flush(&mut self, touched: &[StreamId]) -> Result<usize, JournalError> {
        for s in touched {
            if let Some(st) = self.streams.get(s) {
                self.meta
                    .insert(format!("bytes:{s}"), &st.bytes.to_be_bytes())?;
                self.meta
                    .insert(format!("next:{s}"), &st.next_seq.to_be_bytes())?;
            }
        }
        Ok(self.db.flush()?)
    }

    pub fn stats(&self) -> Vec<StreamStats> {
        let mut out: Vec<StreamStats> = self
            .streams
            .iter()
            .map(|(id, st)| {
                let first = st.tree.first().ok().flatten().map(|(k, _)| seq_of(&k));
                let last = st.tree.last().ok().flatten().map(|(k, _)| seq_of(&k));
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
        self.db.size_on_disk().unwrap_or(0)
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
        let name = stream.to_string();
        let stream = stream.clone();
        Ok(st.tree.range(from_seq.to_be_bytes()..).map(move |kv| {
            let (k, v) = kv?;
            let seq = seq_of(&k);
            let (ts_ns, payload) = decode_value(&name, seq, &v)?;
            Ok(Record {
                device: self.device.clone(),
                stream: stream.clone(),
                seq,
                ts_ns,
                payload,
            })
        }))
    }

    /// The oldest record of a stream: (seq, ts_ns, encoded size).
    pub fn oldest(&self, stream: &StreamId) -> Option<(u64, i64, u64)> {
        let st = self.streams.get(stream)?;
        let (k, v) = st.tree.first().ok()??;
        let ts = decode_value(stream.as_str(), seq_of(&k), &v)
            .map(|x| x.0)
            .ok()?;
        Some((seq_of(&k), ts, v.len() as u64 + 8))
    }

    /// Removes the oldest records of a stream with `ts < before_ns` (at most `max` of them, and
    /// never more than `max_bytes`).
    pub fn prune_front(
        &mut self,
        stream: &StreamId,
        before_ns: i64,
        max: usize,
        max_bytes: u64,
    ) -> Result<Option<Pruned>, JournalError> {
        let Some(st) = self.streams.get_mut(stream) else {
            return Ok(None);
        };
        let mut batch = sled::Batch::default();
        let (mut first, mut last, mut n, mut bytes, mut last_ts) = (0, 0, 0u64, 0u64, 0i64);
        for kv in st.tree.iter().take(max) {
            let (k, v) = kv?;
            let seq = seq_of(&k);
            // Keep the newest record: it carries the stream's next seq across restarts.
            if seq + 1 >= st.next_seq || bytes >= max_bytes {
                break;
            }
            let ts = decode_value(stream.as_str(), seq, &v)
                .map(|x| x.0)
                .unwrap_or(i64::MIN);
            if ts >= before_ns {
                break;
            }
            if n == 0 {
                first = seq;
            }
            last = seq;
            last_ts = ts;
            n += 1;
            bytes += v.len() as u64 + 8;
            batch.remove(k);
        }
        if n == 0 {
            return Ok(None);
        }
        st.tree.apply_batch(batch)?;
        st.bytes = st.bytes.saturating_sub(bytes);
        Ok(Some(Pruned {
            first,
            last,
            count: n,
            last_ts_ns: last_ts,
        }))
    }
}
