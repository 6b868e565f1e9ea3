//! Payload codecs, pure: bytes in, record payloads out, with a precise error for bad input.

pub mod json;
pub mod sparkplug;

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
