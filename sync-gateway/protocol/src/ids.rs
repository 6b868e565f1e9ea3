use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid device or stream id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{kind} id is empty")]
    Empty { kind: &'static str },
    #[error("{kind} id {id:?} is longer than 200 bytes")]
    TooLong { kind: &'static str, id: String },
    #[error("{kind} id {id:?} contains {ch:?}; use letters, digits and . _ - / : only")]
    BadChar {
        kind: &'static str,
        id: String,
        ch: char,
    },
}

fn validate(kind: &'static str, id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if id.len() > 200 {
        return Err(IdError::TooLong {
            kind,
            id: id.to_owned(),
        });
    }
    if let Some(ch) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':')))
    {
        return Err(IdError::BadChar {
            kind,
            id: id.to_owned(),
            ch,
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                validate($kind, &id)?;
                Ok(Self(id))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    DeviceId,
    "device",
    "A device (edge box) id, as in its X.509 identity."
);
id_type!(
    StreamId,
    "stream",
    "A stream id: the unit of ordering and of gap-free sequence numbers."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids_and_rejects_bad_ones() {
        assert!(StreamId::new("opcua/line1").is_ok());
        assert_eq!(StreamId::new(""), Err(IdError::Empty { kind: "stream" }));
        assert!(matches!(
            DeviceId::new("box 1"),
            Err(IdError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            DeviceId::new("x".repeat(201)),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn deserialization_validates() {
        let r: Result<StreamId, _> = serde_json::from_str("\"a b\"");
        assert!(r.is_err());
        let ok: StreamId = serde_json::from_str("\"mqtt/json\"").unwrap();
        assert_eq!(ok.as_str(), "mqtt/json");
    }
}
