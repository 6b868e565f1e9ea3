use serde::{Deserialize, Serialize};

use crate::{DeviceId, StreamId};

/// One journaled fact. `(device, stream, seq)` is its idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub device: DeviceId,
    pub stream: StreamId,
    /// Gap-free per (device, stream), starting at 1, assigned at durable append.
    pub seq: u64,
    /// When the edge observed it, UTC nanoseconds since the Unix epoch, as the edge's clock
    /// said (the claimed time: see [`ClockNote`] for records whose clock was in doubt).
    pub ts_ns: i64,
    pub payload: Payload,
    /// Present only where the time is in doubt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockNote>,
}

impl Record {
    pub fn kind(&self) -> Kind {
        self.payload.kind()
    }

    /// The edge time to believe: re-based where the edge knows its error, `None` for a suspect
    /// time nobody could correct (docs/time.md).
    pub fn edge_time(&self) -> Option<i64> {
        ClockNote::time_to_believe(self.clock, self.ts_ns)
    }

    /// When the value was taken: the source's own time where it sends one, else the edge time
    /// to believe. Charts and forecasts filter and bucket by this one time.
    pub fn observed_time(&self) -> Option<i64> {
        match &self.payload {
            Payload::Reading(Reading {
                source_ts_ns: Some(t),
                ..
            }) => Some(*t),
            _ => self.edge_time(),
        }
    }
}

/// Why a record's edge time is in doubt, and what is known instead. The edge sets `untrusted`
/// (and `corrected_ts_ns` once it knows its clock's error); the hub sets `received_ts_ns` and
/// `outside_window` where the claimed time is too far from its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ClockNote {
    /// The edge's clock was not trusted when it stamped the record.
    #[serde(default)]
    pub untrusted: bool,
    /// The claimed time re-based onto the trusted timeline with the monotonic clock.
    #[serde(default)]
    pub corrected_ts_ns: Option<i64>,
    /// When the hub received the record (its own clock).
    #[serde(default)]
    pub received_ts_ns: Option<i64>,
    /// The claimed time (or the corrected one, where given) lay outside the hub's window.
    #[serde(default)]
    pub outside_window: bool,
}

impl ClockNote {
    /// Whether the claimed time must not be taken as true (`clock_suspect` in the API).
    pub fn suspect(&self) -> bool {
        self.untrusted || self.outside_window
    }

    /// The edge time to believe of a record claimed at `claimed_ns` with `note`: re-based
    /// where the edge knows its error, `None` for a suspect time nobody could correct.
    pub fn time_to_believe(note: Option<Self>, claimed_ns: i64) -> Option<i64> {
        match note {
            None => Some(claimed_ns),
            Some(c) if c.outside_window => None,
            Some(c) => c.corrected_ts_ns.or((!c.untrusted).then_some(claimed_ns)),
        }
    }
}

/// JSON readers get the verdict too (`clock_suspect`); the binary form keeps only the four
/// fields, in order.
impl Serialize for ClockNote {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let human = s.is_human_readable();
        let mut st = s.serialize_struct("ClockNote", if human { 5 } else { 4 })?;
        if human {
            st.serialize_field("clock_suspect", &self.suspect())?;
        }
        st.serialize_field("untrusted", &self.untrusted)?;
        st.serialize_field("corrected_ts_ns", &self.corrected_ts_ns)?;
        st.serialize_field("received_ts_ns", &self.received_ts_ns)?;
        st.serialize_field("outside_window", &self.outside_window)?;
        st.end()
    }
}

/// The record kinds of the wire contract. The kind is carried by the payload variant, so a
/// record can never claim one kind and carry another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Reading,
    Event,
    Detection,
    Trace,
    Rollup,
    Gap,
    Audit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// Externally tagged (`{"reading": {...}}`) so that the compact binary encoding, which is not
/// self-describing, and JSON share one representation.
#[serde(rename_all = "snake_case")]
pub enum Payload {
    Reading(Reading),
    Event(Event),
    Detection(Detection),
    /// An EPCIS 2.0 event document (JSON-LD), kept verbatim.
    Trace {
        epcis: String,
    },
    Rollup(Rollup),
    Gap(Gap),
    Audit {
        actor: String,
        action: String,
        detail: String,
    },
}

