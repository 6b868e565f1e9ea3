//! The value of a stored record, shared by the edge journal, the gateway queue and the hub's
//! embedded store: `ts_ns (8 bytes, big-endian) | payload | note`, where the note is optional
//! and each store keeps its own kind of note there (the edge its clock epoch, the gateway and
//! the hub a [`crate::ClockNote`]). Values written before notes existed simply have none.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Payload;

pub fn encode<N: Serialize>(ts_ns: i64, payload: &Payload, note: Option<&N>) -> Vec<u8> {
    let body = payload.encode();
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&ts_ns.to_be_bytes());
    v.extend_from_slice(&body);
    if let Some(n) = note {
        // postcard cannot fail on plain structs of numbers and flags.
        v.extend_from_slice(&postcard::to_stdvec(n).unwrap_or_default());
    }
    v
}

/// The claimed time of a stored value, without decoding its payload.
pub fn ts_of(v: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

/// Splits a stored value; the error says what is wrong with it.
pub fn decode<N: DeserializeOwned>(v: &[u8]) -> Result<(i64, Payload, Option<N>), String> {
    let ts =
        ts_of(v).ok_or_else(|| format!("value is {} bytes, shorter than its header", v.len()))?;
    let (payload, rest): (Payload, &[u8]) = postcard::take_from_bytes(&v[8..])
        .map_err(|e| format!("record payload does not decode: {e}"))?;
    let note = if rest.is_empty() {
        None
    } else {
        let (n, extra): (N, &[u8]) = postcard::take_from_bytes(rest)
            .map_err(|e| format!("record's note does not decode: {e}"))?;
        if !extra.is_empty() {
            return Err(format!(
                "{} bytes left over after the record's note",
                extra.len()
            ));
        }
        Some(n)
    };
    Ok((ts, payload, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClockNote, Event, Severity};

    fn event() -> Payload {
        Payload::Event(Event {
            name: "door".into(),
            severity: Severity::Info,
            message: "open".into(),
        })
    }

    #[test]
    fn values_with_and_without_a_note_roundtrip() {
        let plain = encode::<ClockNote>(-5, &event(), None);
        assert_eq!(
            plain.len(),
            8 + event().encode().len(),
            "no note costs nothing"
        );
        assert_eq!(decode::<ClockNote>(&plain).unwrap(), (-5, event(), None));
        let note = ClockNote {
            untrusted: true,
            corrected_ts_ns: Some(7),
            ..ClockNote::default()
        };
        let v = encode(9, &event(), Some(&note));
        assert_eq!(decode::<ClockNote>(&v).unwrap(), (9, event(), Some(note)));
        assert_eq!(ts_of(&v), Some(9));
    }

    #[test]
    fn damaged_values_are_errors() {
        assert!(
            decode::<ClockNote>(&[0; 5])
                .unwrap_err()
                .contains("shorter")
        );
        let mut v = encode(1, &event(), Some(&ClockNote::default()));
        v.push(0);
        assert!(decode::<ClockNote>(&v).unwrap_err().contains("left over"));
        v.truncate(9);
        assert!(decode::<ClockNote>(&v).is_err());
    }
}
