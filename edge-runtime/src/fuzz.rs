//! Fuzz target bodies (run by `edge-runtime/fuzz` with cargo-fuzz and by the smoke tests over
//! the seed corpus): whatever arrives from a broker or sits in a profile file gives records or
//! an error, never a panic.

use std::path::Path;

use crate::connectors::codec::{json, sparkplug};
use crate::profile::{JsonCodecConfig, TimestampFormat};

/// Device profile text: parsed and validated, or refused with problems that name a place.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = crate::profile::parse(Path::new("fuzz.yaml"), text) {
        assert!(!e.problems.is_empty(), "a refusal says why");
    }
}

/// One MQTT JSON message under each timestamp format (the first byte picks it); every reading
/// decoded has a tag.
pub fn json_codec(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let cfg = JsonCodecConfig {
        tag_path: Some("/tag".into()),
        value_path: "/value".into(),
        timestamp_path: Some("/ts".into()),
        timestamp_format: match pick % 3 {
            0 => TimestampFormat::UnixMs,
            1 => TimestampFormat::UnixNs,
            _ => TimestampFormat::Rfc3339,
        },
        quality_path: Some("/q".into()),
        id_path: Some("/id".into()),
    };
    if let Ok(records) = json::decode("plant/line1/json", body, &cfg, 1) {
        for (_, p) in records {
            if let foodflow_protocol::Payload::Reading(r) = p {
                assert!(!r.tag.is_empty(), "a reading without a tag");
            }
        }
    }
}

/// Sparkplug B message types a host sees, picked by a message's first byte.
const TOPICS: [&str; 8] = [
    "spBv1.0/plant/NBIRTH/node-1",
    "spBv1.0/plant/NDATA/node-1",
    "spBv1.0/plant/DBIRTH/node-1/filler",
    "spBv1.0/plant/DDATA/node-1/filler",
    "spBv1.0/plant/DDEATH/node-1/filler",
    "spBv1.0/plant/NDEATH/node-1",
    "spBv1.0/plant/NCMD/node-1",
    "spBv1.0/STATE/host",
];

/// A session of Sparkplug messages through one host (births, aliases, seq tracking, deaths):
/// the input is a run of `[type byte][length: u16 LE][payload]`.
pub fn sparkplug(data: &[u8]) {
    let mut host = sparkplug::Host::new();
    let mut rest = data;
    let mut now = 0i64;
    while let [kind, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        now += 1_000_000;
        let topic = TOPICS[usize::from(*kind) % TOPICS.len()];
        let _ = host.handle(topic, payload, now);
        rest = next;
    }
}
