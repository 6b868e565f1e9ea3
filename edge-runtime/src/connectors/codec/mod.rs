//! Payload codecs, pure: bytes in, record payloads out, with a precise error for bad input.

pub mod json;
pub mod sparkplug;

use foodflow_protocol::{Event, Payload, Severity};

/// Why a value a source sent was not stored as a reading. Never silent: each is counted per
/// source and reason (`foodflow_ingest_values_refused_total`), logged (rate-limited) and
/// written to the journal as an event naming the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// A kind of value the edge does not store yet (arrays, Bytes, DataSet, …).
    UnsupportedType,
    /// A Sparkplug metric by an alias no birth defined.
    UnknownAlias,
    /// A Sparkplug metric with neither name nor alias.
    NoName,
    /// A Sparkplug metric whose datatype neither its birth nor the message gives.
    NoDatatype,
}

impl Refusal {
    pub const ALL: [Refusal; 4] = [
        Refusal::UnsupportedType,
        Refusal::UnknownAlias,
        Refusal::NoName,
        Refusal::NoDatatype,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnsupportedType => "unsupported_type",
            Refusal::UnknownAlias => "unknown_alias",
            Refusal::NoName => "no_name",
            Refusal::NoDatatype => "no_datatype",
        }
    }
}

/// One value refused: which, why, and in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub what: String,
    pub why: Refusal,
    pub detail: String,
}

/// Values listed by name in one refusal event; the rest are counted.
const REFUSED_LISTED: usize = 20;

/// The journal event for values refused from one message or notification batch.
pub fn refused_event(source: &str, refused: &[Refused]) -> Payload {
    let mut listed: Vec<String> = refused
        .iter()
        .take(REFUSED_LISTED)
        .map(|r| format!("{}: {}", r.what, r.detail))
        .collect();
    if refused.len() > REFUSED_LISTED {
        listed.push(format!("and {} more", refused.len() - REFUSED_LISTED));
    }
    Payload::Event(Event {
        name: "values_refused".into(),
        severity: Severity::Warning,
        message: format!(
            "{source}: {} value(s) not stored: {}",
            refused.len(),
            listed.join("; ")
        ),
    })
}

/// Why one message could not be decoded. The message is counted and skipped; the stream goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error(
        "payload is not valid JSON ({0}); the publisher must send one JSON object or an array of them"
    )]
    NotJson(String),
    #[error(
        "no {what} at JSON pointer {pointer:?} in the payload; fix the publisher or the profile's json.{what}_path"
    )]
    Missing { what: &'static str, pointer: String },
    #[error("{what} at {pointer:?} is {found}, expected {expected}")]
    WrongType {
        what: &'static str,
        pointer: String,
        found: String,
        expected: &'static str,
    },
    #[error("payload is not a Sparkplug B protobuf message: {0}")]
    NotSparkplug(String),
    #[error("topic {0:?} is not a Sparkplug B topic (spBv1.0/GROUP/TYPE/NODE[/DEVICE])")]
    BadTopic(String),
    #[error(
        "Sparkplug metric {0} has no name and an alias the last birth did not define; a rebirth was requested"
    )]
    UnknownAlias(String),
    #[error("payload is empty")]
    Empty,
}
