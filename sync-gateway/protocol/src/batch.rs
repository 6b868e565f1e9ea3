//! The sync batch: what one hop uploads to the next in one request, and the answer it gets.
//!
//! Wire form:
//!
//! ```text
//! "FFSB" | version u8 | flags u8 | reserved u16 (0) | body_len u32 LE | body
//! body = zstd( postcard( Vec<Segment> ) )          flags bit 0 = zstd
//! ```
//!
//! Version 2 adds a [`ClockNote`] to each entry. A batch none of whose records has a note is
//! written as version 1, byte for byte as before, so a sender only needs a newer receiver for
//! records whose time is in doubt; the decoder reads both.
//!
//! `body_len` is the size of the decompressed body, so the decoder knows before it inflates
//! anything whether the batch is within [`Limits`]; a zip bomb or a lying header is an error,
//! never an allocation. The decoder returns errors for every malformed input and never panics
//! (property tests and the `decode_batch` fuzz target hold it to that).

use serde::{Deserialize, Serialize};

use crate::{ClockNote, DeviceId, Payload, PriorityClass, Record, StreamId};

pub const MAGIC: [u8; 4] = *b"FFSB";
/// The newest version this build writes and reads (it reads every older one too).
pub const VERSION: u8 = 2;
const HEADER_LEN: usize = 12;
const FLAG_ZSTD: u8 = 0b1;

/// The media type of an encoded batch in HTTP requests.
pub const CONTENT_TYPE: &str = "application/vnd.foodflow.batch.v1";

/// What a receiver accepts; larger input is refused before it is decompressed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed body.
    pub max_body_bytes: usize,
    /// Most records in one batch.
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
            max_records: 1_000_000,
        }
    }
}

/// One record of a segment: everything but the stream, which the segment names once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub ts_ns: i64,
    pub payload: Payload,
    /// Only where the record's time is in doubt (version 2).
    pub clock: Option<ClockNote>,
}

impl Entry {
    /// An entry whose time is not in doubt.
    pub fn new(seq: u64, ts_ns: i64, payload: Payload) -> Self {
        Self {
            seq,
            ts_ns,
            payload,
            clock: None,
        }
    }
}

/// Version 1 of the body, without clock notes: written by reference, read into [`Segment`].
mod v1 {
    use serde::ser::{SerializeSeq, SerializeTuple};
    use serde::{Deserialize, Serialize, Serializer};

    use crate::{DeviceId, Payload, PriorityClass, StreamId};

    pub struct Body<'a>(pub &'a [super::Segment]);

    impl Serialize for Body<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len()))?;
            for seg in self.0 {
                seq.serialize_element(&(
                    &seg.device,
                    &seg.stream,
                    &seg.class,
                    Entries(&seg.entries),
                ))?;
            }
            seq.end()
        }
    }

    struct Entries<'a>(&'a [super::Entry]);

    impl Serialize for Entries<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len()))?;
            for e in self.0 {
                seq.serialize_element(&Entry(e))?;
            }
            seq.end()
        }
    }

    struct Entry<'a>(&'a super::Entry);

    impl Serialize for Entry<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_tuple(3)?;
            t.serialize_element(&self.0.seq)?;
            t.serialize_element(&self.0.ts_ns)?;
            t.serialize_element(&self.0.payload)?;
            t.end()
        }
    }

    #[derive(Deserialize)]
    pub struct Segment {
        device: DeviceId,
        stream: StreamId,
        class: PriorityClass,
        entries: Vec<V1Entry>,
    }

    /// An entry read straight into its current form, so that the conversion below reuses the
    /// vector (measured: converting a vector of tuples afterwards made decoding up to twice as
    /// slow).
    struct V1Entry(super::Entry);

    impl<'de> Deserialize<'de> for V1Entry {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let (seq, ts_ns, payload) = <(u64, i64, Payload)>::deserialize(d)?;
            Ok(Self(super::Entry::new(seq, ts_ns, payload)))
        }
    }

    impl From<Segment> for super::Segment {
        fn from(s: Segment) -> Self {
            Self {
                device: s.device,
                stream: s.stream,
                class: s.class,
                entries: s.entries.into_iter().map(|e| e.0).collect(),
            }
        }
    }
}

