//! How far a stream's `seq` may step past the receiver's mark. Every hop skips what is at or
//! below its mark as a duplicate, so one record with a huge `seq` (2^64-1 from a stolen
//! certificate, or a corrupt journal) would make every later record of the stream a
//! "duplicate": silent, permanent loss. A journal skips seqs only for records it dropped
//! (retention, shedding), and no journal holds anywhere near 2^32 records of one stream, so
//! a larger step is refused by the first hop that sees it.

use crate::batch::Segment;

/// The largest step past the previous seq (or the receiver's mark) a record may take.
pub const MAX_SEQ_JUMP: u64 = 1 << 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{device}/{stream}: seq {seq} follows {prev}, a step of more than {MAX_SEQ_JUMP}; no journal skips that many records, and accepting it would make every later record of the stream a duplicate"
)]
pub struct SeqJump {
    pub device: String,
    pub stream: String,
    pub prev: u64,
    pub seq: u64,
}

/// Checks the new records of `seg` (those above `mark`, the receiver's high-water mark).
pub fn check_jumps(seg: &Segment, mark: u64) -> Result<(), SeqJump> {
    let mut prev = mark;
    for e in seg.entries.iter().filter(|e| e.seq > mark) {
        // seq > prev here: entries of a segment are increasing (checked when decoded).
        if e.seq.saturating_sub(prev) > MAX_SEQ_JUMP {
            return Err(SeqJump {
                device: seg.device.to_string(),
                stream: seg.stream.to_string(),
                prev,
                seq: e.seq,
            });
        }
        prev = e.seq;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Entry;
    use crate::{DeviceId, Payload, PriorityClass, Quality, Reading, StreamId, Value};

    fn seg(seqs: &[u64]) -> Segment {
        Segment {
            device: DeviceId::new("d").unwrap(),
            stream: StreamId::new("s").unwrap(),
            class: PriorityClass::Telemetry,
            entries: seqs
                .iter()
                .map(|&seq| Entry {
                    seq,
                    ts_ns: 1,
                    payload: Payload::Reading(Reading {
                        tag: "t".into(),
                        value: Value::Float(1.0),
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

    #[test]
    fn ordinary_and_skipping_streams_pass_a_poisoned_one_does_not() {
        assert!(check_jumps(&seg(&[1, 2, 3]), 0).is_ok());
        assert!(check_jumps(&seg(&[5, 1_000_000]), 4).is_ok());
        assert!(check_jumps(&seg(&[MAX_SEQ_JUMP]), 0).is_ok());
        let e = check_jumps(&seg(&[MAX_SEQ_JUMP + 1]), 0).unwrap_err();
        assert_eq!((e.prev, e.seq), (0, MAX_SEQ_JUMP + 1));
        let e = check_jumps(&seg(&[7, u64::MAX]), 6).unwrap_err();
        assert_eq!((e.prev, e.seq), (7, u64::MAX));
        // What is at or below the mark is a duplicate, not a jump.
        assert!(check_jumps(&seg(&[3, 4]), u64::MAX).is_ok());
    }
}