impl Payload {
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Reading(_) => Kind::Reading,
            Payload::Event(_) => Kind::Event,
            Payload::Detection(_) => Kind::Detection,
            Payload::Trace { .. } => Kind::Trace,
            Payload::Rollup(_) => Kind::Rollup,
            Payload::Gap(_) => Kind::Gap,
            Payload::Audit { .. } => Kind::Audit,
        }
    }

    /// Compact binary form used by the journal and the uplink.
    pub fn encode(&self) -> Vec<u8> {
        // postcard cannot fail on these types: no maps with non-string keys, no unsized seqs.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("record payload does not decode: {0}")]
pub struct DecodeError(pub String);

/// A tag value as the source sent it (tagged, so 1 and 1.0 stay distinct).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Bool(bool),
    Int(i64),
    /// NaN and ±Infinity keep their bits in the binary form and are spelled `"NaN"`,
    /// `"Infinity"`, `"-Infinity"` in JSON, which has no numbers for them.
    Float(#[serde(with = "json_float")] f64),
    Text(String),
    /// An unsigned 64-bit source type (OPC UA UInt64, Sparkplug UInt64): the full range,
    /// 2^63 and above included, which neither `Int` nor `Float` holds exactly. Last, so that
    /// journals and stores written before it read as before.
    #[serde(rename = "uint")]
    UInt(u64),
}

/// JSON's spelling of the floats it has no number for (as JavaScript's `JSON` and most
/// readers of it accept).
mod json_float {
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() || x.is_finite() {
            return s.serialize_f64(*x);
        }
        s.serialize_str(if x.is_nan() {
            "NaN"
        } else if x.is_sign_positive() {
            "Infinity"
        } else {
            "-Infinity"
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        if !d.is_human_readable() {
            return <f64 as serde::Deserialize>::deserialize(d);
        }
        struct Float;
        impl de::Visitor<'_> for Float {
            type Value = f64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                match v {
                    "NaN" => Ok(f64::NAN),
                    "Infinity" => Ok(f64::INFINITY),
                    "-Infinity" => Ok(f64::NEG_INFINITY),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(Float)
    }
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::UInt(u) => Some(*u as f64),
            Value::Text(_) => None,
        }
    }
}

/// OPC UA-style quality: the class plus the source's raw status code (0 = Good).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Good,
    Uncertain,
    Bad,
}

impl Quality {
    /// Classifies an OPC UA status code by its severity bits.
    pub fn from_status_code(code: u32) -> Self {
        match code >> 30 {
            0 => Quality::Good,
            1 => Quality::Uncertain,
            _ => Quality::Bad,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub tag: String,
    pub value: Value,
    pub quality: Quality,
    /// The source's raw status code (OPC UA StatusCode bits; 0 when the source has none).
    pub status_code: u32,
    /// When the source says the value was taken, UTC nanoseconds, if it says.
    pub source_ts_ns: Option<i64>,
    /// The source's own message id, where it sends one (lets a checker prove zero loss).
    pub origin_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Alarm,
    Critical,
}

/// A state change or alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub name: String,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub class_id: u32,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub model: String,
    pub version: String,
    pub boxes: Vec<BoundingBox>,
    pub anomaly_score: Option<f32>,
    pub frame_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub tag: String,
    pub window_start_ns: i64,
    pub window_end_ns: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// The value with the latest event time in the window.
    pub last: f64,
    /// 0 for the first emission; each correction by late records emits the window again with
    /// the next revision (the highest revision is the window's value).
    pub revision: u32,
    /// Late records folded into this window.
    pub late: u64,
}

/// An explicit marker where data was knowingly dropped or lost at the source: silence is never
/// a valid way to say "nothing arrived".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// What the gap concerns: a tag, a Sparkplug node, a connection, a dropped seq range.
    pub subject: String,
    pub from_ts_ns: i64,
    pub to_ts_ns: i64,
    pub reason: String,
    /// How many values are known to be missing, where that is known.
    pub lost: Option<u64>,
}

/// Priority classes with their own byte quotas (see the device profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityClass {
    /// Trace, quality, audit: never dropped.
    Critical,
    /// Events and detections.
    Operational,
    /// Readings: downsampled, then oldest dropped with a `Gap` record when a quota is hit.
    Telemetry,
}