/// Consecutive records of one stream, in increasing `seq` (not necessarily contiguous: a hop
/// that dropped records under its quota says so with a `Gap` record of its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub device: DeviceId,
    pub stream: StreamId,
    pub class: PriorityClass,
    pub entries: Vec<Entry>,
}

/// What one upload carries: segments of any number of streams and devices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub segments: Vec<Segment>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch is {0} bytes, shorter than its 12-byte header (truncated upload?)")]
    Truncated(usize),
    #[error("batch does not start with \"FFSB\" (got {0:02x?}): not a FoodFlow sync batch")]
    BadMagic([u8; 4]),
    #[error(
        "batch version {0} is not supported (this build reads versions 1 to {VERSION}); upgrade the receiver"
    )]
    Version(u8),
    #[error("batch header has unknown flags {0:#04x} or a non-zero reserved field")]
    Flags(u8),
    #[error("batch body declares {declared} bytes, more than the limit of {limit}")]
    TooLarge { declared: usize, limit: usize },
    #[error("batch body does not decompress: {0}")]
    Zstd(String),
    #[error("batch body is {actual} bytes, its header says {declared} (corrupt or truncated)")]
    Length { declared: usize, actual: usize },
    #[error("batch body is malformed: {0}")]
    Body(String),
    #[error("batch holds {count} records, more than the limit of {limit}")]
    TooManyRecords { count: usize, limit: usize },
    #[error(
        "batch segment {device}/{stream}: seq {seq} follows {prev}; records of a stream must \
         be in increasing seq order"
    )]
    Order {
        device: String,
        stream: String,
        prev: u64,
        seq: u64,
    },
}

impl Batch {
    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.entries.is_empty())
    }

    /// The records, in segment order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.segments.iter().flat_map(|s| {
            s.entries.iter().map(move |e| Record {
                device: s.device.clone(),
                stream: s.stream.clone(),
                seq: e.seq,
                ts_ns: e.ts_ns,
                payload: e.payload.clone(),
                clock: e.clock,
            })
        })
    }

    /// Encodes with zstd at `level` (1 is fast and already shrinks telemetry 5–10×).
    pub fn encode(&self, level: i32) -> Vec<u8> {
        // postcard cannot fail on these types (see `Payload::encode`).
        let noted = self
            .segments
            .iter()
            .any(|s| s.entries.iter().any(|e| e.clock.is_some()));
        let (version, body) = if noted {
            (VERSION, postcard::to_stdvec(&self.segments))
        } else {
            (1, postcard::to_stdvec(&v1::Body(&self.segments)))
        };
        let body = body.unwrap_or_default();
        let packed = zstd::bulk::compress(&body, level);
        let (flags, data) = match packed {
            Ok(p) => (FLAG_ZSTD, p),
            Err(_) => (0, body.clone()),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + data.len());
        out.extend_from_slice(&MAGIC);
        out.push(version);
        out.push(flags);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, BatchError> {
        if bytes.len() < HEADER_LEN {
            return Err(BatchError::Truncated(bytes.len()));
        }
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != MAGIC {
            return Err(BatchError::BadMagic(magic));
        }
        let version = bytes[4];
        if !(1..=VERSION).contains(&version) {
            return Err(BatchError::Version(version));
        }
        let flags = bytes[5];
        if flags & !FLAG_ZSTD != 0 || bytes[6] != 0 || bytes[7] != 0 {
            return Err(BatchError::Flags(flags));
        }
        let declared = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        if declared > limits.max_body_bytes {
            return Err(BatchError::TooLarge {
                declared,
                limit: limits.max_body_bytes,
            });
        }
        let data = &bytes[HEADER_LEN..];
        let inflated;
        let body: &[u8] = if flags & FLAG_ZSTD != 0 {
            inflated = zstd::bulk::decompress(data, declared)
                .map_err(|e| BatchError::Zstd(e.to_string()))?;
            &inflated
        } else {
            data
        };
        if body.len() != declared {
            return Err(BatchError::Length {
                declared,
                actual: body.len(),
            });
        }
        let body_err = |e: postcard::Error| BatchError::Body(e.to_string());
        let (segments, rest): (Vec<Segment>, &[u8]) = if version == 1 {
            let (v1, rest): (Vec<v1::Segment>, &[u8]) =
                postcard::take_from_bytes(body).map_err(body_err)?;
            (v1.into_iter().map(Segment::from).collect(), rest)
        } else {
            postcard::take_from_bytes(body).map_err(body_err)?
        };
        if !rest.is_empty() {
            return Err(BatchError::Body(format!(
                "{} bytes left over after the last segment",
                rest.len()
            )));
        }
        let batch = Batch { segments };
        let count = batch.len();
        if count > limits.max_records {
            return Err(BatchError::TooManyRecords {
                count,
                limit: limits.max_records,
            });
        }
        batch.check_order()?;
        Ok(batch)
    }

    /// Every stream's records must come in increasing `seq`, across segments too.
    fn check_order(&self) -> Result<(), BatchError> {
        let mut last: std::collections::HashMap<(&DeviceId, &StreamId), u64> =
            std::collections::HashMap::new();
        for s in &self.segments {
            let prev = last.entry((&s.device, &s.stream)).or_insert(0);
            for e in &s.entries {
                if e.seq <= *prev {
                    return Err(BatchError::Order {
                        device: s.device.to_string(),
                        stream: s.stream.to_string(),
                        prev: *prev,
                        seq: e.seq,
                    });
                }
                *prev = e.seq;
            }
        }
        Ok(())
    }
}

