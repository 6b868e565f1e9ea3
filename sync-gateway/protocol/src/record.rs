use serde::{Deserialize, Serialize};

use crate::{DeviceId, StreamId};

/// One journaled fact. `(device, stream, seq)` is its idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub device: DeviceId,
    pub stream: StreamId,
    /// Gap-free per (device, stream), starting at 1, assigned at durable append.
    pub seq: u64,
    /// When the edge observed it, UTC nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    pub payload: Payload,
}

impl Record {
    pub fn kind(&self) -> Kind {
        self.payload.kind()
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
    Float(f64),
    Text(String),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
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
        };
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["payload"]["reading"]["value"]["float"], 181.5);
        assert_eq!(r.kind(), Kind::Reading);
    }
}