impl PriorityClass {
    pub const ALL: [PriorityClass; 3] = [
        PriorityClass::Critical,
        PriorityClass::Operational,
        PriorityClass::Telemetry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PriorityClass::Critical => "critical",
            PriorityClass::Operational => "operational",
            PriorityClass::Telemetry => "telemetry",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Payload {
        Payload::Reading(Reading {
            tag: "oven.zone1.temp".into(),
            value: Value::Float(181.5),
            quality: Quality::Good,
            status_code: 0,
            source_ts_ns: Some(1_700_000_000_000_000_000),
            origin_id: Some("m-1".into()),
        })
    }

    #[test]
    fn payload_roundtrips_through_binary_encoding() {
        let p = reading();
        let bytes = p.encode();
        assert!(
            bytes.len() < 64,
            "compact encoding, got {} bytes",
            bytes.len()
        );
        assert_eq!(Payload::decode(&bytes).unwrap(), p);
        assert_eq!(p.kind(), Kind::Reading);
    }

    #[test]
    fn unsigned_64_bit_values_keep_their_full_range_and_old_values_still_decode() {
        for u in [0, (1u64 << 63) - 1, 1 << 63, u64::MAX] {
            let p = Payload::Reading(Reading {
                value: Value::UInt(u),
                ..match reading() {
                    Payload::Reading(r) => r,
                    _ => unreachable!(),
                }
            });
            assert_eq!(Payload::decode(&p.encode()).unwrap(), p);
            let j = serde_json::to_string(&p).unwrap();
            assert!(j.contains(&format!("{{\"uint\":{u}}}")), "{j}");
            assert_eq!(serde_json::from_str::<Payload>(&j).unwrap(), p);
        }
        // Values written before `UInt` existed keep their tags (it came last).
        let tag = |v: Value| postcard::to_stdvec(&v).unwrap()[0];
        assert_eq!(
            [
                tag(Value::Bool(true)),
                tag(Value::Int(-1)),
                tag(Value::Float(0.5)),
                tag(Value::Text("x".into())),
                tag(Value::UInt(1)),
            ],
            [0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn nan_and_infinities_are_spelled_in_json_and_kept_in_binary() {
        for (x, spelled) in [
            (f64::NAN, r#"{"float":"NaN"}"#),
            (f64::INFINITY, r#"{"float":"Infinity"}"#),
            (f64::NEG_INFINITY, r#"{"float":"-Infinity"}"#),
            (-0.0, r#"{"float":-0.0}"#),
        ] {
            let v = Value::Float(x);
            assert_eq!(serde_json::to_string(&v).unwrap(), spelled);
            let Value::Float(back) = serde_json::from_str::<Value>(spelled).unwrap() else {
                panic!()
            };
            assert_eq!(back.is_nan(), x.is_nan());
            if !x.is_nan() {
                assert_eq!(back.to_bits(), x.to_bits());
            }
            let bin = postcard::to_stdvec(&v).unwrap();
            assert_eq!(bin.len(), 9, "tag and the eight bytes, as before");
            let Value::Float(b) = postcard::from_bytes::<Value>(&bin).unwrap() else {
                panic!()
            };
            assert_eq!(b.to_bits(), x.to_bits(), "bit for bit");
        }
        assert!(serde_json::from_str::<Value>(r#"{"float":"nope"}"#).is_err());
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(Payload::decode(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn quality_follows_status_code_severity_bits() {
        assert_eq!(Quality::from_status_code(0), Quality::Good);
        assert_eq!(Quality::from_status_code(0x4000_0000), Quality::Uncertain);
        assert_eq!(Quality::from_status_code(0x8000_0000), Quality::Bad);
        // BadCommunicationError
        assert_eq!(Quality::from_status_code(0x8005_0000), Quality::Bad);
    }

    #[test]
    fn record_json_names_its_kind() {
        let r = Record {
            device: DeviceId::new("box-1").unwrap(),
            stream: StreamId::new("s").unwrap(),
            seq: 1,
            ts_ns: 5,
            payload: reading(),
            clock: None,
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["payload"]["reading"]["value"]["float"], 181.5);
        assert_eq!(r.kind(), Kind::Reading);
        assert!(
            j.get("clock").is_none(),
            "no note where the time is not in doubt"
        );
    }

    #[test]
    fn a_clock_note_says_suspect_in_json_and_keeps_its_binary_form() {
        let n = ClockNote {
            outside_window: true,
            received_ts_ns: Some(3),
            ..ClockNote::default()
        };
        let j = serde_json::to_value(n).unwrap();
        assert_eq!(j["clock_suspect"], true);
        assert_eq!(serde_json::from_value::<ClockNote>(j).unwrap(), n);
        let bin = postcard::to_stdvec(&n).unwrap();
        assert_eq!(postcard::from_bytes::<ClockNote>(&bin).unwrap(), n);
        assert_eq!(bin.len(), 5, "flag, none, some(3), flag");
    }
}