/// The fuzz target's body (also run over the seed corpus by the tests): decoding never panics
/// and what decodes re-encodes to the same batch.
pub fn fuzz_decode(data: &[u8]) {
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_records: 100_000,
    };
    if let Ok(b) = Batch::decode(data, &limits) {
        // Compared as bytes: NaN floats never equal themselves, but their bits round-trip.
        let once = b.encode(1);
        match Batch::decode(&once, &limits) {
            Ok(again) => assert_eq!(again.encode(1), once, "re-encoded batch differs"),
            Err(e) => panic!("a batch we encoded does not decode: {e}"),
        }
    }
}

/// The committed high-water mark of one stream: every record at or below `seq` is stored
/// durably by the answering hop, and anything at or below it that arrives again is a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMark {
    pub device: DeviceId,
    pub stream: StreamId,
    pub seq: u64,
}

/// The answer to an upload (JSON): what was new, what was a duplicate, and the high-water mark
/// of every stream the batch touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAck {
    pub accepted: u64,
    pub duplicates: u64,
    pub marks: Vec<StreamMark>,
}

/// A refusal (JSON body of every 4xx/5xx answer of the sync API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRefusal {
    /// Stable machine-readable reason: `malformed`, `forbidden`, `backpressure`, `storage`.
    pub reason: String,
    pub message: String,
    /// For `backpressure`: when to try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Quality, Reading, Value};
    use proptest::prelude::*;

    fn reading(i: u64) -> Payload {
        Payload::Reading(Reading {
            tag: format!("line1.tag{}", i % 7),
            value: Value::Float(i as f64 * 0.5),
            quality: Quality::Good,
            status_code: 0,
            source_ts_ns: Some(i as i64),
            origin_id: Some(format!("m-{i}")),
        })
    }

    fn sample(n: u64) -> Batch {
        Batch {
            segments: vec![Segment {
                device: DeviceId::new("box-1").unwrap(),
                stream: StreamId::new("mqtt/json").unwrap(),
                class: PriorityClass::Telemetry,
                entries: (1..=n)
                    .map(|seq| Entry {
                        seq,
                        ts_ns: seq as i64 * 1000,
                        payload: reading(seq),
                        clock: None,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn roundtrip_and_compression() {
        let b = sample(1000);
        let bytes = b.encode(1);
        let raw = postcard::to_stdvec(&b.segments).unwrap().len();
        assert!(bytes.len() * 3 < raw, "zstd: {} of {raw}", bytes.len());
        assert_eq!(Batch::decode(&bytes, &Limits::default()).unwrap(), b);
        assert_eq!(b.records().count(), 1000);
    }

    #[test]
    fn a_batch_without_clock_notes_is_version_1_as_before_and_with_one_version_2() {
        let b = sample(50);
        let bytes = b.encode(1);
        assert_eq!(bytes[4], 1);
        // Version 1's body is what the entries were before notes: (seq, ts_ns, payload).
        #[derive(Serialize)]
        struct OldSegment<'a> {
            device: &'a DeviceId,
            stream: &'a StreamId,
            class: PriorityClass,
            entries: Vec<(u64, i64, &'a Payload)>,
        }
        let s = &b.segments[0];
        let old = vec![OldSegment {
            device: &s.device,
            stream: &s.stream,
            class: s.class,
            entries: s
                .entries
                .iter()
                .map(|e| (e.seq, e.ts_ns, &e.payload))
                .collect(),
        }];
        let old_body = postcard::to_stdvec(&old).unwrap();
        let inflated = zstd::bulk::decompress(&bytes[HEADER_LEN..], 1 << 20).unwrap();
        assert_eq!(inflated, old_body);

        let mut noted = b.clone();
        noted.segments[0].entries[3].clock = Some(ClockNote {
            untrusted: true,
            corrected_ts_ns: Some(42),
            ..ClockNote::default()
        });
        let bytes = noted.encode(1);
        assert_eq!(bytes[4], 2);
        let back = Batch::decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(back, noted);
        let r: Vec<Record> = back.records().collect();
        assert_eq!(r[3].clock.and_then(|c| c.corrected_ts_ns), Some(42));
        assert_eq!(r[3].edge_time(), Some(42));
        assert_eq!(r[2].clock, None);
    }

    #[test]
    fn header_errors_are_precise() {
        let bytes = sample(3).encode(1);
        let l = Limits::default();
        assert_eq!(
            Batch::decode(&bytes[..5], &l),
            Err(BatchError::Truncated(5))
        );
        let mut v = bytes.clone();
        v[4] = 9;
        assert_eq!(Batch::decode(&v, &l), Err(BatchError::Version(9)));
        let mut v = bytes.clone();
        v[0] = b'X';
        assert!(matches!(
            Batch::decode(&v, &l),
            Err(BatchError::BadMagic(_))
        ));
        let small = Limits {
            max_body_bytes: 10,
            ..l
        };
        assert!(matches!(
            Batch::decode(&bytes, &small),
            Err(BatchError::TooLarge { .. })
        ));
        let few = Limits {
            max_records: 2,
            ..l
        };
        assert!(matches!(
            Batch::decode(&bytes, &few),
            Err(BatchError::TooManyRecords { count: 3, .. })
        ));
        // Truncated body: zstd or length error, never a panic.
        assert!(Batch::decode(&bytes[..bytes.len() - 3], &l).is_err());
    }

    #[test]
    fn header_that_lies_about_length_is_refused() {
        let mut v = sample(10).encode(1);
        let declared = u32::from_le_bytes([v[8], v[9], v[10], v[11]]);
        v[8..12].copy_from_slice(&(declared + 1).to_le_bytes());
        assert!(Batch::decode(&v, &Limits::default()).is_err());
        v[8..12].copy_from_slice(&(declared - 1).to_le_bytes());
        assert!(Batch::decode(&v, &Limits::default()).is_err());
    }

    #[test]
    fn out_of_order_stream_is_refused() {
        let mut b = sample(3);
        b.segments[0].entries.swap(0, 2);
        let err = Batch::decode(&b.encode(1), &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                BatchError::Order {
                    prev: 3,
                    seq: 2,
                    ..
                }
            ),
            "{err}"
        );
        // The same stream split over two segments must still ascend.
        let mut b = sample(2);
        let again = b.segments[0].clone();
        b.segments.push(again);
        assert!(Batch::decode(&b.encode(1), &Limits::default()).is_err());
    }

    #[test]
    fn uncompressed_bodies_are_read_too() {
        let b = sample(5);
        let body = postcard::to_stdvec(&b.segments).unwrap();
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[VERSION, 0, 0, 0]);
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(&body);
        assert_eq!(Batch::decode(&v, &Limits::default()).unwrap(), b);
    }

    fn corpus_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_batch")
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        use crate::{Detection, Event, Gap, Rollup, Severity};
        let mut all = sample(20);
        let seg = |payload: Payload| Segment {
            device: DeviceId::new("box-2").unwrap(),
            stream: StreamId::new("kinds").unwrap(),
            class: PriorityClass::Operational,
            entries: vec![Entry {
                seq: 7,
                ts_ns: -1,
                payload,
                clock: None,
            }],
        };
        let kinds = vec![
            Payload::Event(Event {
                name: "line.state".into(),
                severity: Severity::Warning,
                message: "fault".into(),
            }),
            Payload::Detection(Detection {
                model: "defects".into(),
                version: "1".into(),
                boxes: vec![crate::BoundingBox {
                    x: 1.0,
                    y: 2.0,
                    w: 3.0,
                    h: 4.0,
                    class_id: 2,
                    score: 0.9,
                }],
                anomaly_score: Some(0.5),
                frame_ref: Some("frame-1".into()),
            }),
            Payload::Trace {
                epcis: "{\"type\":\"ObjectEvent\"}".into(),
            },
            Payload::Rollup(Rollup {
                tag: "t".into(),
                window_start_ns: 0,
                window_end_ns: 60_000_000_000,
                count: 3,
                min: 1.0,
                max: 2.0,
                mean: 1.5,
                stddev: 0.5,
                last: 2.0,
                revision: 0,
                late: 0,
            }),
            Payload::Gap(Gap {
                subject: "s".into(),
                from_ts_ns: 0,
                to_ts_ns: 1,
                reason: "test".into(),
                lost: Some(3),
            }),
            Payload::Audit {
                actor: "a".into(),
                action: "b".into(),
                detail: "c".into(),
            },
        ];
        for k in kinds {
            all.segments.push(seg(k));
        }
        let valid = all.encode(3);
        let raw_body = postcard::to_stdvec(&v1::Body(&all.segments)).unwrap();
        let mut raw = MAGIC.to_vec();
        raw.extend_from_slice(&[1, 0, 0, 0]);
        raw.extend_from_slice(&(raw_body.len() as u32).to_le_bytes());
        raw.extend_from_slice(&raw_body);
        let mut corrupt = valid.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x5a;
        let mut noted = all.clone();
        for (i, e) in noted.segments[0].entries.iter_mut().enumerate() {
            e.clock = (i % 3 == 0).then_some(ClockNote {
                untrusted: true,
                corrected_ts_ns: (i % 2 == 0).then_some(e.ts_ns - 5),
                received_ts_ns: None,
                outside_window: i % 2 == 1,
            });
        }
        vec![
            ("valid-zstd".into(), valid.clone()),
            ("valid-clock-notes".into(), noted.encode(3)),
            ("valid-raw".into(), raw.clone()),
            ("empty-batch".into(), Batch::default().encode(1)),
            ("truncated".into(), valid[..valid.len() - 7].to_vec()),
            ("raw-truncated".into(), raw[..raw.len() / 2].to_vec()),
            ("corrupt".into(), corrupt),
            ("header-only".into(), valid[..12].to_vec()),
        ]
    }

    /// Regenerates the seed corpus (run on purpose, see fuzz/README.md).
    #[test]
    #[ignore]
    fn write_seed_corpus() {
        let dir = corpus_dir();
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn fuzz_smoke_over_seed_corpus() {
        let ran = foodflow_fuzzkit::smoke(&corpus_dir(), 200, fuzz_decode);
        assert!(ran > 1000, "seed corpus too small: {ran} inputs");
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::Float),
            ".{0,40}".prop_map(Value::Text),
        ]
    }

    fn arb_payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            (".{0,30}", arb_value(), any::<u32>(), any::<Option<i64>>()).prop_map(
                |(tag, value, status_code, source_ts_ns)| Payload::Reading(Reading {
                    tag,
                    value,
                    quality: Quality::from_status_code(status_code),
                    status_code,
                    source_ts_ns,
                    origin_id: None,
                })
            ),
            ".{0,200}".prop_map(|epcis| Payload::Trace { epcis }),
            (".{0,20}", ".{0,20}", ".{0,60}").prop_map(|(actor, action, detail)| {
                Payload::Audit {
                    actor,
                    action,
                    detail,
                }
            }),
        ]
    }

    fn arb_segment() -> impl Strategy<Value = Segment> {
        (
            "[a-z0-9._-]{1,20}",
            "[a-z0-9./:]{1,30}",
            0usize..3,
            1u64..1_000_000,
            prop::collection::vec(
                (1u64..1000, any::<i64>(), arb_payload(), arb_clock()),
                0..40,
            ),
        )
            .prop_map(|(device, stream, class, start, items)| {
                let mut seq = start;
                Segment {
                    device: DeviceId::new(device).unwrap(),
                    stream: StreamId::new(stream).unwrap(),
                    class: PriorityClass::ALL[class],
                    entries: items
                        .into_iter()
                        .map(|(step, ts_ns, payload, clock)| {
                            seq += step;
                            Entry {
                                seq,
                                ts_ns,
                                payload,
                                clock,
                            }
                        })
                        .collect(),
                }
            })
    }

    /// Mostly no note (then the batch is version 1), sometimes any note.
    fn arb_clock() -> impl Strategy<Value = Option<ClockNote>> {
        prop_oneof![
            4 => Just(None),
            1 => (any::<bool>(), any::<Option<i64>>(), any::<Option<i64>>(), any::<bool>()).prop_map(
                |(untrusted, corrected_ts_ns, received_ts_ns, outside_window)| Some(ClockNote {
                    untrusted,
                    corrected_ts_ns,
                    received_ts_ns,
                    outside_window,
                })
            ),
        ]
    }

    proptest! {
        #[test]
        fn any_batch_roundtrips(segs in prop::collection::vec(arb_segment(), 0..5), level in 1i32..4) {
            let b = Batch { segments: segs };
            match Batch::decode(&b.encode(level), &Limits::default()) {
                Ok(back) => prop_assert_eq!(back, b),
                // Random segments may repeat a (device, stream): then order is checked.
                Err(BatchError::Order { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Batch::decode(&bytes, &Limits::default());
        }

        #[test]
        fn corrupted_batches_never_panic(pos in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096) {
            let mut v = sample(50).encode(1);
            let p = pos % v.len();
            v[p] = byte;
            v.truncate(v.len() - cut % v.len());
            let _ = Batch::decode(&v, &Limits::default());
            // A valid header over a raw (uncompressed) body lets corruption reach postcard.
            let body = postcard::to_stdvec(&sample(20).segments).unwrap();
            let mut raw = MAGIC.to_vec();
            raw.extend_from_slice(&[VERSION, 0, 0, 0]);
            let mut body2 = body.clone();
            let q = pos % body2.len();
            body2[q] = byte;
            raw.extend_from_slice(&(body2.len() as u32).to_le_bytes());
            raw.extend_from_slice(&body2);
            let _ = Batch::decode(&raw, &Limits::default());
        }
    }
}
